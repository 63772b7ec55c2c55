package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons/check"
)

// dockerTestOptions are KindOptions for a Docker engine that can pull
// nothing: the registry image is the one hack/registry-image.sh loads,
// the seed the app image it writes as a tarball.
func dockerTestOptions(t *testing.T, name string) KindOptions {
	t.Helper()
	return runtimeTestOptions(t, "docker", name)
}

// testRuntimes are the runtimes the registry-container tests run under:
// the Docker engine of hack/docker.sh and the Podman of hack/podman.sh.
var testRuntimes = []string{"docker", "podman"}

// forEachRuntime runs f as a subtest under each runtime.
func forEachRuntime(t *testing.T, f func(t *testing.T, rt string)) {
	for _, rt := range testRuntimes {
		t.Run(rt, func(t *testing.T) { f(t, rt) })
	}
}

// runtimeTestOptions are KindOptions for runtime rt (docker or podman),
// with the images hack/registry-image.sh built (nothing can be pulled).
func runtimeTestOptions(t *testing.T, rt, name string) KindOptions {
	t.Helper()
	switch rt {
	case "docker":
		testenv.RequireDocker(t)
	case "podman":
		requirePodman(t)
	}
	img, seed := os.Getenv("IMAGELAB_REGISTRY_IMAGE"), os.Getenv("IMAGELAB_SEED_TARBALL")
	if img == "" || seed == "" {
		testenv.SkipOrFail(t, `no local registry image: IMAGELAB_REGISTRY_IMAGE and IMAGELAB_SEED_TARBALL are not set (eval "$(hack/registry-image.sh env)")`)
	}
	return KindOptions{Name: name, Runtime: rt, RegistryImage: img, StateDir: t.TempDir(), Seed: SeedOptions{Source: seed}}
}

// requirePodman stops the test unless the Podman of hack/podman.sh is set
// up (IMAGELAB_PODMAN=1 with its config) and runs.
func requirePodman(t *testing.T) {
	t.Helper()
	testenv.Require(t)
	if os.Getenv("IMAGELAB_PODMAN") != "1" {
		testenv.SkipOrFail(t, `Podman is not set up: hack/podman.sh install && hack/podman.sh start, then eval "$(hack/podman.sh env)"`)
	}
	if out, err := exec.Command("podman", "info", "--format", "{{.Host.Arch}}").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("podman does not answer (%s); run hack/podman.sh start", strings.TrimSpace(string(out))))
	}
}

