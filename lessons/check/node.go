package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Node is the sandbox's control-plane node as the exam gives it: a root
// shell on the machine where the API server runs as a static pod and the
// kubelet reads its config file. The caller provides one for a cluster
// imagelab made (kind: the node container; the tests: a local node);
// a cluster named with --kubeconfig, or a workshop namespace, has none.
type Node interface {
	// Name is the node's name in the cluster.
	Name() string
	// ReadFile and WriteFile reach the node's file system.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	WriteFile(ctx context.Context, name string, data []byte, perm os.FileMode) error
	// Run runs a command on the node and returns its combined output.
	Run(ctx context.Context, args ...string) (string, error)
	// RestartKubelet restarts the kubelet, as systemctl restart kubelet does.
	RestartKubelet(ctx context.Context) error
	// Files says where the files the lessons edit live on this node.
	Files() NodeFiles
}

// NodeFiles are the paths, on the node, of what the control-plane lessons
// edit, and where the originals are kept to reset from.
type NodeFiles struct {
	// APIServerManifest is the API server's static pod manifest
	// (/etc/kubernetes/manifests/kube-apiserver.yaml).
	APIServerManifest string
	// KubeletConfig is the kubelet's config file (/var/lib/kubelet/config.yaml).
	KubeletConfig string
	// PodLogs is the kubelet's pod log dir (/var/log/pods).
	PodLogs string
	// ImagePolicy is where imagelab puts the ImagePolicyWebhook backend's
	// kubeconfig and certificates (/etc/kubernetes/imagepolicy).
	ImagePolicy string
	// Backups holds the originals of the files above, by base name, taken
	// before the learner could change them.
	Backups string
}

// ErrUnavailable means a step cannot run on this sandbox at all (not
// "not done yet", not "could not check"): it needs a part the sandbox
// does not have, such as the control-plane node of a cluster imagelab did
// not make. The error says why and what to use instead.
var ErrUnavailable = errors.New("this step is not available here")

// BackUpNodeFiles keeps a copy of each file the lessons edit, once: the
// first copy is the original, whatever happens later.
func BackUpNodeFiles(ctx context.Context, n Node) error {
	f := n.Files()
	if _, err := n.Run(ctx, "mkdir", "-p", f.Backups); err != nil {
		return fmt.Errorf("making %s on node %s: %w", f.Backups, n.Name(), err)
	}
	for _, file := range []string{f.APIServerManifest, f.KubeletConfig} {
		backup := path.Join(f.Backups, path.Base(file))
		if _, err := n.ReadFile(ctx, backup); err == nil {
			continue
		}
		data, err := n.ReadFile(ctx, file)
		if err != nil {
			return fmt.Errorf("reading %s on node %s: %w", file, n.Name(), err)
		}
		if err := n.WriteFile(ctx, backup, data, 0o600); err != nil {
			return fmt.Errorf("keeping a copy of %s: %w", file, err)
		}
	}
	return nil
}

// restoreNodeFile puts the original of file back, if it differs.
func restoreNodeFile(ctx context.Context, n Node, file string) (changed bool, err error) {
	backup := path.Join(n.Files().Backups, path.Base(file))
	orig, err := n.ReadFile(ctx, backup)
	if err != nil {
		return false, fmt.Errorf("no copy of %s to reset from (%s): %w", file, backup, err)
	}
	now, err := n.ReadFile(ctx, file)
	if err == nil && string(now) == string(orig) {
		return false, nil
	}
	return true, n.WriteFile(ctx, file, orig, 0o600)
}

// Subjects on the node. Nothing tells when the learner edits them, and
// their effect shows only in the API server's or the kubelet's behaviour:
// steps on them poll.
var (
	// APIServerManifest is the API server's static pod manifest; reset puts
	// the original back and waits until the API server answers again.
	APIServerManifest = &Subject{Kind: "apiserver-manifest", Seen: SeenByPolling, Reset: resetAPIServerManifest}
	// KubeletConfig is the kubelet's config file; reset puts the original
	// back, restarts the kubelet and waits until the node is Ready.
	KubeletConfig = &Subject{Kind: "kubelet-config", Seen: SeenByPolling, Reset: resetKubeletConfig}
)

// ControlPlaneRestartTimeout is how long a reset waits for the API server
// (or the kubelet) to come back.
const ControlPlaneRestartTimeout = 3 * time.Minute

func resetAPIServerManifest(ctx context.Context, env *Env, _ string) error {
	if env.Node == nil {
		return ErrUnavailable
	}
	began := time.Now()
	changed, err := restoreNodeFile(ctx, env.Node, env.Node.Files().APIServerManifest)
	if err != nil || !changed {
		return err
	}
	// The old API server may answer for a while yet (the kubelet gives it
	// 30 s to stop): wait for one that started after the file was put back.
	if err := WaitAPIServerRestarted(ctx, env, began, ControlPlaneRestartTimeout); err != nil {
		// Say why, in the node's words, when it does say.
		if why, ferr := APIServerFailure(ctx, env.Node); ferr == nil && why != "" {
			return env.Errorf("%w; the node says: %s", err, why)
		}
		return err
	}
	return nil
}

func resetKubeletConfig(ctx context.Context, env *Env, _ string) error {
	if env.Node == nil {
		return ErrUnavailable
	}
	changed, err := restoreNodeFile(ctx, env.Node, env.Node.Files().KubeletConfig)
	if err != nil || !changed {
		return err
	}
	began := time.Now()
	if err := env.Node.RestartKubelet(ctx); err != nil {
		return env.Errorf("restarting the kubelet: %w", err)
	}
	return WaitNodeReady(ctx, env, began, ControlPlaneRestartTimeout)
}

// WaitAPIServer waits until the API server says it is ready.
func WaitAPIServer(ctx context.Context, env *Env, timeout time.Duration) error {
	return WaitAPIServerRestarted(ctx, env, time.Time{}, timeout)
}

// WaitAPIServerRestarted waits until an API server that started after
// since (its process_start_time_seconds metric) says it is ready.
func WaitAPIServerRestarted(ctx context.Context, env *Env, since time.Time, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		body, err := env.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if last = err; err != nil || strings.TrimSpace(string(body)) != "ok" {
			return false, nil
		}
		if since.IsZero() {
			return true, nil
		}
		started, err := apiServerStart(ctx, env)
		last = err
		return err == nil && started.After(since.Add(-time.Second)), nil
	})
	if err != nil {
		return env.Errorf("the API server did not come back within %v: %v", timeout, last)
	}
	return nil
}

// apiServerStart is when the API server's process started, from its own
// metrics (whole seconds).
func apiServerStart(ctx context.Context, env *Env) (time.Time, error) {
	body, err := env.Kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "process_start_time_seconds "); ok {
			secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return time.Time{}, err
			}
			return time.Unix(int64(secs), 0), nil
		}
	}
	return time.Time{}, errors.New("the API server's metrics have no process_start_time_seconds")
}

// WaitNodeReady waits until the node's kubelet, restarted at since,
// reports again: its lease was renewed after since (microseconds, unlike
// the condition's heartbeat in whole seconds) and the node is Ready.
func WaitNodeReady(ctx context.Context, env *Env, since time.Time, timeout time.Duration) error {
	name := env.Node.Name()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		lease, err := env.Kube.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{})
		if err != nil || lease.Spec.RenewTime == nil || !lease.Spec.RenewTime.After(since) {
			return false, nil
		}
		n, err := env.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && nodeReady(n), nil
	})
	if err != nil {
		return env.Errorf("node %s was not Ready again within %v", name, timeout)
	}
	return nil
}
