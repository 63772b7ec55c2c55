package check

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	Register(Definition{
		Name:    "serviceaccount.pull-secret",
		Params:  []string{"serviceaccount", "secret"},
		Needs:   NeedsCluster,
		Watches: []*Subject{ServiceAccounts, Secrets},
		Resets:  []*Subject{ServiceAccounts},
		Criteria: []Criterion{
			{Name: "serviceaccount", Doc: "the service account exists", Gate: true},
			{Name: "pull-secret", Doc: "it lists the secret under imagePullSecrets"},
			{Name: "secret", Doc: "the secret it lists is there, in the same namespace"},
		},
		Run: checkServiceAccountSecret,
	})
}

// checkServiceAccountSecret passes when the service account lists the pull
// secret, which then reaches every pod created with it.
func checkServiceAccountSecret(ctx context.Context, env *Env, req Request) (Result, error) {
	saName, secretName := req.Params["serviceaccount"], req.Params["secret"]
	sa, err := env.Kube.CoreV1().ServiceAccounts(env.Namespace).Get(ctx, saName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fail(Finding{Code: "serviceaccount-missing", Criterion: "serviceaccount",
			Problem:  env.T("No service account %s in namespace %s yet.", saName, env.Namespace),
			Expected: env.T("service account %s", saName), Try: "kubectl create serviceaccount " + saName}), nil
	}
	if err != nil {
		return Result{}, env.Errorf("reading service account %s: %w", saName, err)
	}
	names := make([]string, 0, len(sa.ImagePullSecrets))
	for _, s := range sa.ImagePullSecrets {
		names = append(names, s.Name)
	}
	if !slices.Contains(names, secretName) {
		return fail(notListed(env, sa, secretName, names)), nil
	}
	if _, err := env.Kube.CoreV1().Secrets(env.Namespace).Get(ctx, secretName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		missing, err := missingSecret(ctx, env, secretName)
		if err != nil {
			return Result{}, err
		}
		return fail(chargedTo("secret", missing)...), nil
	} else if err != nil {
		return Result{}, err
	}
	return result(env.T("Service account %s hands %s to every pod created with it.", saName, secretName)), nil
}

// notListed explains a service account whose imagePullSecrets lack the secret.
func notListed(env *Env, sa *corev1.ServiceAccount, secretName string, names []string) Finding {
	patch := fmt.Sprintf(`kubectl patch serviceaccount %s -p '{"imagePullSecrets": [{"name": "%s"}]}'`, sa.Name, secretName)
	if slices.ContainsFunc(sa.Secrets, func(r corev1.ObjectReference) bool { return r.Name == secretName }) {
		return Finding{Code: "serviceaccount-secret-in-secrets", Criterion: "pull-secret",
			Problem:  env.T("Service account %s lists %s under secrets, which is for mounted tokens, not pulls.", sa.Name, secretName),
			Expected: "imagePullSecrets: [{name: " + secretName + "}]", Try: patch}
	}
	return Finding{Code: "serviceaccount-no-pull-secret", Criterion: "pull-secret",
		Problem:  env.T("Service account %s has no imagePullSecrets naming %s (it has: %s).", sa.Name, secretName, listOrNone(env, names)),
		Expected: "imagePullSecrets: [{name: " + secretName + "}]", Try: patch}
}

func listOrNone(env *Env, xs []string) string {
	if len(xs) == 0 {
		return env.T("none")
	}
	return strings.Join(xs, ", ")
}

// inherited judges that the pod got its pull secrets from the service
// account sa: it runs as sa, and the secrets it has were put there by the
// ServiceAccount admission plugin, not brought by the pod itself. The
// admission plugin copies an account's secrets only into pods that have
// none of their own, so a pod that brings its own inherited nothing.
func inherited(env *Env, pod *corev1.Pod, sa string) []Finding {
	var found []Finding
	if pod.Spec.ServiceAccountName != sa {
		found = append(found, Finding{Code: "pod-wrong-serviceaccount", Criterion: "serviceaccount",
			Problem:  env.T("Pod %s runs as the service account %q.", pod.Name, pod.Spec.ServiceAccountName),
			Expected: "serviceAccountName: " + sa,
			Try:      env.T("Set spec.serviceAccountName: %s and create the pod again (a pod's service account can't change).", sa)})
	}
	if len(pod.Spec.ImagePullSecrets) > 0 && ownsPullSecrets(pod) {
		found = append(found, Finding{Code: "pod-own-pull-secrets", Criterion: "serviceaccount",
			Problem:  env.T("Pod %s brings imagePullSecrets of its own, so nothing was inherited from %s: the admission plugin copies an account's pull secrets only into pods that have none.", pod.Name, sa),
			Expected: env.T("a pod with serviceAccountName: %s and no imagePullSecrets in its manifest", sa),
			Try:      env.T("Leave imagePullSecrets out of the pod's manifest, then delete and re-create pod %s.", pod.Name)})
	}
	return found
}

// ownsPullSecrets reports whether the pod's creator (or a later writer)
// sent spec.imagePullSecrets. The API server records which fields each
// client set in managedFields before mutating admission runs, so secrets
// the ServiceAccount admission plugin copied in belong to no manager:
// that tells a pod that inherited its secrets from one that brought them,
// though both look the same in spec.
func ownsPullSecrets(pod *corev1.Pod) bool {
	for _, mf := range pod.ManagedFields {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) != nil {
			continue
		}
		var spec map[string]json.RawMessage
		if json.Unmarshal(fields["f:spec"], &spec) != nil {
			continue
		}
		if _, ok := spec["f:imagePullSecrets"]; ok {
			return true
		}
	}
	return false
}