// registrySandbox is a kind sandbox record with its registry container
// only (no cluster can start here), removed at the end of the test.
func registrySandbox(t *testing.T, opts KindOptions) (*kindSession, *Sandbox) {
	t.Helper()
	s, err := newKindSession(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := RandomPassword()
	sb := &Sandbox{Provider: ProviderKind, Name: opts.Name, ID: NewID(), Runtime: s.rt.bin,
		Registry:   Registry{User: RegistryUser, Password: pw, Container: registryContainerName(opts.Name)},
		Kubeconfig: filepath.Join(opts.StateDir, "kubeconfig"), DockerConfigDir: filepath.Join(opts.StateDir, "docker"), WorkDir: filepath.Join(opts.StateDir, "work")}
	t.Cleanup(func() { _ = s.remove(context.Background(), sb) })
	return s, sb
}

// cli runs the runtime's CLI (docker or podman) and returns its output.
func cli(t *testing.T, rt string, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(rt, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// leftovers lists containers of the sandbox, or kind nodes of its cluster.
func leftovers(t *testing.T, rt, name string) string {
	t.Helper()
	a, _ := cli(t, rt, nil, "", "ps", "-a", "--format", "{{.Names}}", "--filter", "label="+LabelSandbox+"="+name)
	b, _ := cli(t, rt, nil, "", "ps", "-a", "--format", "{{.Names}}", "--filter", "label=io.x-k8s.kind.cluster="+name)
	return strings.TrimSpace(a + " " + b)
}

// TestIntegrationRegistryContainer runs the sandbox's registry container on
// a real Docker engine and under Podman, logs in and pushes with that
// runtime's CLI, runs the docker-login check on the result, seeds, and
// removes it all.
func TestIntegrationRegistryContainer(t *testing.T) {
	forEachRuntime(t, testRegistryContainer)
}

func testRegistryContainer(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-reg")
	ctx := context.Background()
	s, sb := registrySandbox(t, opts)
	pw := sb.Registry.Password

	start := time.Now()
	if err := s.startRegistry(ctx, sb); err != nil {
		t.Fatal(err)
	}
	started := time.Since(start)
	start = time.Now()
	digest, err := Seed(ctx, sb.Registry, opts.Seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: registry container answering after %s; seeding %s took %s", rt, started.Round(time.Millisecond), digest, time.Since(start).Round(time.Millisecond))

	// No bind mount: the htpasswd file was copied in (a bind mount is not
	// relabelled for SELinux by Podman, and Docker Desktop refuses paths it
	// does not share).
	if out, err := cli(t, rt, nil, "", "container", "inspect", "--format", "{{range .Mounts}}{{.Type}}:{{.Source}};{{end}}", sb.Registry.Container); err != nil || strings.Contains(out, "bind:") {
		t.Errorf("registry mounts %q (%v), want no bind mount", out, err)
	}
	// Only loopback: the port is published on 127.0.0.1.
	if out, _ := cli(t, rt, nil, "", "port", sb.Registry.Container); !strings.HasPrefix(out, "5000/tcp -> 127.0.0.1:") {
		t.Errorf("registry published as %q, want 127.0.0.1 only", out)
	}
	// Anonymous requests are refused.
	if err := PingRegistry(ctx, Registry{Host: sb.Registry.Host}, nil); !errors.Is(err, ErrRegistryAuth) {
		t.Errorf("anonymous /v2/: %v, want refused", err)
	}

	// The learner's path with the runtime's CLI, into the sandbox's
	// DOCKER_CONFIG (Podman's login: REGISTRY_AUTH_FILE, as the sandbox
	// shell sets it). Podman reaches a plain-HTTP registry only when told.
	env := sb.ShellEnv(nil)
	var insecure []string
	if rt == "podman" {
		insecure = []string{"--tls-verify=false"}
	}
	os.MkdirAll(sb.DockerConfigDir, 0o700)
	envCheck := &check.Env{Registry: check.Registry{Host: sb.Registry.Host, User: sb.Registry.User, Password: sb.Registry.Password}, DockerConfigDir: sb.DockerConfigDir}
	before, err := check.Run(ctx, "docker.login", envCheck, check.Request{})
	if err != nil || before.Passed {
		t.Fatalf("docker.login before login: %+v %v", before, err)
	}
	if out, err := cli(t, rt, env, pw, append(append([]string{"login"}, insecure...), sb.Registry.Host, "-u", sb.Registry.User, "--password-stdin")...); err != nil {
		t.Fatalf("%s login: %v\n%s", rt, err, out)
	}
	after, err := check.Run(ctx, "docker.login", envCheck, check.Request{})
	if err != nil || !after.Passed {
		t.Fatalf("docker.login after login: %+v %v", after, err)
	}
	seedApp := os.Getenv("IMAGELAB_SEED_IMAGE")
	target := sb.Registry.Host + "/apps/my-app:1.0"
	if out, err := cli(t, rt, env, "", "tag", seedApp, target); err != nil {
		t.Fatalf("%s tag: %v\n%s", rt, err, out)
	}
	t.Cleanup(func() { cli(t, rt, nil, "", "rmi", target) })
	if out, err := cli(t, rt, env, "", append(append([]string{"push"}, insecure...), target)...); err != nil {
		t.Fatalf("%s push: %v\n%s", rt, err, out)
	}
	pushed, err := check.Run(ctx, "registry.image", envCheck, check.Request{Params: map[string]string{"repository": "apps/my-app", "tag": "1.0"}})
	if err != nil || !pushed.Passed {
		t.Fatalf("registry.image after push: %+v %v", pushed, err)
	}

	if err := s.remove(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, rt, opts.Name); left != "" {
		t.Errorf("left behind: %s", left)
	}
	if _, err := os.Stat(filepath.Join(opts.StateDir, "registry")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("registry files left behind")
	}
}

// TestIntegrationKindUpFailureLeavesNothing: kind cannot start a node on
// this engine (no node image can be pulled), so up fails at the cluster
// phase — with a clear error, and with the registry it had started removed.
func TestIntegrationKindUpFailureLeavesNothing(t *testing.T) {
	forEachRuntime(t, testIntegrationKindUpFailureLeavesNothing)
}

func testIntegrationKindUpFailureLeavesNothing(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-fail")
	opts.NodeImage = "imagelab.invalid/node:v0"
	var phases, failed []string
	opts.Report = func(e Event) {
		switch {
		case e.Failed:
			failed = append(failed, string(e.Phase))
		case !e.Log && !e.Done:
			phases = append(phases, string(e.Phase))
		}
	}
	_, err := UpKind(context.Background(), opts)
	if !errors.Is(err, ErrImagePull) || !strings.Contains(err.Error(), "--node-image") {
		t.Errorf("err = %v, want a node image pull failure naming --node-image", err)
	}
	// The phase that failed ends with ✗, not an open "•" line.
	if !slices.Equal(failed, []string{string(PhaseCluster)}) {
		t.Errorf("phases ended failed: %v, want the cluster's", failed)
	}
	// The seed comes right after the registry: it needs nothing else.
	if !strings.HasPrefix(strings.Join(phases, ","), "registry,seed,cluster") {
		t.Errorf("phases %v", phases)
	}
	assertNothingLeft(t, opts)
}

// TestIntegrationSeedFailureDoesNotStopUp: a seed that cannot be made
// (no registry has the image, nor the engine) is reported and up goes on
// to the cluster; the seed is not what fails up.
func TestIntegrationSeedFailureDoesNotStopUp(t *testing.T) {
	forEachRuntime(t, testIntegrationSeedFailureDoesNotStopUp)
}

func testIntegrationSeedFailureDoesNotStopUp(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-seedfail")
	opts.NodeImage = "imagelab.invalid/node:v0"
	opts.Seed.Source = "imagelab.invalid/nothing:1"
	var phases, notes []string
	opts.Report = func(e Event) {
		switch {
		case e.Log:
			notes = append(notes, e.Message)
		case !e.Done:
			phases = append(phases, string(e.Phase))
		}
	}
	_, err := UpKind(context.Background(), opts)
	if !errors.Is(err, ErrImagePull) || !strings.Contains(err.Error(), "--node-image") {
		t.Errorf("err = %v, want the cluster's failure (here: no node image)", err)
	}
	if !strings.HasPrefix(strings.Join(phases, ","), "registry,seed,cluster") {
		t.Errorf("phases %v, want the cluster after a failed seed", phases)
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, "seeding failed") && strings.Contains(n, "imagelab.invalid/nothing:1")
	}) {
		t.Errorf("no note of the failed seed: %q", notes)
	}
	assertNothingLeft(t, opts)
}

// TestIntegrationSeedFallsBackToTheEngine: a source no registry serves
// here is pulled by the engine (its mirrors, proxy and login; offline, the
// copy it has) and saved, instead of failing the seed.
func TestIntegrationSeedFallsBackToTheEngine(t *testing.T) {
	forEachRuntime(t, testIntegrationSeedFallsBackToTheEngine)
}

func testIntegrationSeedFallsBackToTheEngine(t *testing.T, bin string) {
	runtimeTestOptions(t, bin, "imagelab-test-seed-engine")
	local := os.Getenv("IMAGELAB_SEED_IMAGE") // loaded by hack/registry-image.sh; no registry serves it
	if local == "" {
		testenv.SkipOrFail(t, `IMAGELAB_SEED_IMAGE is not set (eval "$(hack/registry-image.sh env)")`)
	}
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	r := Registry{Host: reg.Host, User: reg.User, Password: reg.Password}
	var notes []string
	rt := &containerRuntime{bin: bin}
	if err := rt.ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := Seed(t.Context(), r, SeedOptions{Source: local, Platform: LinuxPlatform(rt.arch), engine: rt, note: func(m string) { notes = append(notes, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if !seedPresent(t.Context(), r, nil) {
		t.Error("no seed in the registry")
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "the engine pulled it") {
		t.Errorf("notes %q, want one saying the engine pulled it", notes)
	}
}

// TestIntegrationKindUpCancelLeavesNothing: Ctrl-C during cluster creation.
func TestIntegrationKindUpCancelLeavesNothing(t *testing.T) {
	forEachRuntime(t, testIntegrationKindUpCancelLeavesNothing)
}

func testIntegrationKindUpCancelLeavesNothing(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-cancel")
	opts.NodeImage = "imagelab.invalid/node:v0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Report = func(e Event) {
		if e.Phase == PhaseCluster && !e.Done && !e.Log {
			cancel() // as Ctrl-C would, right as kind starts
		}
	}
	_, err := UpKind(ctx, opts)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want cancelled", err)
	}
	assertNothingLeft(t, opts)
}

// TestIntegrationKindRefusesForeignContainer: a container with the
// registry's name that imagelab did not make is never reused or removed.
func TestIntegrationKindRefusesForeignContainer(t *testing.T) {
	forEachRuntime(t, testIntegrationKindRefusesForeignContainer)
}

func testIntegrationKindRefusesForeignContainer(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-clash")
	name := registryContainerName(opts.Name)
	if out, err := cli(t, rt, nil, "", "create", "--name", name, opts.RegistryImage); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { cli(t, rt, nil, "", "rm", "-f", name) })
	_, err := UpKind(context.Background(), opts)
	if !errors.Is(err, ErrNameClash) {
		t.Errorf("err = %v, want a name clash", err)
	}
	if out, _ := cli(t, rt, nil, "", "ps", "-a", "-q", "--filter", "name=^"+name+"$"); out == "" {
		t.Error("the foreign container was removed")
	}
}

func assertNothingLeft(t *testing.T, opts KindOptions) {
	t.Helper()
	if left := leftovers(t, cmp.Or(opts.Runtime, "docker"), opts.Name); left != "" {
		t.Errorf("containers left behind: %s", left)
	}
	if _, err := Load(opts.StateDir); !errors.Is(err, ErrNoSandbox) {
		t.Errorf("sandbox record left behind: %v", err)
	}
	entries, _ := os.ReadDir(opts.StateDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// The work dir would stay (the learner's manifests); nothing else may.
	for _, n := range names {
		if n != "work" {
			t.Errorf("file left in the state dir: %s (all: %v)", n, names)
		}
	}
}

// TestIntegrationLearnersFilesUntouched: up (as far as this machine lets
// kind go), env, shell and down leave ~/.kube/config and
// ~/.docker/config.json byte-identical.
func TestIntegrationLearnersFilesUntouched(t *testing.T) {
	opts := dockerTestOptions(t, "imagelab-test-home")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	files := map[string][]byte{
		filepath.Join(home, ".kube", "config"):        []byte("apiVersion: v1\nkind: Config\ncurrent-context: work\nclusters: []\ncontexts: []\nusers: []\n"),
		filepath.Join(home, ".docker", "config.json"): []byte(`{"auths": {"registry.example.com": {"auth": "dTpw"}}, "currentContext": "default"}` + "\n"),
	}
	for p, b := range files {
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	// Registry, docker login and push as the learner, env and shell, then down.
	s, sb := registrySandbox(t, opts)
	pw := sb.Registry.Password
	if err := s.startRegistry(ctx, sb); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(sb.DockerConfigDir, 0o700)
	os.MkdirAll(sb.WorkDir, 0o700)
	if err := sb.Save(opts.StateDir); err != nil {
		t.Fatal(err)
	}
	shell, err := sb.ShellCommand(opts.StateDir, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	shell.Stdin = strings.NewReader(fmt.Sprintf("printf '%%s' %q | docker login %s -u %s --password-stdin\nkubectl config view >/dev/null 2>&1 || true\nexit\n", pw, sb.Registry.Host, sb.Registry.User))
	var out bytes.Buffer
	shell.Stdout, shell.Stderr = &out, &out
	if err := shell.Run(); err != nil {
		t.Fatalf("sandbox shell: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Login Succeeded") {
		t.Errorf("docker login in the sandbox shell:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(sb.DockerConfigDir, "config.json")); err != nil {
		t.Errorf("the login did not land in the sandbox's DOCKER_CONFIG: %v", err)
	}
	if err := Remove(ctx, sb, opts.StateDir, nil); err != nil {
		t.Fatal(err)
	}
	// And a full up that kind cannot finish here.
	opts.NodeImage = "imagelab.invalid/node:v0"
	_, _ = UpKind(ctx, opts)
	for p, want := range files {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s changed (err %v):\n%s", p, err, got)
		}
	}
	entries, _ := os.ReadDir(home)
	for _, e := range entries {
		// The learner's own shell keeps its history, as in any shell.
		if e.Name() != ".kube" && e.Name() != ".docker" && e.Name() != ".bash_history" {
			t.Errorf("new file in HOME: %s", e.Name())
		}
	}
}

// TestIntegrationNodePlatform: the seed's platform comes from the Node
// objects' status.nodeInfo, as the kubelet reports it.
func TestIntegrationNodePlatform(t *testing.T) {
	api := testenv.SharedAPIServer(t)
	ctx := t.Context()
	if p := nodePlatform(ctx, api.Client); p != nil {
		t.Fatalf("no node yet, got %s", p)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "imagelab-test-arm-node"}}
	node, err := api.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Client.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{}) })
	node.Status.NodeInfo.Architecture, node.Status.NodeInfo.OperatingSystem = "arm64", "linux"
	if _, err := api.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := nodePlatform(ctx, api.Client); p == nil || p.String() != "linux/arm64" {
		t.Errorf("node platform %v, want linux/arm64", p)
	}
}

// TestIntegrationRegistryJoinsTheNodesNetwork: with
// KIND_EXPERIMENTAL_DOCKER_NETWORK set, kind's node is on that network, not
// on "kind": the registry joins the network the node container is on.
func TestIntegrationRegistryJoinsTheNodesNetwork(t *testing.T) {
	forEachRuntime(t, testIntegrationRegistryJoinsTheNodesNetwork)
}

func testIntegrationRegistryJoinsTheNodesNetwork(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-net")
	ctx := context.Background()
	network := "imagelab-test-net-" + NewID()[:6]
	t.Setenv(map[string]string{"docker": "KIND_EXPERIMENTAL_DOCKER_NETWORK", "podman": "KIND_EXPERIMENTAL_PODMAN_NETWORK"}[rt], network)
	if out, err := cli(t, rt, nil, "", "network", "create", network); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { cli(t, rt, nil, "", "network", "rm", network) })
	// A stand-in for kind's node container: kind finds nodes by this label.
	node := opts.Name + "-control-plane"
	if out, err := cli(t, rt, nil, "", "create", "--name", node, "--network", network,
		"--label", "io.x-k8s.kind.cluster="+opts.Name, "--label", "io.x-k8s.kind.role=control-plane", os.Getenv("IMAGELAB_SEED_IMAGE")); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { cli(t, rt, nil, "", "rm", "-f", node) })

	s, sb := registrySandbox(t, opts)
	if err := s.startRegistry(ctx, sb); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.provider.ListNodes(opts.Name)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes %v: %v", nodes, err)
	}
	if err := s.joinNodeNetworks(ctx, sb, nodes); err != nil {
		t.Fatal(err)
	}
	c, err := s.rt.inspect(ctx, sb.Registry.Container)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Networks, network) || slices.Contains(c.Networks, "kind") {
		t.Errorf("registry on %v, want the node's network %s (and not kind)", c.Networks, network)
	}
	// Twice is harmless: a reused sandbox is wired again.
	if err := s.joinNodeNetworks(ctx, sb, nodes); err != nil {
		t.Errorf("joining again: %v", err)
	}
}

