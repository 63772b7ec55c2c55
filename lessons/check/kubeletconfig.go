package check

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	Register(Definition{
		Name:    "kubelet.credential-verification",
		Params:  []string{"policy"},
		Needs:   NeedsCluster | NeedsRegistry | NeedsNode,
		Watches: []*Subject{KubeletConfig},
		Resets:  []*Subject{KubeletConfig},
		Criteria: []Criterion{
			{Name: "kubelet-ready", Doc: "the kubelet runs and the node is Ready after the change", Gate: true},
			{Name: "policy", Doc: "the running kubelet's imagePullCredentialsVerificationPolicy is the one asked for", Gate: true},
			{Name: "behaviour", Doc: "a pod without credentials meets the cached private image as the policy says: refused, or (NeverVerify) run"},
		},
		Run: checkCredentialVerification,
	})
}

// policyField is the kubelet config field KEP-2535 added.
const policyField = "imagePullCredentialsVerificationPolicy"

// checkCredentialVerification passes when the kubelet on the node runs
// with the policy asked for: read from its effective config (/configz,
// through the API server's node proxy), not from the file, which means
// nothing until the kubelet is restarted.
func checkCredentialVerification(ctx context.Context, env *Env, req Request) (Result, error) {
	want := req.Params["policy"]
	n := env.Node
	node, err := env.Kube.CoreV1().Nodes().Get(ctx, n.Name(), metav1.GetOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("reading node %s: %w", n.Name(), err)
	}
	if !nodeReady(node) {
		return fail(Finding{Code: "kubelet-not-ready", Criterion: "kubelet-ready",
			Problem:  env.T("Node %s is not Ready: the kubelet does not run, or does not report, since the change.", n.Name()),
			Expected: env.T("a Ready node"), Evidence: readyMessage(node),
			Try: env.T("A config file the kubelet cannot read stops it: check %s (YAML, field names are case-sensitive), then restart the kubelet (systemctl restart kubelet), or imagelab reset this step.", n.Files().KubeletConfig)}), nil
	}
	running, err := kubeletConfigz(ctx, env, n.Name())
	if err != nil {
		return Result{}, err
	}
	got, _ := running[policyField].(string)
	if got == want {
		probe, err := probeCachedImage(ctx, env, want)
		if err != nil {
			return Result{}, env.Errorf("trying the policy with two pods: %w", err)
		}
		if f := judgeCachedImage(env, want, probe); f != nil {
			return fail(*f), nil
		}
		seen := env.T("a pod without credentials was refused the private image another pod had pulled")
		if probe.ran {
			seen = env.T("a pod without credentials ran the private image another pod had pulled")
		}
		return result(env.T("The kubelet on %s (%s) runs with %s: %s, and %s.", n.Name(), node.Status.NodeInfo.KubeletVersion, policyField, want, seen)), nil
	}
	inFile := ""
	if data, err := n.ReadFile(ctx, n.Files().KubeletConfig); err == nil {
		var cfg map[string]any
		if yaml.Unmarshal(data, &cfg) == nil {
			inFile, _ = cfg[policyField].(string)
		}
	}
	shown := got
	if shown == "" {
		shown = env.T("unset (the kubelet's default applies)")
	}
	f := Finding{Code: "kubelet-policy-wrong", Criterion: "policy",
		Problem:  env.T("The kubelet on %s runs with %s %s.", n.Name(), policyField, shown),
		Expected: policyField + ": " + want,
		Try:      env.T("Set %s: %s in %s on the node, then restart the kubelet: systemctl restart kubelet.", policyField, want, n.Files().KubeletConfig)}
	switch {
	case inFile == want:
		f.Code = "kubelet-not-restarted"
		f.Problem = env.T("%s says %s: %s, but the running kubelet still has %s: it reads its config only when it starts.", n.Files().KubeletConfig, policyField, want, shown)
		f.Try = env.T("Restart the kubelet: systemctl restart kubelet (on the node), then wait for the node to be Ready.")
	case inFile != "" && strings.EqualFold(inFile, want):
		f.Code = "kubelet-policy-case"
		f.Problem = env.T("%s says %s, but the values are case-sensitive: %s.", n.Files().KubeletConfig, inFile, want)
	}
	return fail(f), nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyMessage(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	return ""
}

// kubeletConfigz reads the kubelet's effective configuration through the
// API server's node proxy, as kubectl get --raw /api/v1/nodes/N/proxy/configz.
func kubeletConfigz(ctx context.Context, env *Env, node string) (map[string]any, error) {
	raw, err := env.Kube.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "configz").DoRaw(ctx)
	if apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		// The kubelet (or the API server's way to it) is coming back: ask again.
		return nil, fmt.Errorf("the kubelet on %s %w yet (/configz: %v)", node, ErrUnreachable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the kubelet's config (/api/v1/nodes/%s/proxy/configz): %w", node, err)
	}
	var z struct {
		KubeletConfig map[string]any `json:"kubeletconfig"`
	}
	if err := json.Unmarshal(raw, &z); err != nil {
		return nil, fmt.Errorf("the kubelet's /configz: %w", err)
	}
	return z.KubeletConfig, nil
}
