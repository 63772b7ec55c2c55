package check

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	Register(Definition{
		Name:    "pod.pull-denied",
		Params:  []string{"pod", "image"},
		Needs:   NeedsCluster | NeedsRegistry,
		Watches: []*Subject{Pods, Events, ServiceAccounts, Deployments},
		Resets:  []*Subject{Pods},
		Criteria: []Criterion{
			{Name: "pod", Doc: "a pod of that name runs the private image", Gate: true},
			{Name: "no-credentials", Doc: "the pod brings no pull secret"},
			{Name: "refused", Doc: "the pull was refused for want of credentials"},
		},
		Run: checkPullDenied,
	})
	Register(Definition{
		Name:     "pod.pulled",
		Params:   []string{"pod", "image"},
		Optional: []string{"secret", "serviceaccount"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{Pods, Events, Secrets, ServiceAccounts, Deployments},
		Resets:   []*Subject{Pods},
		Criteria: pulledCriteria,
		Run:      checkPulled,
	})
}

// pulledCriteria are what pod.pulled judges, and the checks built on it.
var pulledCriteria = []Criterion{
	{Name: "pod", Doc: "a pod of that name runs the private image", Gate: true},
	{Name: "serviceaccount", Doc: "the pod runs as the service account and inherited its pull secret (when the step names one)"},
	{Name: "pull-secret", Doc: "the pod names a pull secret whose credentials the registry accepts for the image"},
	{Name: "pulled", Doc: "the kubelet pulled the image (or, with no kubelet, the registry serves it with the pod's credentials)"},
}

// chargedTo charges every finding of list to criterion: helpers shared by
// several checks leave the criterion to their caller.
func chargedTo(criterion string, list []Finding) []Finding {
	out := make([]Finding, len(list))
	for i, f := range list {
		f.Criterion = criterion
		out[i] = f
	}
	return out
}

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// podWithImage finds the pod and the container that runs image. Where
// there is no such container it returns the findings that say why (no
// pod, another name, another image), charged to the "pod" criterion.
// forPulled says the step wants the image pulled (rather than refused),
// which changes what a Deployment running the image should be told.
func podWithImage(ctx context.Context, env *Env, podName, image string, forPulled bool) (*corev1.Pod, *corev1.Container, []Finding, error) {
	want, err := SplitImage(image)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("lesson parameter image %q: %w", image, err)
	}
	pod, err := env.Kube.CoreV1().Pods(env.Namespace).Get(ctx, podName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		found, err := missingPod(ctx, env, podName, want, forPulled)
		return nil, nil, chargedTo("pod", found), err
	}
	if err != nil {
		return nil, nil, nil, env.Errorf("reading pod %s/%s: %w", env.Namespace, podName, err)
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if got, err := SplitImage(list[i].Image); err == nil && got.Same(want) {
				return pod, &list[i], nil, nil
			}
		}
	}
	var found []Finding
	for _, c := range pod.Spec.Containers {
		found = append(found, wrongImage(env, podName, c.Image, want))
	}
	if len(pod.Spec.Containers) == 0 {
		found = append(found, Finding{Code: "pod-wrong-image", Problem: env.T("Pod %s runs no container with %s.", podName, want.Full), Expected: want.Full})
	}
	return pod, nil, chargedTo("pod", found), nil
}

func wrongImage(env *Env, pod, image string, want ImageParts) Finding {
	got, err := SplitImage(image)
	try := env.T("Set the container's image to %s: a pod's image may be changed in place (kubectl set image pod/%s <container>=%s), or fix the manifest and apply it again.", want.Full, pod, want.Full)
	switch {
	case err != nil:
		return Finding{Code: "pod-image-invalid", Problem: env.T("Pod %s's image %q is not a valid image name: %v.", pod, image, err), Expected: want.Full, Try: try}
	case got.Registry == "docker.io" && want.Registry != "docker.io":
		return Finding{Code: "pod-image-no-registry", Problem: env.T("Pod %s's image %q names no registry, so the kubelet pulls it from Docker Hub (%s).", pod, image, got.Full),
			Expected: want.Full, Try: env.T("Write the registry in front of the name: %s/…", want.Registry)}
	case sameHostOtherPort(got.Registry, want.Registry):
		return Finding{Code: "pod-image-wrong-port", Problem: env.T("Pod %s pulls from %s, but the registry is %s.", pod, got.Registry, want.Registry), Expected: want.Full, Try: try}
	default:
		return Finding{Code: "pod-wrong-image", Problem: env.T("Pod %s runs %s.", pod, got.Full), Expected: want.Full, Try: try}
	}
}