// TestIntegrationWaitNodesReady: up waits for the node to be Ready through
// the API, and when it is not, says what its conditions say.
func TestIntegrationWaitNodesReady(t *testing.T) {
	api := testenv.SharedAPIServer(t)
	ctx := t.Context()
	if err := waitNodesReady(ctx, api.Client, 0); !errors.Is(err, ErrNodeNotReady) || !strings.Contains(err.Error(), "no node has registered") {
		t.Errorf("no node: %v", err)
	}
	node, err := api.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "imagelab-test-control-plane"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Client.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{}) })
	now := metav1.Now()
	node.Status.Conditions = []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasDiskPressure", Message: "kubelet has disk pressure", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", LastHeartbeatTime: now, LastTransitionTime: now,
			Message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"},
	}
	if node, err = api.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = waitNodesReady(ctx, api.Client, 1500*time.Millisecond)
	if !errors.Is(err, ErrNodeNotReady) {
		t.Fatalf("err = %v, want not Ready", err)
	}
	for _, want := range []string{"imagelab-test-control-plane", "Ready=False", "KubeletNotReady", "cni plugin not initialized", "DiskPressure=True"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "MemoryPressure") {
		t.Errorf("a condition that is fine is named: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("gave up after %s, before its limit", took)
	}
	// Ready a moment later: the wait returns as soon as it sees it.
	go func() {
		time.Sleep(500 * time.Millisecond)
		node.Status.Conditions[1].Status = corev1.ConditionFalse
		node.Status.Conditions[2].Status, node.Status.Conditions[2].Reason, node.Status.Conditions[2].Message = corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"
		api.Client.CoreV1().Nodes().UpdateStatus(context.Background(), node, metav1.UpdateOptions{})
	}()
	if err := waitNodesReady(ctx, api.Client, 30*time.Second); err != nil {
		t.Errorf("Ready node: %v", err)
	}
}

