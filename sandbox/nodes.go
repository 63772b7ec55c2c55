package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodePlatform is the platform the cluster's nodes run, as their kubelets
// report it (status.nodeInfo). Nil when it is not one platform: no node
// registered yet, nodes of several architectures, or nodes that may not
// be listed (a shared cluster).
func nodePlatform(ctx context.Context, client kubernetes.Interface) *v1.Platform {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		return nil
	}
	var p *v1.Platform
	for _, n := range nodes.Items {
		info := n.Status.NodeInfo
		if info.Architecture == "" {
			return nil
		}
		os := info.OperatingSystem
		if os == "" {
			os = "linux"
		}
		this := &v1.Platform{OS: os, Architecture: info.Architecture}
		if p != nil && !p.Equals(*this) {
			return nil
		}
		p = this
	}
	return p
}

// ErrNodeNotReady means a node did not become Ready in time.
var ErrNodeNotReady = errors.New("the cluster's node is not Ready")

// waitNodesReady waits, through the API, until every node is Ready. kind's
// own wait logs a warning and returns nil on timeout; this one fails, and
// says what the node's conditions say (the kubelet's reason and message).
func waitNodesReady(ctx context.Context, client kubernetes.Interface, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		why := nodesNotReady(ctx, client)
		if why == "" {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s: %s", ErrNodeNotReady, limit, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// nodesNotReady says why the nodes are not all Ready; "" when they are.
func nodesNotReady(ctx context.Context, client kubernetes.Interface) string {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "listing nodes: " + err.Error()
	}
	if len(nodes.Items) == 0 {
		return "no node has registered"
	}
	var why []string
	for _, n := range nodes.Items {
		if !nodeReady(&n) {
			why = append(why, describeNode(&n))
		}
	}
	return strings.Join(why, "; ")
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describeNode names a node's Ready condition and every condition that
// signals trouble (a pressure, the network unavailable), each with the
// kubelet's reason and message.
func describeNode(n *corev1.Node) string {
	var parts []string
	ready := false
	for _, c := range n.Status.Conditions {
		trouble := c.Type != corev1.NodeReady && c.Status == corev1.ConditionTrue
		if c.Type == corev1.NodeReady {
			ready = true
		} else if !trouble {
			continue
		}
		part := fmt.Sprintf("%s=%s", c.Type, c.Status)
		if c.Reason != "" || c.Message != "" {
			part += fmt.Sprintf(" (%s: %s)", c.Reason, c.Message)
		}
		parts = append(parts, part)
	}
	if !ready {
		parts = append([]string{"no Ready condition yet (the kubelet has not reported)"}, parts...)
	}
	return "node " + n.Name + ": " + strings.Join(parts, ", ")
}
