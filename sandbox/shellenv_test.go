package sandbox

import (
	"slices"
	"strings"
	"testing"
)

// A docker login with Podman, or with podman-docker's docker, must land in
// the sandbox's docker config file, not in $XDG_RUNTIME_DIR/containers/auth.json
// or a REGISTRY_AUTH_FILE of the learner's.
func TestShellEnvSendsPodmanLoginsToTheSandbox(t *testing.T) {
	sb := &Sandbox{Name: "imagelab", Kubeconfig: "/state/kubeconfig", DockerConfigDir: "/state/docker", WorkDir: t.TempDir()}
	environ := []string{"HOME=" + t.TempDir(), "XDG_RUNTIME_DIR=/run/user/1000", "REGISTRY_AUTH_FILE=/home/me/auth.json"}
	const want = "REGISTRY_AUTH_FILE=/state/docker/config.json"
	if env := sb.ShellEnv(environ); !slices.Contains(env, want) {
		t.Errorf("%v lacks %s", env, want)
	}
	// In the shell, the sandbox's value comes last, so it wins.
	sh, err := sb.ShellCommand(t.TempDir(), environ)
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	for _, kv := range sh.Env {
		if strings.HasPrefix(kv, "REGISTRY_AUTH_FILE=") {
			last = kv
		}
	}
	if last != want {
		t.Errorf("the shell's REGISTRY_AUTH_FILE is %q, want %q", last, want)
	}
}