// TestIntegrationKindLeavesAnotherHomesRegistry: a registry container of
// imagelab's, but made for another state dir (another IMAGELAB_HOME), is
// not a leftover of this one: up refuses the name and leaves it alone.
func TestIntegrationKindLeavesAnotherHomesRegistry(t *testing.T) {
	forEachRuntime(t, testIntegrationKindLeavesAnotherHomesRegistry)
}

func testIntegrationKindLeavesAnotherHomesRegistry(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-home2")
	name := registryContainerName(opts.Name)
	other := t.TempDir()
	id, err := cli(t, rt, nil, "", "create", "--name", name, "--label", LabelManagedBy+"="+ManagedBy,
		"--label", LabelSandbox+"="+opts.Name, "--label", LabelStateDir+"="+StateLabel(other), opts.RegistryImage)
	if err != nil {
		t.Fatalf("%v: %s", err, id)
	}
	t.Cleanup(func() { cli(t, rt, nil, "", "rm", "-f", name) })
	_, err = UpKind(context.Background(), opts)
	if !errors.Is(err, ErrNameClash) || !strings.Contains(err.Error(), "another state dir") {
		t.Errorf("err = %v, want a clash with another state dir's sandbox", err)
	}
	if out, _ := cli(t, rt, nil, "", "ps", "-a", "-q", "--no-trunc", "--filter", "name=^"+name+"$"); out != id {
		t.Errorf("the other home's registry was removed or replaced (%q, was %q)", out, id)
	}
}

