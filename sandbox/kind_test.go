package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"
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

func TestRegistryCreateArgs(t *testing.T) {
	args := registryCreateArgs("imagelab", "0123abcd", "feed", "registry:3", 5055)
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"create --restart=always",
		"-p 127.0.0.1:5055:5000", // loopback only
		"--name imagelab-registry",
		"--label app.kubernetes.io/managed-by=imagelab",
		"--label imagelab.dev/sandbox=imagelab",
		"--label imagelab.dev/sandbox-id=0123abcd",
		"--label imagelab.dev/state=feed",
		"REGISTRY_AUTH=htpasswd",
		"REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
		"REGISTRY_STORAGE_DELETE_ENABLED=true",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("docker create args lack %q: %s", want, joined)
		}
	}
	// No bind mount: the htpasswd file is copied in (registryAuthTar).
	if slices.Contains(args, "-v") || slices.Contains(args, "--mount") || strings.Contains(joined, ":/auth") {
		t.Errorf("the registry container bind-mounts a file: %s", joined)
	}
	if args[len(args)-1] != "registry:3" {
		t.Errorf("image must come last: %v", args)
	}
}

func TestRegistryAuthTar(t *testing.T) {
	data, err := registryAuthTar("learner:$2a$04$hash\n")
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "auth/htpasswd" {
			body, _ := io.ReadAll(tr)
			if string(body) != "learner:$2a$04$hash\n" || h.Mode&0o044 != 0o044 {
				t.Errorf("htpasswd %q mode %o", body, h.Mode)
			}
		}
	}
	if !slices.Equal(names, []string{"auth/", "auth/htpasswd"}) {
		t.Errorf("tar holds %v", names)
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
		{"Error response from daemon: Ports are not available: exposing port TCP 127.0.0.1:5001 -> 0.0.0.0:0: listen tcp 127.0.0.1:5001: bind: An attempt was made to access a socket in a way forbidden by its access permissions.", errors.New("exit 1"), ErrPortTaken},
		{"Error response from daemon: Ports are not available: exposing port TCP 127.0.0.1:5001 -> 127.0.0.1:0: listen tcp4 127.0.0.1:5001: bind: address already in use", errors.New("exit 1"), ErrPortTaken},
		{"Error: rootlessport listen tcp 127.0.0.1:5001: bind: address already in use", errors.New("exit 126"), ErrPortTaken},
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

// TestPullErrorSaysWhy: a failed pull names the image, the flag that
// names another, and the engine's line that says why (podman prints
// "Trying to pull …" first), once; the whole command stays out of it.
func TestPullErrorSaysWhy(t *testing.T) {
	stderr := `Trying to pull docker.io/library/registry:3...
Error: initializing source docker://registry:3: pinging container registry registry-1.docker.io: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host`
	runErr := classifyRuntimeError("podman create --restart=always --name imagelab-registry -p 127.0.0.1:5001:5000 docker.io/library/registry:3", stderr, errors.New("exit 125"))
	var re *RuntimeError
	if !errors.As(runErr, &re) || re.Command != "podman create" || !strings.HasPrefix(re.Said, "Error: initializing source") {
		t.Fatalf("classified as %#v", runErr)
	}
	err := fmt.Errorf("starting the registry: %w", pullError("docker.io/library/registry:3", "--registry-image", runErr))
	msg := err.Error()
	if !errors.Is(err, ErrImagePull) || strings.Count(msg, "could not be pulled") != 1 || !strings.Contains(msg, "--registry-image") ||
		!strings.Contains(msg, "no such host") || strings.Contains(msg, "Trying to pull") || strings.Contains(msg, "--restart") {
		t.Errorf("pull error: %s", msg)
	}
	// kind's own error (no RuntimeError inside): its last line.
	kindErr := errors.New("failed to pull image \"imagelab.invalid/node:v0\": command \"docker pull imagelab.invalid/node:v0\" failed with error: exit status 1")
	if pe := pullError("imagelab.invalid/node:v0", "--node-image", kindErr); pe.Said != kindErr.Error() || !strings.Contains(pe.Error(), "--node-image") {
		t.Errorf("kind's pull error: %s", pe)
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	got := strings.Join(redact([]string{"-e", "REGISTRY_PASSWORD=hunter2", "--password=x"}), " ")
	if strings.Contains(got, "hunter2") || strings.Contains(got, "=x") {
		t.Errorf("redacted: %s", got)
	}
}

// TestRegistryPortRefusedByTheHostIsRetried: Docker Desktop on Windows
// refuses ports Windows reserved, which look free from WSL2. Each refused
// port is taken as taken, and the next attempt uses another one.
func TestRegistryPortRefusedByTheHostIsRetried(t *testing.T) {
	calls := fakeEngine(t, "docker-desktop-windows") // refuses 5001-5003
	opts := KindOptions{Name: "imagelab-port", StateDir: t.TempDir()}
	opts.defaults()
	var notes []string
	opts.Report = func(e Event) { notes = append(notes, e.Message) }
	s := &kindSession{opts: opts, rt: containerRuntime{bin: "docker"}}
	sb := &Sandbox{Name: opts.Name, ID: NewID(), Registry: Registry{User: RegistryUser, Container: registryContainerName(opts.Name)}}
	if err := s.runRegistry(t.Context(), sb, nil); err != nil {
		t.Fatalf("%v\ncalls:\n%s", err, calls)
	}
	var ports []string
	for _, c := range calls.calls("docker create") {
		for _, f := range strings.Fields(c) {
			if strings.HasPrefix(f, "127.0.0.1:") {
				ports = append(ports, strings.Split(f, ":")[1])
			}
		}
	}
	if len(ports) < 2 || len(ports) != len(slices.Compact(slices.Sorted(slices.Values(ports)))) {
		t.Errorf("ports tried %v: want each refused one once, then another\ncalls:\n%s", ports, calls)
	}
	if host := sb.Registry.Host; host == "localhost:5001" || host == "localhost:5002" || host == "localhost:5003" {
		t.Errorf("registry on refused port: %s", host)
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "not available") }) {
		t.Errorf("no note about the refused port: %q", notes)
	}
}