// missingPod explains a pod that is not there: another name, or a
// Deployment where a pod was asked for.
func missingPod(ctx context.Context, env *Env, podName string, want ImageParts, forPulled bool) ([]Finding, error) {
	pods, err := env.Kube.CoreV1().Pods(env.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, env.Errorf("listing pods in %s: %w", env.Namespace, err)
	}
	var found []Finding
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			if got, err := SplitImage(c.Image); err == nil && got.Same(want) && len(p.OwnerReferences) == 0 {
				found = append(found, Finding{Code: "pod-other-name",
					Problem:  env.T("Pod %s runs %s, but the step asks for a pod named %s.", p.Name, want.Full, podName),
					Expected: env.T("pod %s", podName), Try: env.T("Name it %s (metadata.name), or: kubectl run %s --image=%s", podName, podName, want.Full)})
			}
		}
	}
	// This pod's manifest can explain why it is not there; so can a
	// workload's, where the step wants the image pulled (a Deployment is
	// the other way learners try it).
	var notes []manifestNote
	for _, n := range manifestNotes(env, nil) {
		if n.Kind == "Pod" && n.Name == podName || n.Issue == "invalid" || forPulled && workloadKinds[n.Kind] {
			notes = append(notes, n)
		}
	}
	found = append(found, explainManifests(env, notes, podName, nil)...)
	if deploys, err := env.Kube.AppsV1().Deployments(env.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deploys.Items {
			found = append(found, explainDeployment(env, &d, want, podName, forPulled)...)
		}
	}
	if !hasProblem(found) {
		found = append(found, Finding{Code: "pod-missing", Problem: env.T("No pod %s in namespace %s yet.", podName, env.Namespace),
			Expected: env.T("pod %s with image %s", podName, want.Full)})
	}
	return found, nil
}

// explainDeployment notes a Deployment that runs the image where the step
// asks for a pod: the step wants a bare Pod, and a Deployment's pull
// secrets belong in spec.template.spec.
func explainDeployment(env *Env, d *appsv1.Deployment, want ImageParts, podName string, forPulled bool) []Finding {
	uses := slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool {
		got, err := SplitImage(c.Image)
		return err == nil && got.Same(want)
	})
	switch {
	case !uses:
		return nil
	case !forPulled:
		return []Finding{{Code: "deployment-not-pod", Problem: env.T("Deployment %s runs %s, but the step asks for a pod named %s.", d.Name, want.Full, podName),
			Expected: env.T("pod %s", podName), Try: fmt.Sprintf("kubectl run %s --image=%s", podName, want.Full)}}
	case len(d.Spec.Template.Spec.ImagePullSecrets) == 0:
		return []Finding{{Code: "deployment-secret-outside-template",
			Problem:  env.T("Deployment %s runs %s, but its pod template has no imagePullSecrets, so none of its pods can pull.", d.Name, want.Full),
			Expected: "spec.template.spec.imagePullSecrets", Try: env.T("Pull secrets go in the pod template: spec.template.spec.imagePullSecrets, next to containers.")}}
	}
	return nil
}

