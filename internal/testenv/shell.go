package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Shell runs a bash script the way a learner types it: in dir, with env
// added to the test's environment and the test binaries (the real
// kubectl) first on PATH. It returns the combined output.
func Shell(ctx context.Context, dir string, env []string, script string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "PATH="+BinDir()+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