func TestFreePortSkipsTriedPorts(t *testing.T) {
	tried := map[int]bool{}
	for range shortPortTries + 2 {
		p, err := freePort(tried)
		if err != nil {
			t.Fatal(err)
		}
		if tried[p] {
			t.Fatalf("port %d offered twice (tried %v)", p, tried)
		}
		tried[p] = true
	}
}

// TestRegistryStartFailureQuotesItsLogs: a registry that cannot start
// restarts forever; up says so at once, with the container's own words,
// instead of waiting for a timeout.
func TestRegistryStartFailureQuotesItsLogs(t *testing.T) {
	calls := fakeEngine(t, "docker-desktop-mac")
	t.Setenv("FAKE_RESTARTING", "1")
	t.Setenv("FAKE_LOGS", `time="2025-01-01T00:00:00Z" level=fatal msg="configuring application: auth: open /auth/htpasswd: permission denied"`)
	opts := KindOptions{Name: "imagelab-logs", StateDir: t.TempDir()}
	opts.defaults()
	s := &kindSession{opts: opts, rt: containerRuntime{bin: "docker"}}
	pw, _ := RandomPassword()
	sb := &Sandbox{Name: opts.Name, ID: NewID(), Registry: Registry{User: RegistryUser, Password: pw, Container: registryContainerName(opts.Name)}}
	start := time.Now()
	err := s.startRegistry(t.Context(), sb)
	if err == nil || !strings.Contains(err.Error(), "open /auth/htpasswd: permission denied") || !strings.Contains(err.Error(), "keeps stopping") {
		t.Fatalf("err = %v\ncalls:\n%s", err, calls)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s: a restarting registry should fail at once", took)
	}
	if len(calls.calls("docker cp - imagelab-logs-registry:/")) != 1 || len(calls.calls("docker start")) != 1 {
		t.Errorf("want create, cp, start:\n%s", calls)
	}
}

