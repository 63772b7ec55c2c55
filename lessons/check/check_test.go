package check

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUnreachableSaysWhich(t *testing.T) {
	client, err := kubernetes.NewForConfig(&rest.Config{Host: "https://" + closedAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := "localhost:" + strings.Split(closedAddr(t), ":")[1]
	env := &Env{Kube: client, Namespace: "x", Registry: Registry{Host: reg, User: "u", Password: "p"}, DockerConfigDir: t.TempDir()}

	_, err = Run(context.Background(), "secret.pull", env, Request{Params: map[string]string{"secret": "regcred"}})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "API server") || !strings.Contains(err.Error(), "imagelab status") {
		t.Errorf("dead API server: %v", err)
	}
	_, err = Run(context.Background(), "registry.image", env, Request{Params: map[string]string{"repository": "apps/x", "tag": "1"}})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "registry "+reg) {
		t.Errorf("dead registry: %v", err)
	}
}

func TestPanickingCheckIsAnError(t *testing.T) {
	Register(Definition{Name: "test.panics", Run: func(context.Context, *Env, Request) (Result, error) { panic("boom") }})
	defer Unregister("test.panics")
	_, err := Run(context.Background(), "test.panics", &Env{}, Request{})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v", err)
	}
}

func TestNeedsAreNamed(t *testing.T) {
	_, err := Run(context.Background(), "pod.pulled", &Env{}, Request{})
	if !errors.Is(err, ErrNoSandbox) || !strings.Contains(err.Error(), "a cluster and a registry") {
		t.Errorf("err = %v", err)
	}
}

func TestBrokenManifestIsNamed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pod.yaml"), []byte("kind: Pod\nspec:\n  containers:\n  - name: a\n   image: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := &Env{WorkDir: dir}
	found := explainManifests(env, manifestNotes(env, nil), "internal-app", nil)
	if len(found) != 1 || found[0].Code != "manifest-invalid" || !strings.Contains(found[0].Problem, "pod.yaml") {
		t.Errorf("findings %+v", found)
	}
}
