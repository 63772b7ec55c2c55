//go:build e2e

package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/imagelab/imagelab/internal/testenv"
)

// clusterProcNames are the process names (comm, 15 bytes at most) that
// must not outlive the test.
var clusterProcNames = map[string]bool{
	"etcd": true, "kube-apiserver": true, "kube-scheduler": true, "kubelet": true,
	"containerd": true, "containerd-shim": true, "runc": true, "pause": true, "app": true,
}

// clusterProcs lists the running processes with those names.
func clusterProcs() map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		if clusterProcNames[comm] {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			if alivePid(pid) {
				out[pid] = comm
			}
		}
	}
	return out
}

// clusterLog is the file the processes' logs go to ($IMAGELAB_NODE_LOG to
// keep it); on failure its end is shown.
func clusterLog(t *testing.T) *os.File {
	keepLog := os.Getenv("IMAGELAB_NODE_LOG")
	var logFile *os.File
	var err error
	if keepLog != "" {
		logFile, err = os.Create(keepLog)
	} else {
		logFile, err = os.CreateTemp("", "imagelab-node-*.log")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logFile.Close()
		if keepLog != "" {
			t.Logf("the cluster's log: %s", keepLog)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(string(b), "\n")
			if len(lines) > 150 {
				lines = lines[len(lines)-150:]
			}
			t.Logf("last lines of the cluster's log (%s):\n%s", logFile.Name(), strings.Join(lines, "\n"))
			return
		}
		if keepLog == "" {
			os.Remove(logFile.Name())
		}
	})
	return logFile
}

// privateApp starts a password-protected registry holding the app image
// and returns it with the image's name there.
func privateApp(ctx context.Context, t *testing.T) (*testenv.Registry, string) {
	reg, err := testenv.NewRegistry(t.TempDir(), "learner", testenv.TestPassword)
	if err != nil {
		t.Fatalf("starting the registry: %v", err)
	}
	t.Cleanup(reg.Close)
	image := reg.Host + "/apps/internal-app:1.0"
	tarPath, err := BuildAppImage(t.TempDir())
	if err != nil {
		t.Fatalf("building the app image: %v", err)
	}
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password}), remote.WithContext(ctx)); err != nil {
		t.Fatalf("pushing %s: %v", image, err)
	}
	return reg, image
}

// registryHosts is the hosts.toml alias for reg, as in kind's recipe.
func registryHosts(reg *testenv.Registry) map[string]string {
	return map[string]string{reg.Host: "http://127.0.0.1:" + strings.TrimPrefix(reg.Host, "localhost:")}
}

// startCluster starts a node with opts (BinDir, StateDir and Log filled
// in) and, at cleanup, stops it and fails for anything it left behind.
func startCluster(ctx context.Context, t *testing.T, opts Options) *Cluster {
	testBegan := time.Now()
	procsBefore := clusterProcs()
	state, err := os.MkdirTemp("", "iln-")
	if err != nil {
		t.Fatal(err)
	}
	opts.BinDir = testenv.BinDir()
	opts.StateDir = state
	opts.Log = clusterLog(t)
	started := time.Now()
	c, err := Start(ctx, opts)
	if err != nil {
		os.Remove(state)
		t.Fatalf("starting the node: %v", err)
	}
	t.Logf("Start → node Ready: %v (kubelet start → Ready: %v)", time.Since(started).Round(time.Millisecond), c.readyTook.Round(time.Millisecond))
	t.Cleanup(func() {
		stopBegan := time.Now()
		if err := c.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		t.Logf("Stop: %v", time.Since(stopBegan).Round(time.Millisecond))
		for _, l := range c.leftovers() {
			t.Errorf("after Stop: %s", l)
		}
		for pid, comm := range clusterProcs() {
			if _, ok := procsBefore[pid]; ok {
				continue
			}
			// Another program's containerd may start meanwhile: fail for
			// what is ours (names the state dir or sits in our cgroup).
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			cgroup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			if bytes.Contains(cmdline, []byte(state)) || bytes.Contains(cgroup, []byte("/"+cgroupName)) {
				t.Errorf("after Stop: process %s (pid %d) still running", comm, pid)
			} else {
				t.Logf("after Stop: a process %s (pid %d) started during the test, not by it", comm, pid)
			}
		}
		if b, err := os.ReadFile("/proc/mounts"); err == nil && bytes.Contains(b, []byte(state)) {
			t.Errorf("after Stop: /proc/mounts still names %s", state)
		}
		os.Remove(state)
		t.Logf("whole test: %v", time.Since(testBegan).Round(time.Millisecond))
	})
	return c
}

// kubectl runs the real kubectl against a cluster.
type kubectl struct {
	ctx   context.Context
	c     *Cluster
	cache string // not ~/.kube/cache
}