// TestRuntimeChoice: which runtime makes the sandbox, on each platform's
// CLI (stand-ins under testdata/engines print what the real ones print).
func TestRuntimeChoice(t *testing.T) {
	tests := []struct {
		name, platform, env, prefer string
		want, arch                  string
		wantErr                     error
		errHas, noteHas             string
	}{
		{name: "Docker Desktop", platform: "docker-desktop-mac", want: "docker", arch: "arm64"},
		{name: "podman-docker is Podman", platform: "podman-docker", want: "podman", arch: "amd64"},
		{name: "--runtime docker with podman-docker", platform: "podman-docker", prefer: "docker", want: "podman", noteHas: "podman-docker"},
		{name: "Docker stopped, Podman running", platform: "docker-stopped-podman-running", want: "podman", arch: "arm64", noteHas: "docker does not answer"},
		{name: "Docker named but stopped", platform: "docker-stopped-podman-running", prefer: "docker", wantErr: ErrDockerDown},
		{name: "Docker Desktop on Windows not started", platform: "docker-desktop-windows-stopped", wantErr: ErrDockerDown, errHas: "start Docker Desktop"},
		{name: "both: kind's order, docker first", platform: "docker-and-podman", want: "docker"},
		{name: "KIND_EXPERIMENTAL_PROVIDER=podman", platform: "docker-and-podman", env: "podman", want: "podman", noteHas: ProviderEnv},
		{name: "KIND_EXPERIMENTAL_PROVIDER=nerdctl", platform: "docker-and-podman", env: "nerdctl", errHas: "docker or podman"},
		{name: "the saved sandbox's runtime beats the variable", platform: "docker-and-podman", env: "docker", prefer: "podman", want: "podman"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := fakeEngine(t, tt.platform)
			t.Setenv(ProviderEnv, tt.env)
			var notes []string
			s, err := newKindSession(t.Context(), KindOptions{StateDir: t.TempDir(), Runtime: tt.prefer, Report: func(e Event) {
				notes = append(notes, e.Message)
				// imagelab's own notes have a task, which the app says in the
				// learner's language (kind's log lines have none).
				if tt.noteHas != "" && strings.Contains(e.Message, tt.noteHas) && e.Task == "" {
					t.Errorf("a note with no task: %q", e.Message)
				}
			}})
			if tt.wantErr != nil || tt.errHas != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\ncalls:\n%s", err, calls)
			}
			if s.rt.bin != tt.want || (tt.arch != "" && s.rt.arch != tt.arch) {
				t.Errorf("runtime %s (%s), want %s (%s)\ncalls:\n%s", s.rt.bin, s.rt.arch, tt.want, tt.arch, calls)
			}
			if tt.noteHas != "" && !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, tt.noteHas) }) {
				t.Errorf("notes %q lack %q", notes, tt.noteHas)
			}
			for _, n := range notes {
				if strings.Contains(n, "Docker Desktop") {
					t.Errorf("told to start Docker Desktop: %q", n)
				}
			}
		})
	}
}

