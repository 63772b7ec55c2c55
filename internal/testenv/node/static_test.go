//go:build e2e

package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagelab/imagelab/lessons/check"
)

// The control plane the kubeadm way: the API server as a static pod, its
// manifest and the kubelet's config edited as a learner on the exam node
// edits them, and put back by the check package's resets.
func TestIntegrationNodeStaticAPIServer(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	reg, image := privateApp(ctx, t)
	c := startCluster(ctx, t, Options{RegistryHosts: registryHosts(reg), StaticAPIServer: true})
	n := c.Node()
	if n == nil {
		t.Fatal("Node() is nil in static mode")
	}
	files := n.Files()
	env := &check.Env{Kube: c.client, Node: n, Namespace: "lab"}
	k := newKubectl(ctx, t, c)
	const ns = "lab"
	if err := c.PrepareNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	mirrorName := check.APIServerPodName + "-" + n.Name()

	// The API server as seen from the node and from the API.
	step(t, "static pod", func(t *testing.T) {
		if c.opts.StaticAPIServer && slices.ContainsFunc(c.procs, func(p *proc) bool { return p.name == "kube-apiserver" }) {
			t.Error("a kube-apiserver process was started beside the static pod")
		}
		// The process serving is a container: it sits in the kubelet's cgroup root.
		if inPod := apiServerPids(); len(inPod) != 1 {
			t.Errorf("want one kube-apiserver process in cgroup /%s/…, found %v", cgroupName, inPod)
		}
		pod := waitMirrorRunning(ctx, t, c, mirrorName)
		if _, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]; !ok {
			t.Errorf("pod %s has no %s annotation: not a mirror pod", mirrorName, corev1.MirrorPodAnnotationKey)
		}
		ctr := pod.Spec.Containers[0]
		if !pod.Spec.HostNetwork || ctr.ImagePullPolicy != corev1.PullNever || !strings.HasPrefix(ctr.Image, "imagelab.local/kube-apiserver:v") {
			t.Errorf("mirror pod: hostNetwork %v, image %s, pull policy %s; want hostNetwork, imagelab.local/kube-apiserver:<version>, Never",
				pod.Spec.HostNetwork, ctr.Image, ctr.ImagePullPolicy)
		}
		t.Logf("mirror pod %s/%s: %s, image %s, container %s", pod.Namespace, pod.Name, pod.Status.Phase, ctr.Image, pod.Status.ContainerStatuses[0].ContainerID)
		node, err := c.client.CoreV1().Nodes().Get(ctx, n.Name(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(node.Status.Conditions, func(c corev1.NodeCondition) bool {
			return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		}) {
			t.Errorf("node %s is not Ready: %+v", n.Name(), node.Status.Conditions)
		}
		// The files, where the node says they are, and their copies.
		for _, f := range []string{files.APIServerManifest, files.KubeletConfig} {
			now, err := n.ReadFile(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			backup, err := n.ReadFile(ctx, filepath.Join(files.Backups, filepath.Base(f)))
			if err != nil || !bytes.Equal(now, backup) {
				t.Errorf("no copy of %s in %s (%v)", f, files.Backups, err)
			}
		}
		if !strings.HasSuffix(files.APIServerManifest, "/etc/kubernetes/manifests/kube-apiserver.yaml") ||
			!strings.HasSuffix(files.KubeletConfig, "/var/lib/kubelet/config.yaml") {
			t.Errorf("files not at kubeadm's paths: %+v", files)
		}
		// The node's shell: the cluster's kubectl and containerd at hand.
		out, err := n.Run(ctx, "kubectl", "get", "pods", "-n", "kube-system", "-o", "name")
		if err != nil || !strings.Contains(out, "pod/"+mirrorName) {
			t.Errorf("kubectl on the node: %v\n%s", err, out)
		}
		out, err = n.Run(ctx, "ctr", "images", "ls", "-q")
		if err != nil || !strings.Contains(out, ctr.Image) {
			t.Errorf("ctr images ls on the node: %v\n%s", err, out)
		}
	})

	step(t, "private image", func(t *testing.T) {
		k.must(t, appPod("no-secret", ns, image, false), "apply", "-f", "-")
		k.waitRefused(t, ns, "no-secret")
		k.runsWithSecret(t, ns, "with-secret", image, reg)
	})

	// AlwaysPullImages added the way sed would, several times: the kubelet
	// restarts the API server, which then rewrites the pull policy.
	var editTimes, downTimes []time.Duration
	step(t, "AlwaysPullImages edit", func(t *testing.T) {
		if got := dryRunPullPolicy(ctx, t, c, ns, image); got != corev1.PullIfNotPresent {
			t.Fatalf("before the edit a dry-run pod came back with imagePullPolicy %s, want IfNotPresent", got)
		}
		const plain, with = "--enable-admission-plugins=NodeRestriction\n", "--enable-admission-plugins=NodeRestriction,AlwaysPullImages\n"
		for round := 1; round <= 2; round++ {
			for _, e := range []struct {
				from, to string
				want     corev1.PullPolicy
			}{{plain, with, corev1.PullAlways}, {with, plain, corev1.PullIfNotPresent}} {
				edited := sedManifest(ctx, t, n, e.from, e.to)
				down, ready := waitRestarted(ctx, t, c, edited)
				editTimes = append(editTimes, ready)
				downTimes = append(downTimes, down)
				got := dryRunPullPolicy(ctx, t, c, ns, image)
				t.Logf("round %d, %s: down after %v, ready again after %v; dry-run pod's imagePullPolicy: %s",
					round, strings.TrimSpace(strings.TrimPrefix(e.to, "--enable-admission-plugins=")), down.Round(time.Millisecond), ready.Round(time.Millisecond), got)
				if got != e.want {
					t.Fatalf("a dry-run pod with imagePullPolicy IfNotPresent came back with %s, want %s", got, e.want)
				}
			}
		}
		t.Logf("manifest write → /readyz ok: median %v of %d edits %v; write → down: median %v",
			median(editTimes).Round(time.Millisecond), len(editTimes), roundAll(editTimes), median(downTimes).Round(time.Millisecond))
		// The kubelet and the scheduler watch through the API server that
		// just restarted: how long until they act on a new pod?
		began := time.Now()
		k.must(t, appPod("after-restart", ns, image, true), "apply", "-f", "-")
		k.must(t, "", "-n", ns, "wait", "--for=condition=Ready", "pod/after-restart", "--timeout=180s")
		pod, err := c.client.CoreV1().Pods(ns).Get(ctx, "after-restart", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("a new pod right after the last restart: Ready after %v (scheduled %s, started %s, created %s)", time.Since(began).Round(time.Millisecond),
			condTime(pod, corev1.PodScheduled), pod.Status.StartTime.Format("15:04:05"), pod.CreationTimestamp.Format("15:04:05"))
	})

	// A flag the API server refuses: it exits at once, again and again;
	// its container's log says why.
	step(t, "bad flag", func(t *testing.T) {
		edited := sedManifest(ctx, t, n, "--enable-admission-plugins=NodeRestriction\n", "--enable-admission-plugins=NodeRestriction,NoSuchPlugin\n")
		// klog quotes the error: \"NoSuchPlugin\" in the log line.
		why := waitBroken(ctx, t, c, n, edited, `enable-admission-plugins plugin \"NoSuchPlugin\" is unknown`)
		t.Logf("the node's words: %s", why)
		resetManifest(ctx, t, c, env, n)
	})

	// YAML that does not parse (a tab in the indentation, as an editor
	// may put it): the kubelet drops the pod; its log says why.
	step(t, "invalid YAML", func(t *testing.T) {
		edited := sedManifest(ctx, t, n, "\n  containers:\n  - command:\n", "\n  containers:\n\t- command:\n")
		why := waitBroken(ctx, t, c, n, edited, "couldn't parse as pod")
		t.Logf("the node's words: %s", why)
		if !strings.Contains(why, files.APIServerManifest) {
			t.Errorf("the reason does not name the manifest %s", files.APIServerManifest)
		}
		resetManifest(ctx, t, c, env, n)
	})

	// The kubelet's config: edited, the kubelet restarted, the effective
	// value read back through the API server; then reset.
	var restartTimes []time.Duration
	restart := func(t *testing.T, what string, do func() error) {
		t.Helper()
		before := apiServerPids()
		began := time.Now()
		err := do()
		took := waitHeartbeat(ctx, t, c, n.Name(), began)
		if err == nil {
			restartTimes = append(restartTimes, took)
		} else {
			hb := "?"
			if node, gerr := c.client.CoreV1().Nodes().Get(ctx, n.Name(), metav1.GetOptions{}); gerr == nil {
				for _, cd := range node.Status.Conditions {
					if cd.Type == corev1.NodeReady {
						hb = string(cd.Status) + ", heartbeat " + cd.LastHeartbeatTime.Format("15:04:05")
					}
				}
			}
			// Seen with check.WaitNodeReady as of d47c928: it wants the
			// Ready heartbeat (whole seconds) not before the wait began
			// (nanoseconds); the kubelet writes it within a second of its
			// start, so in the same second, and then not for minutes.
			t.Errorf("%s: %v — yet the node's lease was renewed and it was Ready %v after the reset began (Ready %s; began %s)",
				what, err, took.Round(time.Millisecond), hb, began.Format("15:04:05.000"))
		}
		t.Logf("%s → node Ready: %v", what, took.Round(time.Millisecond))
		// As systemctl restart kubelet: the containers run on.
		if after := apiServerPids(); !slices.Equal(before, after) || len(after) != 1 {
			t.Errorf("the API server's process was %v before the kubelet restarted, %v after; want the same one", before, after)
		}
		if !readyz(ctx, c) {
			t.Error("the API server is not ready after the kubelet restarted")
		}
	}
	step(t, "kubelet config", func(t *testing.T) {
		const field = "imagePullCredentialsVerificationPolicy"
		if got := configz(ctx, t, c, n.Name(), field); got != "NeverVerifyPreloadedImages" {
			t.Fatalf("configz %s = %q, want the default NeverVerifyPreloadedImages", field, got)
		}
		restart(t, "RestartKubelet", func() error { return n.RestartKubelet(ctx) })
		old, err := n.ReadFile(ctx, files.KubeletConfig)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(old, []byte(field)) {
			t.Fatalf("the kubelet config sets %s already", field)
		}
		if err := n.WriteFile(ctx, files.KubeletConfig, append(old, []byte(field+": NeverVerify\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		restart(t, "RestartKubelet", func() error { return n.RestartKubelet(ctx) })
		if got := configz(ctx, t, c, n.Name(), field); got != "NeverVerify" {
			t.Fatalf("after the edit and a restart configz %s = %q, want NeverVerify", field, got)
		}
		restart(t, "KubeletConfig.Reset", func() error {
			// Restoring the file, restarting the kubelet and seeing the
			// node Ready take seconds; a minute is plenty.
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			return check.KubeletConfig.Reset(ctx, env, "")
		})
		if got := configz(ctx, t, c, n.Name(), field); got != "NeverVerifyPreloadedImages" {
			t.Fatalf("after the reset configz %s = %q, want NeverVerifyPreloadedImages", field, got)
		}
		now, _ := n.ReadFile(ctx, files.KubeletConfig)
		if !bytes.Equal(now, old) {
			t.Error("the reset did not put the original kubelet config back")
		}
		restart(t, "RestartKubelet", func() error { return n.RestartKubelet(ctx) })
		t.Logf("kubelet restart → node Ready: median %v of %v", median(restartTimes).Round(time.Millisecond), roundAll(restartTimes))
	})
}

// step runs a subtest and stops the test when it fails: each step starts
// from the state the one before left.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// sedManifest replaces from by to in the API server's manifest, once, as
// sed -i would, and returns when it wrote.
func sedManifest(ctx context.Context, t *testing.T, n check.Node, from, to string) time.Time {
	t.Helper()
	file := n.Files().APIServerManifest
	b, err := n.ReadFile(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(from)) {
		t.Fatalf("%s does not contain %q:\n%s", file, from, b)
	}
	b = bytes.Replace(b, []byte(from), []byte(to), 1)
	if err := n.WriteFile(ctx, file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// readyz asks the API server whether it is ready, waiting at most a second.
func readyz(ctx context.Context, c *Cluster) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil && string(body) == "ok"
}

// waitRestarted waits for the API server to go away after a manifest
// edit (the old one stopping) and to answer /readyz again (the new one).
func waitRestarted(ctx context.Context, t *testing.T, c *Cluster, since time.Time) (down, ready time.Duration) {
	t.Helper()
	for readyz(ctx, c) {
		if time.Since(since) > time.Minute {
			t.Fatal("the API server still answers a minute after its manifest changed: the kubelet did not restart it")
		}
		time.Sleep(50 * time.Millisecond)
	}
	down = time.Since(since)
	for !readyz(ctx, c) {
		if time.Since(since) > check.ControlPlaneRestartTimeout {
			why, _ := check.APIServerFailure(ctx, c.Node())
			t.Fatalf("the API server did not come back within %v after its manifest changed (the node says: %q)", check.ControlPlaneRestartTimeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return down, time.Since(since)
}

// waitBroken waits until the API server is gone and APIServerFailure
// names the reason, and checks that it stays gone meanwhile.
func waitBroken(ctx context.Context, t *testing.T, c *Cluster, n check.Node, since time.Time, want string) string {
	t.Helper()
	for readyz(ctx, c) {
		if time.Since(since) > time.Minute {
			t.Fatal("the API server still answers a minute after its manifest was broken")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("API server down %v after the write", time.Since(since).Round(time.Millisecond))
	var why string
	for {
		var err error
		why, err = check.APIServerFailure(ctx, n)
		if err != nil {
			t.Fatalf("APIServerFailure: %v", err)
		}
		if strings.Contains(why, want) {
			break
		}
		if readyz(ctx, c) {
			t.Fatal("the API server answers again with a broken manifest")
		}
		if time.Since(since) > 2*time.Minute {
			t.Fatalf("after 2 minutes APIServerFailure says %q, want it to contain %q", why, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("reason found %v after the write", time.Since(since).Round(time.Millisecond))
	// Still down a while later: the kubelet does not get it running.
	time.Sleep(5 * time.Second)
	if readyz(ctx, c) {
		t.Fatal("the API server answers again with a broken manifest")
	}
	return why
}

// resetManifest resets the manifest with the check package's reset and
// checks that a healthy API server is back, with the original flags.
func resetManifest(ctx context.Context, t *testing.T, c *Cluster, env *check.Env, n check.Node) {
	t.Helper()
	began := time.Now()
	if err := check.APIServerManifest.Reset(ctx, env, ""); err != nil {
		why, werr := check.APIServerFailure(ctx, n)
		logs, _ := n.Run(ctx, "sh", "-c", "ls -lR "+n.Files().PodLogs+" | tail -n 20; for f in $(find "+n.Files().PodLogs+
			" -path '*kube-apiserver*' -name '*.log' | sort | tail -n 2); do echo \"== $f\"; tail -n 15 \"$f\"; done")
		t.Fatalf("APIServerManifest.Reset: %v\nthe node says: %q (%v)\nthe API server's logs:\n%s", err, why, werr, logs)
	}
	t.Logf("APIServerManifest.Reset → API server ready: %v", time.Since(began).Round(time.Millisecond))
	files := n.Files()
	now, _ := n.ReadFile(ctx, files.APIServerManifest)
	orig, _ := n.ReadFile(ctx, filepath.Join(files.Backups, filepath.Base(files.APIServerManifest)))
	if !bytes.Equal(now, orig) {
		t.Error("the reset did not put the original manifest back")
	}
	if !readyz(ctx, c) {
		t.Fatal("the API server is not ready after the reset")
	}
	// The new API server logs errors as it starts (after a kill: "Found
	// stale data…"), but it runs: no reason to give.
	if why, err := check.APIServerFailure(ctx, n); err != nil || why != "" {
		t.Errorf("after the reset APIServerFailure = %q, %v; want nothing", why, err)
	}
}

// dryRunPullPolicy creates a pod with imagePullPolicy IfNotPresent as a
// server-side dry run and returns the policy the API server stored.
func dryRunPullPolicy(ctx context.Context, t *testing.T, c *Cluster, ns, image string) corev1.PullPolicy {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "dry-run", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent}}},
	}
	got, err := c.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("dry-run pod create: %v", err)
	}
	return got.Spec.Containers[0].ImagePullPolicy
}

// waitMirrorRunning waits until the API server's mirror pod is Running.
func waitMirrorRunning(ctx context.Context, t *testing.T, c *Cluster, name string) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		pod, err := c.client.CoreV1().Pods(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
		if err == nil && pod.Status.Phase == corev1.PodRunning && len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].State.Running != nil {
			return pod
		}
		if time.Now().After(deadline) {
			phase := ""
			if pod != nil {
				phase = string(pod.Status.Phase)
			}
			t.Fatalf("mirror pod kube-system/%s not Running after a minute (%q, %v)", name, phase, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitHeartbeat waits until the node is Ready and its kubelet has renewed
// the node's Lease after since (the heartbeat, in microseconds: the Ready
// condition's own heartbeat has whole seconds, and a kubelet that finds
// nothing changed rewrites it only every nodeStatusReportFrequency, 5
// minutes), and returns how long after since that was seen.
func waitHeartbeat(ctx context.Context, t *testing.T, c *Cluster, node string, since time.Time) time.Duration {
	t.Helper()
	for {
		lease, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node, metav1.GetOptions{})
		renewed := err == nil && lease.Spec.RenewTime != nil && lease.Spec.RenewTime.Time.After(since)
		if renewed {
			n, err := c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err == nil && slices.ContainsFunc(n.Status.Conditions, func(cd corev1.NodeCondition) bool {
				return cd.Type == corev1.NodeReady && cd.Status == corev1.ConditionTrue
			}) {
				return time.Since(since)
			}
		}
		if time.Since(since) > 2*time.Minute {
			t.Fatalf("node %s not Ready with its lease renewed after %s within 2 minutes", node, since.Format("15:04:05.000"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiServerPids lists the kube-apiserver processes in the kubelet's cgroup
// root: the static pod's container.
func apiServerPids() []int {
	var pids []int
	for pid, comm := range clusterProcs() {
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if comm == "kube-apiserver" && bytes.Contains(cg, []byte("/"+cgroupName+"/")) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

func condTime(pod *corev1.Pod, typ corev1.PodConditionType) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.LastTransitionTime.Format("15:04:05")
		}
	}
	return "-"
}

// configz reads a field of the kubelet's effective config through the API
// server's node proxy, once the restarted kubelet serves it.
func configz(ctx context.Context, t *testing.T, c *Cluster, node, field string) string {
	t.Helper()
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		body, err := c.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + node + "/proxy/configz").DoRaw(ctx)
		if err != nil {
			last = err
			continue
		}
		var cz struct {
			KubeletConfig map[string]any `json:"kubeletconfig"`
		}
		if err := json.Unmarshal(body, &cz); err != nil {
			t.Fatalf("configz: %v: %s", err, body)
		}
		v, _ := cz.KubeletConfig[field].(string)
		return v
	}
	t.Fatalf("configz through the node proxy: %v", last)
	return ""
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
