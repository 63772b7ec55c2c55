package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Checks on the control plane, done by hand as in the CKS exam: the
// learner edits the API server's static pod manifest on the node; the
// check judges what the API server then does, never the file itself
// (except to explain why an API server does not come back).

func init() {
	Register(Definition{
		Name:    "apiserver.always-pull-images",
		Needs:   NeedsCluster | NeedsRegistry | NeedsNode,
		Watches: []*Subject{APIServerManifest},
		Resets:  []*Subject{APIServerManifest},
		Criteria: []Criterion{
			{Name: "healthy", Doc: "the API server runs and answers after the edit", Gate: true},
			{Name: "enabled", Doc: "a new pod's imagePullPolicy comes back as Always"},
		},
		Run: checkAlwaysPullImages,
	})
}

// ErrAPIServerRestarting means the API server does not answer yet and
// nothing on the node says it failed: it is (re)starting. The check is
// worth running again in a moment.
var ErrAPIServerRestarting = fmt.Errorf("the API server is restarting: %w", ErrUnreachable)

// apiServerHealth judges whether the API server answers. When it does
// not, the node tells why: a manifest that is not valid YAML, or the
// container's own last words. With nothing to tell, it is restarting.
func apiServerHealth(ctx context.Context, env *Env) ([]Finding, error) {
	body, err := env.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err == nil && strings.TrimSpace(string(body)) == "ok" {
		return nil, nil
	}
	reason, ferr := APIServerFailure(ctx, env.Node)
	if ferr != nil || reason == "" {
		return nil, ErrAPIServerRestarting
	}
	manifest := env.Node.Files().APIServerManifest
	return []Finding{{Code: "apiserver-not-starting", Criterion: "healthy",
		Problem:  env.T("The API server does not come back after the change to %s.", manifest),
		Expected: env.T("an API server that answers /readyz"),
		Try: env.T("Read what it said (below), fix %s on the node, and the kubelet starts it again within seconds; "+
			"or put the original back: imagelab reset this step.", manifest),
		Evidence: reason}}, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// checkAlwaysPullImages passes when the AlwaysPullImages admission plugin
// is on: a pod submitted (server-side dry run, nothing is created) with
// imagePullPolicy IfNotPresent comes back with Always.
func checkAlwaysPullImages(ctx context.Context, env *Env, _ Request) (Result, error) {
	found, err := apiServerHealth(ctx, env)
	if err != nil || len(found) > 0 {
		return fail(found...), err
	}
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "imagelab-probe-", Namespace: env.Namespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe",
			Image: env.Registry.Repo("apps/internal-app") + ":1.0", ImagePullPolicy: corev1.PullIfNotPresent}}},
	}
	got, err := env.Kube.CoreV1().Pods(env.Namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		var refused interface{ Status() metav1.Status }
		if errors.As(err, &refused) {
			return fail(Finding{Code: "apiserver-refused-probe", Criterion: "enabled",
				Problem:  env.T("The API server refused a plain pod, so imagelab could not see what admission does to it."),
				Expected: env.T("a pod admitted with imagePullPolicy: Always"), Evidence: err.Error(),
				Try: env.T("Another admission plugin or policy refuses pods here; look at --enable-admission-plugins and the cluster's policies.")}), nil
		}
		return Result{}, env.Errorf("submitting a dry-run pod: %w", err)
	}
	policy := got.Spec.Containers[0].ImagePullPolicy
	if policy != corev1.PullAlways {
		return fail(Finding{Code: "always-pull-images-off", Criterion: "enabled",
			Problem:  env.T("A pod submitted with imagePullPolicy: IfNotPresent was stored with %s: the AlwaysPullImages admission plugin is not on.", policy),
			Expected: env.T("imagePullPolicy: Always on every new pod"),
			Try: env.T("On the node, add AlwaysPullImages to --enable-admission-plugins in %s (a comma-separated list: keep what is there); the kubelet restarts the API server when the file changes.",
				env.Node.Files().APIServerManifest)}), nil
	}
	return result(env.T("The API server rewrites every new pod's imagePullPolicy to Always: each start asks the registry, with the pod's own credentials.")), nil
}
