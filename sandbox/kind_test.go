package sandbox

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"
)

func TestKindConfig(t *testing.T) {
	out, err := yaml.Marshal(KindConfig("imagelab", "kindest/node:v1.37.0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"apiVersion: kind.x-k8s.io/v1alpha4",
		"kind: Cluster",
		"name: imagelab",
		`[plugins."io.containerd.grpc.v1.cri".registry]`,
		`config_path = "/etc/containerd/certs.d"`,
		"image: kindest/node:v1.37.0",
		"role: control-plane",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kind config lacks %q:\n%s", want, out)
		}
	}
	// No port mappings: the registry is published by its own container.
	if strings.Contains(string(out), "extraPortMappings") {
		t.Errorf("unexpected port mappings:\n%s", out)
	}
}

func TestHostsToml(t *testing.T) {
	if got, want := HostsTomlPath("localhost:5055"), "/etc/containerd/certs.d/localhost:5055/hosts.toml"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
	got := HostsToml("imagelab-registry")
	if !strings.Contains(got, `[host."http://imagelab-registry:5000"]`) || !strings.Contains(got, `"pull", "resolve"`) {
		t.Errorf("hosts.toml:\n%s", got)
	}
}

func TestRegistryRunArgs(t *testing.T) {
	args := registryRunArgs("imagelab", "0123abcd", "feed", "registry:3", "/state/registry/htpasswd", 5055)
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-p 127.0.0.1:5055:5000", // loopback only
		"--name imagelab-registry",
		"--label app.kubernetes.io/managed-by=imagelab",
		"--label imagelab.dev/sandbox=imagelab",
		"--label imagelab.dev/sandbox-id=0123abcd",
		"--label imagelab.dev/state=feed",
		"-v /state/registry/htpasswd:/auth/htpasswd:ro",
		"REGISTRY_AUTH=htpasswd",
		"REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
		"REGISTRY_STORAGE_DELETE_ENABLED=true",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("docker run args lack %q: %s", want, joined)
		}
	}
	if args[len(args)-1] != "registry:3" {
		t.Errorf("image must come last: %v", args)
	}
}

func TestHtpasswdIsBcrypt(t *testing.T) {
	line, err := Htpasswd("learner", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	user, hash, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok || user != "learner" || !strings.HasPrefix(hash, "$2") {
		t.Fatalf("line %q", line)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")) != nil {
		t.Error("hash does not match the password")
	}
}

func TestRandomPassword(t *testing.T) {
	a, _ := RandomPassword()
	b, _ := RandomPassword()
	if len(a) != 20 || a == b || strings.ContainsAny(a, `$'"\ `) {
		t.Errorf("passwords %q %q", a, b)
	}
}

func TestRegistryConfigMap(t *testing.T) {
	cm := RegistryConfigMap("localhost:5055", "imagelab")
	if cm.Namespace != "kube-public" || cm.Name != "local-registry-hosting" || cm.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("meta %+v", cm.ObjectMeta)
	}
	if !strings.Contains(cm.Data["localRegistryHosting.v1"], `host: "localhost:5055"`) {
		t.Errorf("data %q", cm.Data)
	}
}

func TestClassifyRuntimeError(t *testing.T) {
	tests := []struct {
		stderr string
		err    error
		want   error
	}{
		{"", exec.ErrNotFound, ErrNoDocker},
		{"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", errors.New("exit 1"), ErrDockerDown},
		{`error during connect: Get "http://%2F%2F.%2Fpipe%2FdockerDesktopLinuxEngine/v1.47/version": open //./pipe/dockerDesktopLinuxEngine: The system cannot find the file specified.`, errors.New("exit 1"), ErrDockerDown},
		{`context "colima": context not found: open /Users/me/.docker/contexts/meta/x/meta.json: no such file or directory`, errors.New("exit 1"), ErrDockerContext},
		{"docker: Error response from daemon: driver failed programming external connectivity on endpoint imagelab-registry: Bind for 127.0.0.1:5055 failed: port is already allocated.", errors.New("exit 125"), ErrPortTaken},
		{`Unable to find image 'registry:3' locally
docker: Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host.`, errors.New("exit 125"), ErrImagePull},
		{"docker: Error response from daemon: pull access denied for nope, repository does not exist", errors.New("exit 125"), ErrImagePull},
	}
	for _, tt := range tests {
		got := classifyRuntimeError("docker run", tt.stderr, tt.err)
		if !errors.Is(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.stderr, got, tt.want)
		}
	}
	if got := classifyRuntimeError("docker x", "something else", errors.New("exit 1")); slices.ContainsFunc([]error{ErrNoDocker, ErrDockerDown, ErrImagePull}, func(e error) bool { return errors.Is(got, e) }) {
		t.Errorf("unknown failure classified: %v", got)
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	got := strings.Join(redact([]string{"-e", "REGISTRY_PASSWORD=hunter2", "--password=x"}), " ")
	if strings.Contains(got, "hunter2") || strings.Contains(got, "=x") {
		t.Errorf("redacted: %s", got)
	}
}
