package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
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
	// NodeImagePolicy is where the ImagePolicyWebhook lesson finds the
	// backend's kubeconfig and certificates, as the exam gives them.
	NodeImagePolicy = "/etc/kubernetes/imagepolicy"
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

// hostNames are the names Docker Desktop and Podman give, inside
// containers, to the machine the engine serves.
var hostNames = []string{"host.docker.internal", "host.containers.internal"}

// HostAddress says how a process on the node reaches a server on this
// machine (imagelab's image policy webhook): the host to dial and the IP
// to listen on here.
//
//   - Docker Desktop (macOS, Windows, Linux): host.docker.internal; the
//     engine forwards it to this machine's loopback, so listen there.
//   - Podman: host.containers.internal, an address of this machine.
//   - Docker on Linux: the kind network's gateway, this machine's bridge.
//
// Rootless Docker's gateway lives in the engine's own network namespace,
// out of this machine's reach: the error says so.
func (n *KindNode) HostAddress(ctx context.Context) (dial, listen string, err error) {
	local, err := localIPs()
	if err != nil {
		return "", "", err
	}
	for _, name := range hostNames {
		out, err := n.Run(ctx, "getent", "ahostsv4", name)
		if err != nil {
			continue
		}
		if ip := firstAddress(out); ip != "" {
			if local[ip] {
				return name, ip, nil
			}
			return name, "127.0.0.1", nil
		}
	}
	network := kindNetworkFor(n.runtime.bin)
	out, err := n.runtime.run(ctx, nil, "network", "inspect", network, "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}")
	if err != nil {
		return "", "", fmt.Errorf("finding how the node reaches this machine: %w", err)
	}
	for _, gw := range strings.Fields(out) {
		if ip := net.ParseIP(gw); ip != nil && ip.To4() != nil && local[gw] {
			return gw, gw, nil
		}
	}
	return "", "", fmt.Errorf("%w: the %s network's gateway (%s) is not one of its addresses, as with rootless Docker; "+
		"the ImagePolicyWebhook step needs Docker Desktop, rootful Docker or Podman", ErrNodeCannotReachHost, network, strings.TrimSpace(out))
}

// ErrNodeCannotReachHost: no address on this machine is reachable from
// the node.
var ErrNodeCannotReachHost = errors.New("the node cannot reach this machine")

// firstAddress is the first IPv4 address in getent ahostsv4's output.
func firstAddress(getent string) string {
	for _, line := range strings.Split(getent, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if ip := net.ParseIP(f[0]); ip != nil && ip.To4() != nil {
				return f[0]
			}
		}
	}
	return ""
}

// localIPs are this machine's own addresses.
func localIPs() (map[string]bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out[ipn.IP.String()] = true
		}
	}
	return out, nil
}
