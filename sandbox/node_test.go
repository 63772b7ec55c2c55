package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestControlPlaneOnlyForKind(t *testing.T) {
	if _, err := (&Sandbox{Provider: ProviderExisting}).ControlPlane(); !errors.Is(err, ErrNoNode) {
		t.Errorf("an existing cluster has a node: %v", err)
	}
	n, err := (&Sandbox{Provider: ProviderKind, Name: "imagelab", Runtime: "podman"}).ControlPlane()
	if err != nil || n.Container != "imagelab-control-plane" || n.runtime.bin != "podman" {
		t.Errorf("node %+v, %v", n, err)
	}
}

// TestKindNodeCommands runs the node's operations against a stand-in
// docker that executes "docker exec" here, and checks what it was asked.
func TestKindNodeCommands(t *testing.T) {
	bin, _ := filepath.Abs("testdata/execdocker")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	log := filepath.Join(t.TempDir(), "calls")
	t.Setenv("EXECDOCKER_LOG", log)
	n, err := (&Sandbox{Provider: ProviderKind, Name: "lab"}).ControlPlane()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "kube-apiserver.yaml")
	if err := n.WriteFile(ctx, file, []byte("a: '$x'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := n.ReadFile(ctx, file)
	if err != nil || string(got) != "a: '$x'\n" {
		t.Errorf("read back %q, %v", got, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	if _, err := n.ReadFile(ctx, file+".missing"); err == nil || !strings.Contains(err.Error(), "lab-control-plane") {
		t.Errorf("a missing file: %v", err)
	}
	out, err := n.Run(ctx, "sh", "-c", "echo out; echo err >&2")
	if err != nil || !strings.Contains(out, "out") || !strings.Contains(out, "err") {
		t.Errorf("run: %q, %v", out, err)
	}
	calls, _ := os.ReadFile(log)
	for _, want := range []string{"exec -i lab-control-plane sh -c cat > ", "exec -i lab-control-plane cat -- " + file, "exec lab-control-plane sh -c echo out"} {
		if !strings.Contains(string(calls), want) {
			t.Errorf("no call %q in:\n%s", want, calls)
		}
	}
	sh := n.ShellCommand()
	if strings.Join(sh.Args[:4], " ") != "docker exec -it -e" || !strings.Contains(strings.Join(sh.Args, " "), PromptMarker) {
		t.Errorf("shell %v", sh.Args)
	}
}