// checkPullDenied passes when a pod runs the private image without
// credentials and the pull was refused: the kubelet's own report where a
// kubelet runs, the registry's refusal of the pod's (absent) credentials
// where none does.
func checkPullDenied(ctx context.Context, env *Env, req Request) (Result, error) {
	podName, image := req.Params["pod"], req.Params["image"]
	pod, c, found, err := podWithImage(ctx, env, podName, image, false)
	if err != nil || c == nil {
		return fail(found...), err
	}
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return fail(hasPullSecret(ctx, env, pod)), nil
	}
	v, err := readVerdict(ctx, env, pod, c)
	if err != nil {
		return Result{}, err
	}
	switch v.Outcome {
	case pullFailed:
		if !authRefusal(v.Evidence) {
			try := env.T("Check the image name, and that the nodes reach the registry.")
			if v.Reason == "ErrImageNeverPull" {
				try = env.T("imagePullPolicy: Never forbids pulling; leave the policy out and create the pod again.")
			}
			return fail(Finding{Code: "pod-pull-failed-other", Criterion: "refused",
				Problem:  env.T("The kubelet could not pull %s (%s), but not because credentials were missing.", c.Image, v.Reason),
				Expected: env.T("a pull refused with 401 Unauthorized"), Try: try, Evidence: v.Evidence}), nil
		}
		return result(env.T("The kubelet could not pull %s without credentials (%s).", c.Image, v.Reason), kubeletSaid(env, v)), nil
	case pullSucceeded:
		return fail(Finding{Code: "pod-pulled-without-secret", Criterion: "refused",
			Problem:  env.T("Pod %s got the image without credentials (%s).", podName, v.Reason),
			Expected: env.T("a pull refused with 401 Unauthorized"), Evidence: v.Evidence,
			Try: env.T("The image may already be on the node from an earlier pull. See the lesson on imagePullCredentialsVerificationPolicy.")}), nil
	}
	if env.Kubelet {
		return fail(waitingForKubelet(env, pod, "refused", env.T("the kubelet has not reported on the pull yet"), env.T("ErrImagePull or ImagePullBackOff"))), nil
	}
	ok, err := predictPull(ctx, env, pod, c.Image)
	if err != nil {
		return Result{}, err
	}
	if ok {
		return fail(Finding{Code: "registry-allows-anonymous", Criterion: "refused", Problem: env.T("The registry serves %s without credentials.", c.Image),
			Expected: "401 Unauthorized", Try: env.T("The sandbox's registry should require a password; run imagelab up again.")}), nil
	}
	return result(env.T("The registry refuses %s without credentials: this pod cannot pull it.", c.Image),
		Finding{Code: "no-kubelet", Severity: Advice, Problem: env.T("No kubelet runs in this sandbox: imagelab asked the registry for the image with the pod's credentials (none), as the kubelet would, and was refused.")}), nil
}

// checkPulled passes when the pod runs the private image with a pull
// secret and the image was really pulled (or, with no kubelet, when the
// pod's pull secrets resolved as the kubelet resolves them open it).
func checkPulled(ctx context.Context, env *Env, req Request) (Result, error) {
	podName, image := req.Params["pod"], req.Params["image"]
	secretName := req.Param("secret", "regcred")
	pod, c, found, err := podWithImage(ctx, env, podName, image, true)
	if err != nil || c == nil {
		return fail(found...), err
	}
	repo, err := imageRepository(image)
	if err != nil {
		return Result{}, err
	}
	sa := req.Params["serviceaccount"]
	if sa != "" {
		found = append(found, inherited(env, pod, sa)...)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 {
		found = append(found, chargedTo("pull-secret", noPullSecret(ctx, env, pod, secretName, sa))...)
	}
	secrets, err := podSecrets(ctx, env, pod, repo)
	if err != nil {
		return Result{}, err
	}

	v, err := readVerdict(ctx, env, pod, c)
	if err != nil {
		return Result{}, err
	}
	switch v.Outcome {
	case pullSucceeded:
		if len(pod.Spec.ImagePullSecrets) == 0 {
			// Pulled without credentials: the image was already on the node.
			return fail(append(found, Finding{Code: "pod-pulled-without-secret", Criterion: "pulled",
				Problem:  env.T("Pod %s runs, but with no pull secret: the image was already on the node.", podName),
				Expected: env.T("imagePullSecrets naming %s", secretName), Try: env.T("Add imagePullSecrets and create the pod again."), Evidence: v.Evidence})...), nil
		}
		if v.FreshPull {
			// The kubelet pulled with the pod's secrets: that proves them,
			// whatever imagelab's reading of the secrets said.
			secrets = withoutProblems(secrets)
		}
		found = append(append(found, secrets...), kubeletSaid(env, v))
		return result(env.T("The kubelet pulled %s with the pod's pull secret; the container is %s.", c.Image, strings.ToLower(v.Reason)), found...), nil
	case pullFailed:
		return fail(append(append(found, secrets...), Finding{Code: "pod-pull-failed", Criterion: "pulled",
			Problem:  env.T("The kubelet could not pull %s (%s).", c.Image, v.Reason),
			Expected: env.T("the image pulled"), Evidence: v.Evidence,
			Try: env.T("Fix what is listed here, then delete and re-create the pod: kubectl delete pod %s && kubectl apply -f <your pod file>.", podName)})...), nil
	}
	found = append(found, secrets...)
	if hasProblem(found) {
		return fail(found...), nil
	}
	if env.Kubelet {
		return fail(waitingForKubelet(env, pod, "pulled", env.T("the kubelet has not pulled the image yet"), env.T("the container running"))), nil
	}
	ok, err := predictPull(ctx, env, pod, c.Image)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return fail(Finding{Code: "pod-pull-would-fail", Criterion: "pulled",
			Problem:  env.T("The registry refuses %s with the credentials of pod %s's pull secrets.", c.Image, podName),
			Expected: env.T("credentials the registry accepts"), Try: env.T("Check the secret the pod names (imagelab check on the secret step lists what is wrong).")}), nil
	}
	return result(env.T("Pod %s's pull secrets open %s: the kubelet can pull it.", podName, c.Image),
		append(found, Finding{Code: "no-kubelet", Severity: Advice, Problem: env.T("No kubelet runs in this sandbox: imagelab resolved the pod's pull secrets as the kubelet does and the registry served the image with them.")})...), nil
}

