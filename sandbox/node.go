package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
)

// ErrNoNode means the sandbox has no control-plane node imagelab can
// reach: a cluster named with --kubeconfig (a managed cluster, someone
// else's) or a workshop namespace. Its message says what to use instead.
var ErrNoNode = errors.New("this sandbox is a cluster imagelab did not make, so imagelab has no shell on its control-plane node: the control-plane steps need a sandbox of imagelab up (a kind cluster)")

// Where a kind (kubeadm) node keeps what the control-plane lessons edit,
// and where imagelab keeps their originals (outside the manifests dir: a
// file there would be a static pod).
const (
	NodeAPIServerManifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
	NodeKubeletConfig     = "/var/lib/kubelet/config.yaml"
	NodePodLogs           = "/var/log/pods"
	NodeBackups           = "/var/lib/imagelab/backup"
)

// KindNode is the control-plane node of a kind sandbox: its container,
// reached with the runtime's exec, as the CKS exam reaches a node by ssh.
type KindNode struct {
	runtime   containerRuntime
	Container string
}

// ControlPlane is the sandbox's control-plane node, or ErrNoNode.
func (s *Sandbox) ControlPlane() (*KindNode, error) {
	if s.Provider != ProviderKind {
		return nil, ErrNoNode
	}
	bin := s.Runtime
	if bin == "" {
		bin = "docker"
	}
	return &KindNode{runtime: containerRuntime{bin: bin}, Container: s.Name + "-control-plane"}, nil
}

// Name is the node's name in the cluster: kind names nodes after their containers.
func (n *KindNode) Name() string { return n.Container }

// ReadFile reads a file on the node.
func (n *KindNode) ReadFile(ctx context.Context, name string) ([]byte, error) {
	out, err := n.exec(ctx, nil, "cat", "--", name)
	return out, err
}

// WriteFile writes a file on the node, replacing it whole (through a
// temporary file and a rename, so the kubelet never reads half a manifest).
func (n *KindNode) WriteFile(ctx context.Context, name string, data []byte, perm os.FileMode) error {
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".imagelab")
	script := fmt.Sprintf("cat > %s && chmod %o %s && mv -f %s %s", shq(tmp), perm, shq(tmp), shq(tmp), shq(name))
	_, err := n.exec(ctx, bytes.NewReader(data), "sh", "-c", script)
	return err
}

// Run runs a command on the node and returns its combined output.
func (n *KindNode) Run(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, n.runtime.bin, append([]string{"exec", n.Container}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("on node %s: %s: %v: %s", n.Container, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// RestartKubelet restarts the node's kubelet (kind nodes run systemd).
func (n *KindNode) RestartKubelet(ctx context.Context) error {
	_, err := n.exec(ctx, nil, "systemctl", "restart", "kubelet")
	return err
}

// ShellCommand is a root shell on the node, for the learner.
func (n *KindNode) ShellCommand() *exec.Cmd {
	ps1 := fmt.Sprintf(`PS1='%s root@%s:\w# '`, PromptMarker, n.Container)
	return exec.Command(n.runtime.bin, "exec", "-it", "-e", "TERM="+os.Getenv("TERM"), n.Container,
		"bash", "-c", ps1+" exec bash --norc -i")
}

func (n *KindNode) exec(ctx context.Context, stdin *bytes.Reader, args ...string) ([]byte, error) {
	full := append([]string{"exec", "-i", n.Container}, args...)
	cmd := exec.CommandContext(ctx, n.runtime.bin, full...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return out.Bytes(), fmt.Errorf("on node %s: %s: %v: %s", n.Container, strings.Join(args, " "), err, msg)
	}
	return out.Bytes(), nil
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
