package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// localNode is a Node whose files are this machine's, under a temp dir.
type localNode struct{ root string }

func (n localNode) Name() string { return "local" }
func (n localNode) ReadFile(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(name)
}
func (n localNode) WriteFile(_ context.Context, name string, data []byte, perm os.FileMode) error {
	return os.WriteFile(name, data, perm)
}
func (n localNode) Run(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}
func (n localNode) RestartKubelet(context.Context) error { return nil }
func (n localNode) Files() NodeFiles {
	return NodeFiles{APIServerManifest: filepath.Join(n.root, "kube-apiserver.yaml"), ImagePolicy: filepath.Join(n.root, "imagepolicy")}
}

// The manifest of a kubeadm API server, as far as the webhook goes.
const webhookManifest = `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
spec:
  containers:
  - command:
    - kube-apiserver
    - --enable-admission-plugins=NodeRestriction
    name: kube-apiserver
    volumeMounts:
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki
    name: k8s-certs
`

// What the check says when an outside image gets in: each piece the
// manifest lacks, named — and the sed of the lesson's solution supplies
// them all.
func TestImagePolicyWebhookNamesWhatIsMissing(t *testing.T) {
	root := t.TempDir()
	n := localNode{root}
	f := n.Files()
	env := &Env{Node: n}
	cfg := filepath.Join(f.ImagePolicy, "admission.yaml")
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	problem := func() string {
		return readWebhookSetup(context.Background(), env).notConsulted(env).Problem
	}

	write(f.APIServerManifest, webhookManifest)
	got := problem()
	for _, want := range []string{"ImagePolicyWebhook is not in --enable-admission-plugins", "no --admission-control-config-file"} {
		if !strings.Contains(got, want) {
			t.Errorf("untouched manifest: %q lacks %q", got, want)
		}
	}

	edited := strings.Replace(webhookManifest, "    - --enable-admission-plugins=NodeRestriction\n",
		"    - --enable-admission-plugins=NodeRestriction,ImagePolicyWebhook\n    - --admission-control-config-file="+cfg+"\n", 1)
	write(f.APIServerManifest, edited)
	if got := problem(); !strings.Contains(got, "cannot be read") || strings.Contains(got, "enable-admission-plugins") {
		t.Errorf("flags without the file: %q", got)
	}
	write(cfg, "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: EventRateLimit\n  path: x.yaml\n")
	if got := problem(); !strings.Contains(got, "no ImagePolicyWebhook entry") {
		t.Errorf("a config without the plugin: %q", got)
	}
	write(cfg, "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: ImagePolicyWebhook\n  path: imagepolicy.yaml\n")
	write(filepath.Join(f.ImagePolicy, "imagepolicy.yaml"), "imagePolicy:\n  kubeConfigFile: kubeconfig.yaml\n  defaultAllow: false\n")
	if got := problem(); !strings.Contains(got, "no volumeMount brings") {
		t.Errorf("a config not mounted: %q", got)
	}
	if s := readWebhookSetup(context.Background(), env); s.defaultAllow == nil || *s.defaultAllow {
		t.Errorf("defaultAllow read through path: %v", s.defaultAllow)
	}
	mounted := strings.Replace(edited, "    volumeMounts:\n", "    volumeMounts:\n    - {mountPath: "+f.ImagePolicy+", name: imagepolicy, readOnly: true}\n", 1)
	write(f.APIServerManifest, mounted)
	if got := problem(); !strings.Contains(got, "has the kubelet restarted the API server") {
		t.Errorf("a complete manifest: %q", got)
	}

	write(f.APIServerManifest, "spec:\n\t- bad")
	if got := problem(); strings.Contains(got, " In ") {
		t.Errorf("a manifest that does not parse is not read for pieces: %q", got)
	}
}

// fakeBackend is a PolicyBackend that hands out fixed files.
type fakeBackend struct{ files map[string][]byte }

func (b fakeBackend) Up(context.Context) error          { return nil }
func (b fakeBackend) Down(context.Context) error        { return nil }
func (b fakeBackend) Files() (map[string][]byte, error) { return b.files, nil }
func (b fakeBackend) URL() string                       { return "https://127.0.0.1:1/imagereview" }

// Setup puts the backend's files on the node; reset puts the folder back
// as given: the learner's admission configuration gone, the files fresh.
func TestImagePolicyBackendSetupAndReset(t *testing.T) {
	n := localNode{t.TempDir()}
	dir := n.Files().ImagePolicy
	env := &Env{Node: n, PolicyBackend: fakeBackend{files: map[string][]byte{PolicyKubeconfig: []byte("kubeconfig"), "ca.crt": []byte("ca")}}}
	if err := ImagePolicyBackend.Create(context.Background(), env, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{PolicyKubeconfig: "kubeconfig", "ca.crt": "ca"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s after setup: %q, %v", name, got, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "admission.yaml"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("edited"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ImagePolicyBackend.Reset(context.Background(), env, "imagelab"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "admission.yaml")); !os.IsNotExist(err) {
		t.Errorf("the learner's admission.yaml survived the reset: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); string(got) != "ca" {
		t.Errorf("ca.crt after reset: %q", got)
	}
}