// podSecrets judges each pull secret the pod names, for repo: what the
// secrets that serve the image say, or, when none does, what every one
// says (then each reason counts).
func podSecrets(ctx context.Context, env *Env, pod *corev1.Pod, repo string) ([]Finding, error) {
	var serving, other []Finding
	anyServes := false
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := env.Kube.CoreV1().Secrets(env.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing, err := missingSecret(ctx, env, ref.Name)
			if err != nil {
				return nil, err
			}
			other = append(other, missing...)
			continue
		case err != nil:
			return nil, env.Errorf("reading secret %s: %w", ref.Name, err)
		}
		serves, said, err := analyzePullSecret(ctx, env, s, repo, false)
		if err != nil {
			return nil, err
		}
		if serves {
			anyServes = true
			serving = append(serving, said...)
		} else {
			other = append(other, said...)
		}
	}
	if !anyServes {
		serving = append(serving, other...)
	}
	return chargedTo("pull-secret", serving), nil
}

// noPullSecret says why a pod has no imagePullSecrets: misplaced in the
// manifest, refused as an edit of a running pod, or simply missing.
func noPullSecret(ctx context.Context, env *Env, pod *corev1.Pod, secretName, serviceAccount string) []Finding {
	if found := explainManifests(env, manifestNotes(env, pod), pod.Name, pod); len(found) > 0 {
		return found
	}
	if serviceAccount != "" && pod.Spec.ServiceAccountName == serviceAccount {
		return []Finding{{Code: "pod-no-pull-secret-from-sa",
			Problem:  env.T("Pod %s has no pull secret: the service account %s had none when the pod was created.", pod.Name, serviceAccount),
			Expected: env.T("service account %s with imagePullSecrets, then a new pod", serviceAccount),
			Try:      env.T("Pull secrets are copied from the service account when a pod is created: patch the service account, then delete and re-create pod %s.", pod.Name)}}
	}
	problem := env.T("Pod %s names no pull secret.", pod.Name)
	if _, err := env.Kube.CoreV1().Secrets(env.Namespace).Get(ctx, secretName, metav1.GetOptions{}); err == nil {
		problem = env.T("Pod %s names no pull secret, though secret %s exists.", pod.Name, secretName)
	}
	return []Finding{{Code: "pod-no-pull-secret", Problem: problem, Expected: "imagePullSecrets: [{name: " + secretName + "}]",
		Try: env.T("Add to the pod's spec (next to containers):\n  imagePullSecrets:\n  - name: %s\nthen create the pod again (a pod's pull secrets can't be changed in place).", secretName)}}
}

// hasPullSecret says where the pull secrets of a pod that should have
// none came from: the pod itself, or its service account.
func hasPullSecret(ctx context.Context, env *Env, pod *corev1.Pod) Finding {
	saName := pod.Spec.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	if sa, err := env.Kube.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, saName, metav1.GetOptions{}); err == nil && len(sa.ImagePullSecrets) > 0 && !ownsPullSecrets(pod) {
		return Finding{Code: "pod-has-pull-secret", Criterion: "no-credentials",
			Problem:  env.T("Pod %s got pull secrets from its service account %s (the admission plugin copies them into every new pod); this step is about a pod without credentials.", pod.Name, saName),
			Expected: env.T("a pod with no imagePullSecrets"),
			Try:      env.T(`Take them off the service account (kubectl patch serviceaccount %s --type=json -p '[{"op": "remove", "path": "/imagePullSecrets"}]'), then delete and re-create pod %s.`, saName, pod.Name)}
	}
	return Finding{Code: "pod-has-pull-secret", Criterion: "no-credentials",
		Problem:  env.T("Pod %s already names a pull secret; this step is about what happens without one.", pod.Name),
		Expected: env.T("a pod with no imagePullSecrets"), Try: env.T("kubectl delete pod %s, then create it again without imagePullSecrets.", pod.Name)}
}
