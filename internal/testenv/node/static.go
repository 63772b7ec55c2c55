package node

// The control plane the kubeadm way (Options.StaticAPIServer): the
// kube-apiserver is a static pod of the node's kubelet, and the node
// itself — the exam's ssh shell — is this host, reached through Node().

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/imagelab/imagelab/lessons/check"
)

// apiServerImage names the locally built API server image after the
// binary's version, as registry.k8s.io/kube-apiserver:<version> would be.
func apiServerImage(bin string) string {
	tag := "local"
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		// "Kubernetes v1.37.2"
		if f := strings.Fields(string(out)); len(f) == 2 && strings.HasPrefix(f[1], "v") {
			tag = f[1]
		}
	}
	return "imagelab.local/kube-apiserver:" + tag
}

// apiServerManifest is the static pod manifest, shaped like the one kubeadm
// writes (same labels, probes, priority, seccomp, hostNetwork, hostPath
// volumes; marshalled from the Pod type as kubeadm does, so the keys come
// in the same order), with the state dir's paths mounted at the same place
// inside the container.
func (c *Cluster) apiServerManifest(image string, flags []string) ([]byte, error) {
	probe := func(path string, failures, delay, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Host: "127.0.0.1", Path: path, Port: intstr.FromInt32(int32(c.apiPort)), Scheme: corev1.URISchemeHTTPS,
			}},
			FailureThreshold: failures, InitialDelaySeconds: delay, PeriodSeconds: period, TimeoutSeconds: 15,
		}
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	hostPath := func(name, path string) (corev1.Volume, corev1.VolumeMount) {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirOrCreate}}},
			corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true}
	}
	certsVol, certsMount := hostPath("k8s-certs", c.path(pkiDir))
	admVol, admMount := hostPath("admission", c.path(admissionDir))
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      check.APIServerPodName,
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{"component": "kube-apiserver", "tier": "control-plane"},
			Annotations: map[string]string{
				"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": fmt.Sprintf("127.0.0.1:%d", c.apiPort),
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            "kube-apiserver",
				Image:           image,
				ImagePullPolicy: corev1.PullNever, // built here, never pulled
				Command:         append([]string{"kube-apiserver"}, flags...),
				LivenessProbe:   probe("/livez", 8, 10, 10),
				ReadinessProbe:  probe("/readyz", 3, 0, 1),
				StartupProbe:    probe("/livez", 24, 10, 10),
				Resources:       corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
				VolumeMounts:    []corev1.VolumeMount{certsMount, admMount},
			}},
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			SecurityContext:   &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Volumes:           []corev1.Volume{certsVol, admVol},
		},
	}
	return yaml.Marshal(pod)
}

// Node is the control-plane node as a lesson's check sees it (the exam's
// ssh shell): this host, with the files at their kubeadm paths under the
// state dir. It is nil unless the cluster runs with StaticAPIServer.
func (c *Cluster) Node() check.Node {
	if c == nil || !c.opts.StaticAPIServer {
		return nil
	}
	return c.node()
}

func (c *Cluster) node() *hostNode { return &hostNode{c: c} }

// hostNode implements check.Node for a cluster whose node is this host.
type hostNode struct{ c *Cluster }

var _ check.Node = (*hostNode)(nil)

func (n *hostNode) Name() string { return nodeName }

func (n *hostNode) Files() check.NodeFiles {
	return check.NodeFiles{
		APIServerManifest: n.c.path(apiServerManifest),
		KubeletConfig:     n.c.path(kubeletConfigFile),
		PodLogs:           n.c.path(podLogsDir),
		Backups:           n.c.path(backupsDir),
		ImagePolicy:       n.c.path("etc/kubernetes/imagepolicy"),
	}
}

func (n *hostNode) ReadFile(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(name)
}

// WriteFile replaces name the way sed -i and most editors do: a new file
// beside it, renamed over it. The kubelet reads a manifest whenever it
// changes; a file truncated and then written could be read half-written,
// and a manifest that does not parse stops the API server.
// The temporary file's name starts with a dot: the kubelet ignores those.
func (n *hostNode) WriteFile(_ context.Context, name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".imagelab-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = func() error {
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(tmp, name)
	}()
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Run runs a command on this host as the exam's root shell would: PATH
// starts with the cluster's binaries (kubectl, kubelet…), KUBECONFIG is
// the admin kubeconfig, and ctr reaches the node's containerd in the
// k8s.io namespace.
func (n *hostNode) Run(ctx context.Context, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("run: no command")
	}
	path := n.c.opts.BinDir + ":" + os.Getenv("PATH")
	if os.Getenv("PATH") == "" {
		path = n.c.opts.BinDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	prog, err := lookPathIn(args[0], path)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, prog, args[1:]...)
	cmd.Env = append(filteredEnv("PATH", "KUBECONFIG", "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "CONTAINER_RUNTIME_ENDPOINT"),
		"PATH="+path,
		"KUBECONFIG="+n.c.Kubeconfig,
		"CONTAINERD_ADDRESS="+n.c.containerdSock,
		"CONTAINERD_NAMESPACE=k8s.io",
		"CONTAINER_RUNTIME_ENDPOINT=unix://"+n.c.containerdSock)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// lookPathIn finds an executable like exec.LookPath, in path rather than
// the test process's PATH.
func lookPathIn(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", file)
}

func (n *hostNode) RestartKubelet(ctx context.Context) error { return n.c.RestartKubelet(ctx) }

// KubeletLog is what journalctl -u kubelet shows on a kubeadm node: the
// kubelet's output (its last MiB), across restarts.
func (n *hostNode) KubeletLog(_ context.Context) (string, error) {
	return tailFile(n.c.path(kubeletLogFile), 1<<20)
}

func tailFile(name string, limit int64) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	off := max(0, fi.Size()-limit)
	b := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && n == 0 && len(b) > 0 {
		return "", err
	}
	s := string(b[:n])
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s, nil
}

// startKubelet starts the kubelet with c.kubeletArgs. The caller holds c.mu
// (or is Start, before anything else can run).
func (c *Cluster) startKubelet() error {
	p, err := startProcCopy(c.log, c.kubeletLog, "kubelet", c.kubeletArgs[0], c.kubeletArgs[1:]...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	c.kubelet = p
	return nil
}

// RestartKubelet stops the kubelet and starts it again with the same
// arguments, as systemctl restart kubelet does: it rereads its config file
// and keeps the running containers (the API server's among them). It
// returns once the new kubelet runs, not when the node is Ready again.
func (c *Cluster) RestartKubelet(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return errors.New("the cluster is stopping")
	}
	if c.kubelet == nil {
		return errors.New("no kubelet to restart")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	old := c.kubelet
	old.stop(10 * time.Second) // it stays in procs, for leftovers
	c.logf("kubelet stopped (%v); starting it again", old.err)
	return c.startKubelet()
}
