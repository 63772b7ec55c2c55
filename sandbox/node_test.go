package sandbox

import (
	"context"
	"errors"
	"fmt"
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

// TestHostAddress: how the node reaches this machine, on each engine, with
// a stand-in docker that answers as that engine's node would.
func TestHostAddress(t *testing.T) {
	local, err := localIPs()
	if err != nil {
		t.Fatal(err)
	}
	if !local["127.0.0.1"] {
		t.Fatalf("this machine has no 127.0.0.1 among %v: the cases below need it", local)
	}
	for _, tc := range []struct {
		name         string
		getent       map[string]string // name → getent ahostsv4 output
		gateway      string
		dial, listen string
		wantErr      string
	}{
		{name: "Docker Desktop", getent: map[string]string{"host.docker.internal": "192.168.65.254  STREAM host.docker.internal\n192.168.65.254  DGRAM\n"},
			dial: "host.docker.internal", listen: "127.0.0.1"},
		{name: "Podman", getent: map[string]string{"host.containers.internal": "127.0.0.1  STREAM host.containers.internal\n"},
			dial: "host.containers.internal", listen: "127.0.0.1"},
		{name: "Docker on Linux", gateway: "127.0.0.1 ", dial: "127.0.0.1", listen: "127.0.0.1"},
		{name: "rootless Docker", gateway: "172.18.0.1 fc00:f853:ccd:e793::1 ", wantErr: "rootless Docker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script := "#!/bin/sh\ncase \"$*\" in\n"
			for name, out := range tc.getent {
				script += fmt.Sprintf("  *'getent ahostsv4 %s') printf '%%s' '%s' ;;\n", name, out)
			}
			script += "  *getent*) exit 2 ;;\n"
			script += fmt.Sprintf("  'network inspect kind '*) printf '%%s\\n' '%s' ;;\n", tc.gateway)
			script += "  *) echo \"unexpected: $*\" >&2; exit 1 ;;\nesac\n"
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			t.Setenv("KIND_EXPERIMENTAL_DOCKER_NETWORK", "")
			n, _ := (&Sandbox{Provider: ProviderKind, Name: "lab"}).ControlPlane()
			dial, listen, err := n.HostAddress(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %s, %s, %v; want an error saying %q", dial, listen, err, tc.wantErr)
				}
				return
			}
			if err != nil || dial != tc.dial || listen != tc.listen {
				t.Errorf("got %q, %q, %v; want %q, %q", dial, listen, err, tc.dial, tc.listen)
			}
		})
	}
}
