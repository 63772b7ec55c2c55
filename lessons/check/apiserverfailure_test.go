package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// failingNode is a node whose API server does not come back: its files
// under a temp dir, and a kubelet log the test writes.
type failingNode struct {
	localNode
	kubelet string
}

func (n *failingNode) Files() NodeFiles {
	f := n.localNode.Files()
	f.PodLogs = filepath.Join(n.root, "pods")
	return f
}

func (n *failingNode) KubeletLog(context.Context) (string, error) { return n.kubelet, nil }

// klog formats a kubelet log line as the node writes it (local time).
func klog(level byte, at time.Time, msg string) string {
	return fmt.Sprintf("%c%s %7d server.go:42] %s\n", level, at.Local().Format("0102 15:04:05.000000"), 1234, msg)
}

// containerLog writes the API server's log of one start (restart count
// start), one CRI line per text, a millisecond apart from at.
func (n *failingNode) containerLog(t *testing.T, start int, at time.Time, texts ...string) {
	t.Helper()
	dir := filepath.Join(n.Files().PodLogs, "kube-system_kube-apiserver-local_0123", "kube-apiserver")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i, text := range texts {
		fmt.Fprintf(&b, "%s stderr F %s\n", at.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano), text)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.log", start)), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newFailingNode is a node whose manifest changed at changed.
func newFailingNode(t *testing.T, manifest string, changed time.Time) *failingNode {
	t.Helper()
	n := &failingNode{localNode: localNode{t.TempDir()}}
	f := n.Files()
	if err := os.MkdirAll(f.PodLogs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.APIServerManifest, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(f.APIServerManifest, changed, changed); err != nil {
		t.Fatal(err)
	}
	return n
}

// APIServerFailure quotes the node's own words for why the API server
// does not run, only those said since the manifest last changed, and
// nothing for one that runs but logs errors.
func TestAPIServerFailure(t *testing.T) {
	ctx := context.Background()
	changed := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	after := func(d time.Duration) time.Time { return changed.Add(d) }
	const badFlag = `E1129 06:00:00.874425       1 run.go:72] "command failed" err="enable-admission-plugins plugin \"NoSuchPlugin\" is unknown"`

	t.Run("the kubelet cannot read the manifest", func(t *testing.T) {
		n := newFailingNode(t, "spec:\n  containers:\n  - name: a\n   image: b\n", changed)
		f := n.Files()
		n.kubelet = klog('E', changed.Add(-time.Minute), "an older complaint about "+f.APIServerManifest+`: "Could not process manifest file" err="old"`) +
			klog('E', after(2*time.Second), `"Could not process manifest file" err="yaml: line 4: did not find expected key" path="`+f.APIServerManifest+`"`)
		got, err := APIServerFailure(ctx, n)
		if err != nil || !strings.Contains(got, "did not find expected key") || !strings.Contains(got, "Could not process manifest file") {
			t.Errorf("got %q, %v; want the kubelet's line", got, err)
		}
	})

	t.Run("invalid YAML before the kubelet says so", func(t *testing.T) {
		n := newFailingNode(t, "spec:\n  containers:\n  - name: a\n   image: b\n", changed)
		n.kubelet = klog('E', changed.Add(-time.Minute), `"Could not process manifest file" err="old" path="`+n.Files().APIServerManifest+`"`)
		got, err := APIServerFailure(ctx, n)
		if err != nil || !strings.Contains(got, "is not valid YAML") {
			t.Errorf("got %q, %v; want the YAML error (the kubelet's line is older than the change)", got, err)
		}
	})

	t.Run("a flag the API server refuses", func(t *testing.T) {
		n := newFailingNode(t, webhookManifest, changed)
		n.containerLog(t, 0, after(time.Second), "I1129 06:00:00.100000       1 options.go:220] external host was not specified", badFlag)
		n.containerLog(t, 1, after(12*time.Second), "I1129 06:00:12.100000       1 options.go:220] external host was not specified")
		got, err := APIServerFailure(ctx, n)
		if err != nil || !strings.Contains(got, `plugin \"NoSuchPlugin\" is unknown`) {
			t.Errorf("got %q, %v; want the ended start's last error", got, err)
		}
	})

	t.Run("the only start crash-loops", func(t *testing.T) {
		n := newFailingNode(t, webhookManifest, changed)
		n.containerLog(t, 0, after(time.Second), badFlag)
		n.kubelet = klog('E', after(3*time.Second), `"Error syncing pod, skipping" err="failed to \"StartContainer\" for \"kube-apiserver\" with CrashLoopBackOff" pod="kube-system/kube-apiserver-local"`)
		got, err := APIServerFailure(ctx, n)
		if err != nil || !strings.Contains(got, "NoSuchPlugin") {
			t.Errorf("got %q, %v; want the container's error, not the back-off", got, err)
		}
	})

	t.Run("a running API server that logged an error", func(t *testing.T) {
		n := newFailingNode(t, webhookManifest, changed)
		n.containerLog(t, 0, after(time.Second), `E1129 06:00:01.000000       1 controller.go:145] "Found stale data, removed previous endpoints on kubernetes service"`)
		got, err := APIServerFailure(ctx, n)
		if err != nil || got != "" {
			t.Errorf("got %q, %v; want nothing: it has not ended", got, err)
		}
	})

	t.Run("a start that failed before the change", func(t *testing.T) {
		n := newFailingNode(t, webhookManifest, changed)
		n.containerLog(t, 0, changed.Add(-time.Minute), badFlag)
		n.containerLog(t, 1, changed.Add(-50*time.Second), "I1129 starting")
		got, err := APIServerFailure(ctx, n)
		if err != nil || got != "" {
			t.Errorf("got %q, %v; want nothing: the failure is older than the manifest", got, err)
		}
	})

	t.Run("a hostPath that is not there", func(t *testing.T) {
		n := newFailingNode(t, webhookManifest, changed)
		n.kubelet = klog('E', after(2*time.Second), `"Error syncing pod, skipping" err="failed to \"CreatePodSandbox\"" pod="kube-system/kube-apiserver-local"`) +
			klog('E', after(3*time.Second), `"Unable to attach or mount volumes" err="hostPath type check failed: /etc/kubernetes/imagepolicy is not a directory" pod="kube-system/kube-apiserver-local"`)
		got, err := APIServerFailure(ctx, n)
		if err != nil || !strings.Contains(got, "hostPath type check failed") {
			t.Errorf("got %q, %v; want the kubelet's last start error", got, err)
		}
	})

	t.Run("no manifest", func(t *testing.T) {
		n := newFailingNode(t, webhookManifest, changed)
		if err := os.Remove(n.Files().APIServerManifest); err != nil {
			t.Fatal(err)
		}
		got, err := APIServerFailure(ctx, n)
		if err != nil || !strings.Contains(got, "is not there") {
			t.Errorf("got %q, %v", got, err)
		}
	})

	t.Run("no node", func(t *testing.T) {
		if _, err := APIServerFailure(ctx, nil); !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}
