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

func TestIntegrationNodePullsPrivateImage(t *testing.T) {
	Require(t)
	testBegan := time.Now()
	procsBefore := clusterProcs()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// The processes' logs go to a file ($IMAGELAB_NODE_LOG to keep it);
	// on failure its end is shown.
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

	// A password-protected registry holding the app image.
	reg, err := testenv.NewRegistry(t.TempDir(), "learner", testenv.TestPassword)
	if err != nil {
		t.Fatalf("starting the registry: %v", err)
	}
	t.Cleanup(reg.Close)
	port := strings.TrimPrefix(reg.Host, "localhost:")
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

	// The node.
	state, err := os.MkdirTemp("", "iln-")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	c, err := Start(ctx, Options{
		BinDir:        testenv.BinDir(),
		StateDir:      state,
		RegistryHosts: map[string]string{reg.Host: "http://127.0.0.1:" + port},
		Log:           logFile,
	})
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

	kubectlBin := filepath.Join(testenv.BinDir(), "kubectl")
	kubectlCache := t.TempDir() // not ~/.kube/cache
	kubectl := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", c.Kubeconfig, "--cache-dir", kubectlCache}, args...)...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustKubectl := func(stdin string, args ...string) string {
		t.Helper()
		out, err := kubectl(stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	const ns = "lab"
	if err := c.PrepareNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, withSecret bool) string {
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
	events := func(pod string) []string {
		out, _ := kubectl("", "-n", ns, "get", "events", "--field-selector", "involvedObject.name="+pod,
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
	waitRefused := func(pod string) {
		t.Helper()
		began := time.Now()
		deadline := began.Add(90 * time.Second)
		for {
			reason := strings.TrimSpace(mustKubectl("", "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"))
			evs := events(pod)
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

	// 1. Without imagePullSecrets the kubelet pulls anonymously: 401.
	mustKubectl(pod("no-secret", false), "apply", "-f", "-")
	waitRefused("no-secret")

	// 2. With a regcred made by the real kubectl the pod runs.
	mustKubectl("", "-n", ns, "create", "secret", "docker-registry", "regcred",
		"--docker-server="+reg.Host, "--docker-username="+reg.User, "--docker-password="+reg.Password)
	mustKubectl(pod("with-secret", true), "apply", "-f", "-")
	began := time.Now()
	mustKubectl("", "-n", ns, "wait", "--for=condition=Ready", "pod/with-secret", "--timeout=120s")
	t.Logf("pod with-secret Ready after %v", time.Since(began).Round(time.Millisecond))
	podIP := strings.TrimSpace(mustKubectl("", "-n", ns, "get", "pod", "with-secret", "-o", "jsonpath={.status.podIP}"))
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(fmt.Sprintf("http://%s:%d/", podIP, AppPort))
	if err != nil {
		t.Fatalf("GET the app in pod with-secret (%s): %v", podIP, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "imagelab internal-app 1.0") {
		t.Fatalf("the app answered %q", body)
	}
	t.Logf("the app in pod with-secret (%s) answered: %s", podIP, strings.TrimSpace(string(body)))
	// What Stop will have to undo on the host.
	for _, d := range c.host.differences(bridgeName) {
		t.Logf("host changed while running: %s", d)
	}

	// 3. The image is now on the node, but under the kubelet's default
	// imagePullCredentialsVerificationPolicy (KEP-2535) a pod without the
	// secret is still refused: the kubelet pulls again with its own (no)
	// credentials.
	mustKubectl(pod("no-secret-again", false), "apply", "-f", "-")
	waitRefused("no-secret-again")

	for _, p := range []string{"no-secret", "with-secret", "no-secret-again"} {
		for _, e := range events(p) {
			t.Logf("event %s: %s", p, strings.ReplaceAll(e, "\t", ": "))
		}
	}
}