// TestIntegrationDownLeavesAClusterItDidNotMake: down deletes the kind
// cluster of the sandbox's name only while its node container is the one
// recorded (or, without a record, made after the sandbox).
func TestIntegrationDownLeavesAClusterItDidNotMake(t *testing.T) {
	forEachRuntime(t, testIntegrationDownLeavesAClusterItDidNotMake)
}

func testIntegrationDownLeavesAClusterItDidNotMake(t *testing.T, rt string) {
	opts := runtimeTestOptions(t, rt, "imagelab-test-own")
	ctx := context.Background()
	node := opts.Name + "-control-plane"
	makeNode := func() string {
		t.Helper()
		id, err := cli(t, rt, nil, "", "create", "--name", node, "--label", "io.x-k8s.kind.cluster="+opts.Name,
			"--label", "io.x-k8s.kind.role=control-plane", os.Getenv("IMAGELAB_SEED_IMAGE"))
		if err != nil {
			t.Fatalf("%v: %s", err, id)
		}
		return id
	}
	nodeExists := func() bool {
		out, _ := cli(t, rt, nil, "", "ps", "-a", "-q", "--filter", "name=^"+node+"$")
		return out != ""
	}
	id := makeNode()
	t.Cleanup(func() { cli(t, rt, nil, "", "rm", "-f", node) })
	s, sb := registrySandbox(t, opts)
	sb.Complete, sb.CreatedAt = true, time.Now().UTC()

	var notes []string
	s.opts.Report = func(e Event) { notes = append(notes, e.Message) }
	sb.NodeContainers = []string{strings.Repeat("0", 64)} // the node imagelab made, gone since
	if err := s.removeKeepingRecord(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if !nodeExists() {
		t.Fatal("down deleted a kind cluster whose node is not the one recorded")
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "not the one imagelab made") }) {
		t.Errorf("down did not say why it left the cluster: %q", notes)
	}

	// No record of the node (creation cut short), but the node is older
	// than the sandbox: not its.
	sb.NodeContainers, sb.Complete, sb.CreatedAt = nil, false, time.Now().Add(time.Hour)
	if err := s.removeKeepingRecord(ctx, sb); err != nil || !nodeExists() {
		t.Fatalf("down deleted a cluster older than the sandbox (err %v)", err)
	}

	sb.NodeContainers = []string{id} // the recorded node: the sandbox's own
	if err := s.removeKeepingRecord(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if nodeExists() {
		t.Error("down left the sandbox's own cluster")
	}
}