func TestFullImageName(t *testing.T) {
	for in, want := range map[string]string{
		"registry:3":                     "docker.io/library/registry:3",
		"library/registry:3":             "docker.io/library/registry:3",
		"kindest/node:v1.37.0":           "docker.io/kindest/node:v1.37.0",
		"docker.io/library/registry:3":   "docker.io/library/registry:3",
		"imagelab.local/registry:3":      "imagelab.local/registry:3",
		"localhost/registry:3":           "localhost/registry:3",
		"mirror:5000/library/registry:3": "mirror:5000/library/registry:3",
		"registry@sha256:0123":           "docker.io/library/registry@sha256:0123",
	} {
		if got := FullImageName(in); got != want {
			t.Errorf("FullImageName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRegistryImageNameUnderPodman: Podman gets the registry image by its
// full name (no short-name alias needed); an image named with
// --registry-image is kept as given when Podman has it by that name.
func TestRegistryImageNameUnderPodman(t *testing.T) {
	tests := []struct {
		name, platform, image, local, want string
	}{
		{"default, Podman", "podman-docker", "", "", "docker.io/library/registry:3"},
		{"short name, Podman", "podman-docker", "registry:3", "", "docker.io/library/registry:3"},
		{"mirror, Podman", "podman-docker", "mirror.example.com/registry:3", "", "mirror.example.com/registry:3"},
		{"a local build by its short name, Podman", "podman-docker", "my-registry:3", "my-registry:3", "my-registry:3"},
		{"short name, Docker", "docker-desktop-mac", "registry:3", "", "registry:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := fakeEngine(t, tt.platform)
			t.Setenv("FAKE_IMAGES", tt.local)
			s, err := newKindSession(t.Context(), KindOptions{Name: "imagelab-img", StateDir: t.TempDir(), RegistryImage: tt.image})
			if err != nil {
				t.Fatal(err)
			}
			sb := &Sandbox{Name: "imagelab-img", ID: NewID(), Registry: Registry{User: RegistryUser, Container: registryContainerName("imagelab-img")}}
			if err := s.runRegistry(t.Context(), sb, nil); err != nil {
				t.Fatal(err)
			}
			created := calls.calls(s.rt.bin + " create")
			if len(created) != 1 || !strings.HasSuffix(created[0], " "+tt.want) {
				t.Errorf("created %q, want the image %s\ncalls:\n%s", created, tt.want, calls)
			}
			plan, err := PlanKind(KindOptions{Name: "imagelab-img", StateDir: t.TempDir(), RegistryImage: tt.image})
			if err != nil || plan.RegistryImage != tt.want {
				t.Errorf("plan shows %q (%v), want %s", plan.RegistryImage, err, tt.want)
			}
		})
	}
}

// TestPlanNamesKindsNetwork: up --dry-run shows the network kind will use.
func TestPlanNamesKindsNetwork(t *testing.T) {
	fakeEngine(t, "podman-docker")
	t.Setenv("KIND_EXPERIMENTAL_PODMAN_NETWORK", "lab-net")
	p, err := PlanKind(KindOptions{Name: "imagelab", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.NetworkJoin, " "); got != "podman network connect lab-net imagelab-registry" {
		t.Errorf("plan joins with %q", got)
	}
}

// recordingNode is a kind node that records the commands run on it.
type recordingNode struct {
	name  string
	calls *[]string
}

func (n recordingNode) String() string              { return n.name }
func (n recordingNode) Role() (string, error)       { return "control-plane", nil }
func (n recordingNode) IP() (string, string, error) { return "172.18.0.2", "", nil }
func (n recordingNode) SerialLogs(io.Writer) error  { return nil }
func (n recordingNode) Command(c string, args ...string) kindexec.Cmd {
	return &recordingCmd{calls: n.calls, argv: append([]string{c}, args...)}
}
func (n recordingNode) CommandContext(_ context.Context, c string, args ...string) kindexec.Cmd {
	return n.Command(c, args...)
}

type recordingCmd struct {
	calls *[]string
	argv  []string
	stdin io.Reader
}

func (c *recordingCmd) Run() error {
	line := strings.Join(c.argv, " ")
	if c.stdin != nil {
		b, _ := io.ReadAll(c.stdin)
		line += " <<< " + string(b)
	}
	*c.calls = append(*c.calls, line)
	return nil
}
func (c *recordingCmd) SetEnv(...string) kindexec.Cmd     { return c }
func (c *recordingCmd) SetStdin(r io.Reader) kindexec.Cmd { c.stdin = r; return c }
func (c *recordingCmd) SetStdout(io.Writer) kindexec.Cmd  { return c }
func (c *recordingCmd) SetStderr(io.Writer) kindexec.Cmd  { return c }

// TestHostsTomlOnTheNode: hosts.toml goes to the node's Linux path, with
// forward slashes whatever imagelab runs on (on Windows, path/filepath
// would make certs.d\localhost:5001).
func TestHostsTomlOnTheNode(t *testing.T) {
	var calls []string
	sb := &Sandbox{Registry: Registry{Host: "localhost:5001", Container: "imagelab-registry"}}
	if err := writeHostsToml([]nodes.Node{recordingNode{name: "imagelab-control-plane", calls: &calls}}, sb); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mkdir -p /etc/containerd/certs.d/localhost:5001",
		"cp /dev/stdin /etc/containerd/certs.d/localhost:5001/hosts.toml <<< " + HostsToml("imagelab-registry"),
	}
	if !slices.Equal(calls, want) {
		t.Errorf("commands on the node:\n%q\nwant\n%q", calls, want)
	}
	for _, c := range calls {
		if strings.Contains(c, `\`) {
			t.Errorf("a Windows path on a Linux node: %s", c)
		}
	}
}
