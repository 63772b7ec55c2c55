package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestShellEnvKeepsTheLearnersDockerContext(t *testing.T) {
	home := t.TempDir()
	dockerDir := filepath.Join(home, ".docker")
	sum := sha256.Sum256([]byte("colima"))
	meta := filepath.Join(dockerDir, "contexts", "meta", hex.EncodeToString(sum[:]))
	must(t, os.MkdirAll(meta, 0o700))
	must(t, os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(`{"currentContext": "colima"}`), 0o600))
	must(t, os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name": "colima", "Endpoints": {"docker": {"Host": "unix:///home/me/.colima/docker.sock"}}}`), 0o600))

	sb := &Sandbox{Name: "imagelab", Kubeconfig: "/state/kubeconfig", DockerConfigDir: "/state/docker"}
	env := sb.ShellEnv([]string{"HOME=" + home})
	for _, want := range []string{"KUBECONFIG=/state/kubeconfig", "DOCKER_CONFIG=/state/docker", "DOCKER_HOST=unix:///home/me/.colima/docker.sock"} {
		if !slices.Contains(env, want) {
			t.Errorf("%v lacks %s", env, want)
		}
	}
	// A DOCKER_HOST the learner set wins; nothing is added.
	env = sb.ShellEnv([]string{"HOME=" + home, "DOCKER_HOST=tcp://1.2.3.4:2375"})
	for _, kv := range env {
		if len(kv) > 12 && kv[:12] == "DOCKER_HOST=" {
			t.Errorf("DOCKER_HOST overridden: %s", kv)
		}
	}
}

func TestWriteKubeconfigTakesOneContextAndLeavesTheSourceAlone(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "config")
	const source = `apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster: {server: "https://prod.example.com"}
- name: lab
  cluster: {server: "https://lab.example.com"}
users:
- name: admin
  user: {token: secret-prod}
- name: lab-user
  user: {token: secret-lab}
contexts:
- name: prod
  context: {cluster: prod, user: admin}
- name: lab
  context: {cluster: lab, user: lab-user}
`
	must(t, os.WriteFile(src, []byte(source), 0o600))
	before, _ := os.ReadFile(src)
	sb := &Sandbox{Kubeconfig: filepath.Join(dir, "state", "kubeconfig"), Namespace: "ws-ana"}
	must(t, writeKubeconfig(ExistingOptions{Kubeconfig: src, Context: "lab"}, sb))
	after, _ := os.ReadFile(src)
	if string(before) != string(after) {
		t.Error("the source kubeconfig changed")
	}
	cfg, err := clientcmd.LoadFromFile(sb.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Contexts) != 1 || cfg.CurrentContext != "lab" || cfg.Contexts["lab"].Namespace != "ws-ana" {
		t.Errorf("contexts %+v current %q", cfg.Contexts, cfg.CurrentContext)
	}
	if _, ok := cfg.AuthInfos["admin"]; ok {
		t.Error("the other context's credentials were copied")
	}
}

func TestExistingRefusesAnUnnamedCluster(t *testing.T) {
	_, err := describeExisting(ExistingOptions{Registry: Registry{Host: "r:5000"}, StateDir: t.TempDir()})
	if err != ErrUnnamedCluster {
		t.Errorf("err = %v, want ErrUnnamedCluster", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestUseExistingRefusesOverAKindSandbox(t *testing.T) {
	dir := t.TempDir()
	kind := &Sandbox{Provider: ProviderKind, Name: "imagelab", ID: NewID()}
	must(t, kind.Save(dir))
	_, err := UseExisting(t.Context(), ExistingOptions{Kubeconfig: "/nonexistent", Registry: Registry{Host: "r:1"}, StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "imagelab down first") {
		t.Errorf("err = %v", err)
	}
	if again, _ := Load(dir); again == nil || again.Provider != ProviderKind {
		t.Error("the kind sandbox's record was replaced")
	}
}

func TestOwnership(t *testing.T) {
	a, b := &Sandbox{ID: NewID()}, &Sandbox{ID: NewID()}
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelSandboxID: a.ID}
	if !a.Owns(labels) || b.Owns(labels) || (&Sandbox{}).Owns(map[string]string{LabelManagedBy: ManagedBy}) {
		t.Error("ownership is not decided by the sandbox's ID")
	}
}
