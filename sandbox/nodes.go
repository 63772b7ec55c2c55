package sandbox

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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