func newKubectl(ctx context.Context, t *testing.T, c *Cluster) *kubectl {
	return &kubectl{ctx: ctx, c: c, cache: t.TempDir()}
}

func (k *kubectl) run(stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(k.ctx, filepath.Join(testenv.BinDir(), "kubectl"), append([]string{"--kubeconfig", k.c.Kubeconfig, "--cache-dir", k.cache}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (k *kubectl) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := k.run(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// appPod is a pod running image, with the regcred pull secret or without.
func appPod(name, ns, image string, withSecret bool) string {
	secrets := ""
	if withSecret {
		secrets = "  imagePullSecrets:\n  - name: regcred\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
%s  containers:
  - name: app
    image: %s
    ports:
    - containerPort: %d
`, name, ns, secrets, image, AppPort)
}

// events lists a pod's events as "reason\tmessage".
func (k *kubectl) events(ns, pod string) []string {
	out, _ := k.run("", "-n", ns, "get", "events", "--field-selector", "involvedObject.name="+pod,
		"-o", `jsonpath={range .items[*]}{.reason}{"\t"}{.message}{"\n"}{end}`)
	var evs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			evs = append(evs, l)
		}
	}
	return evs
}

// waitRefused waits until the kubelet refuses the pod's image with the
// registry's 401.
func (k *kubectl) waitRefused(t *testing.T, ns, pod string) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(90 * time.Second)
	for {
		reason := strings.TrimSpace(k.must(t, "", "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"))
		evs := k.events(ns, pod)
		saw401 := false
		for _, e := range evs {
			if strings.HasPrefix(e, "Failed\t") && strings.Contains(e, "401 Unauthorized") {
				saw401 = true
			}
		}
		if saw401 && (reason == "ErrImagePull" || reason == "ImagePullBackOff") {
			t.Logf("pod %s refused after %v (%s)", pod, time.Since(began).Round(time.Millisecond), reason)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: want ErrImagePull with a 401 event; waiting reason %q, events:\n%s", pod, reason, strings.Join(evs, "\n"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// runsWithSecret creates a regcred with the real kubectl and a pod using
// it, and checks that the app in it answers over HTTP.
func (k *kubectl) runsWithSecret(t *testing.T, ns, pod, image string, reg *testenv.Registry) {
	t.Helper()
	k.must(t, "", "-n", ns, "create", "secret", "docker-registry", "regcred",
		"--docker-server="+reg.Host, "--docker-username="+reg.User, "--docker-password="+reg.Password)
	k.must(t, appPod(pod, ns, image, true), "apply", "-f", "-")
	began := time.Now()
	k.must(t, "", "-n", ns, "wait", "--for=condition=Ready", "pod/"+pod, "--timeout=120s")
	t.Logf("pod %s Ready after %v", pod, time.Since(began).Round(time.Millisecond))
	podIP := strings.TrimSpace(k.must(t, "", "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.podIP}"))
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(fmt.Sprintf("http://%s:%d/", podIP, AppPort))
	if err != nil {
		t.Fatalf("GET the app in pod %s (%s): %v", pod, podIP, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "imagelab internal-app 1.0") {
		t.Fatalf("the app answered %q", body)
	}
	t.Logf("the app in pod %s (%s) answered: %s", pod, podIP, strings.TrimSpace(string(body)))
}

func TestIntegrationNodePullsPrivateImage(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // the machine has one node: other packages' tests may hold it first
	defer cancel()
	reg, image := privateApp(ctx, t)
	c := startCluster(ctx, t, Options{RegistryHosts: registryHosts(reg)})
	k := newKubectl(ctx, t, c)
	const ns = "lab"
	if err := c.PrepareNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}

	// 1. Without imagePullSecrets the kubelet pulls anonymously: 401.
	k.must(t, appPod("no-secret", ns, image, false), "apply", "-f", "-")
	k.waitRefused(t, ns, "no-secret")

	// 2. With a regcred made by the real kubectl the pod runs.
	k.runsWithSecret(t, ns, "with-secret", image, reg)
	// What Stop will have to undo on the host.
	for _, d := range c.host.differences(bridgeName) {
		t.Logf("host changed while running: %s", d)
	}

	// 3. The image is now on the node, but under the kubelet's default
	// imagePullCredentialsVerificationPolicy (KEP-2535) a pod without the
	// secret is still refused: the kubelet pulls again with its own (no)
	// credentials.
	k.must(t, appPod("no-secret-again", ns, image, false), "apply", "-f", "-")
	k.waitRefused(t, ns, "no-secret-again")

	for _, p := range []string{"no-secret", "with-secret", "no-secret-again"} {
		for _, e := range k.events(ns, p) {
			t.Logf("event %s: %s", p, strings.ReplaceAll(e, "\t", ": "))
		}
	}
}
