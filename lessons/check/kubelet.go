package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	k8schain "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// What the kubelet says about a pull, read the way a learner reads
// kubectl describe, and what it would do where no kubelet runs.

// Container waiting reasons with which the kubelet reports a failed pull.
var pullFailureReasons = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}

// pullOutcome is what the kubelet has said about pulling one container's image.
type pullOutcome int

const (
	pullUnknown pullOutcome = iota // the kubelet has not said yet (or no kubelet)
	pullFailed
	pullSucceeded
)

// kubeletVerdict reads a pod's container status and events the way a
// learner reads kubectl describe: did the kubelet pull the image?
type kubeletVerdict struct {
	Outcome pullOutcome
	Reason  string // ErrImagePull, Running, …
	// Evidence is the kubelet's own words: the Failed/Pulled event text,
	// or the container status message.
	Evidence string
	// FreshPull says the kubelet pulled the image for this pod (with its
	// credentials), rather than found it already on the node.
	FreshPull bool
}

// authRefusal tells a pull refused for credentials from other failures
// (no such image, registry unreachable, imagePullPolicy: Never).
func authRefusal(evidence string) bool {
	e := strings.ToLower(evidence)
	// Whole phrases, not bare status codes: a port (localhost:40123) may hold "401".
	for _, w := range []string{"401 unauthorized", "403 forbidden", "unauthorized", "authorization failed", "no basic auth credentials", "access denied", "authentication required"} {
		if strings.Contains(e, w) {
			return true
		}
	}
	return false
}

// readVerdict gathers the kubelet's verdict on container c of pod: the
// container's current state decides; the kubelet's events (of this pod and
// container only) say it in its own words, or decide when the state says
// nothing yet (a pod between attempts).
func readVerdict(ctx context.Context, env *Env, pod *corev1.Pod, c *corev1.Container) (kubeletVerdict, error) {
	var v kubeletVerdict
	for _, cs := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		if cs.Name != c.Name {
			continue
		}
		switch {
		case cs.State.Waiting != nil && slices.Contains(pullFailureReasons, cs.State.Waiting.Reason):
			v = kubeletVerdict{Outcome: pullFailed, Reason: cs.State.Waiting.Reason, Evidence: cs.State.Waiting.Message}
		case cs.State.Running != nil:
			v = kubeletVerdict{Outcome: pullSucceeded, Reason: "Running"}
		case cs.ImageID != "":
			v = kubeletVerdict{Outcome: pullSucceeded, Reason: "ImagePresent"}
		}
	}
	events, err := env.Kube.CoreV1().Events(env.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": pod.Name, "involvedObject.uid": string(pod.UID)}.AsSelector().String(),
	})
	if err != nil {
		return v, fmt.Errorf("reading events of pod %s: %w", pod.Name, err)
	}
	paths := []string{"spec.containers{" + c.Name + "}", "spec.initContainers{" + c.Name + "}"}
	var failed, pulled *corev1.Event
	for i := range events.Items {
		e := &events.Items[i]
		if e.InvolvedObject.UID != pod.UID || !slices.Contains(paths, e.InvolvedObject.FieldPath) {
			continue
		}
		switch {
		case e.Reason == "Failed" && strings.Contains(e.Message, "pull"):
			if failed == nil || !eventTime(*e).Time.Before(eventTime(*failed).Time) {
				failed = e
			}
		case e.Reason == "Pulled":
			if pulled == nil || !eventTime(*e).Time.Before(eventTime(*pulled).Time) {
				pulled = e
			}
		}
	}
	if v.Outcome == pullUnknown { // the latest event speaks
		switch {
		case failed != nil && (pulled == nil || eventTime(*pulled).Time.Before(eventTime(*failed).Time)):
			v = kubeletVerdict{Outcome: pullFailed, Reason: "ErrImagePull"}
		case pulled != nil:
			v = kubeletVerdict{Outcome: pullSucceeded, Reason: "Pulled"}
		}
	}
	switch {
	case v.Outcome == pullFailed && failed != nil:
		v.Evidence = failed.Message
	case v.Outcome == pullSucceeded && pulled != nil:
		v.Evidence = pulled.Message
		v.FreshPull = strings.HasPrefix(pulled.Message, "Successfully pulled")
	}
	return v, nil
}

func eventTime(e corev1.Event) metav1.Time {
	if e.Series != nil && !e.Series.LastObservedTime.IsZero() {
		return metav1.Time{Time: e.Series.LastObservedTime.Time}
	}
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	}
	return e.CreationTimestamp
}

// predictPull resolves the pod's pull secrets the way the kubelet does and
// asks the registry for the manifest with them: what happens where no
// kubelet runs.
func predictPull(ctx context.Context, env *Env, pod *corev1.Pod, image string) (bool, error) {
	names := make([]string, 0, len(pod.Spec.ImagePullSecrets))
	for _, s := range pod.Spec.ImagePullSecrets {
		names = append(names, s.Name)
	}
	// The ServiceAccount admission plugin has already copied the service
	// account's pull secrets into the pod, as the kubelet sees it.
	kc, err := k8schain.New(ctx, env.Kube, k8schain.Options{Namespace: pod.Namespace, ServiceAccountName: k8schain.NoServiceAccount, ImagePullSecrets: names})
	if err != nil {
		return false, fmt.Errorf("resolving pull secrets of pod %s: %w", pod.Name, err)
	}
	_, err = headManifestWithKeychain(ctx, env.transport(), image, kc)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errUnauthorized):
		return false, nil
	case errors.Is(err, errNotFound):
		return false, fmt.Errorf("%s is not in the registry: %w", image, err)
	}
	return false, fmt.Errorf("asking the registry for %s: %w", image, err)
}

// kubeletSaid quotes the kubelet's own report on a pull.
func kubeletSaid(env *Env, v kubeletVerdict) Finding {
	return Finding{Code: "kubelet-said", Severity: Advice, Problem: env.T("The kubelet's own report:"), Evidence: v.Evidence}
}

// waitingForKubelet: the kubelet has not said yet; what and expected come
// in the learner's language.
func waitingForKubelet(env *Env, pod *corev1.Pod, criterion, what, expected string) Finding {
	return Finding{Code: "pod-waiting-for-kubelet", Criterion: criterion,
		Problem:  env.T("Pod %s is %s: %s.", pod.Name, pod.Status.Phase, what),
		Expected: expected, Try: env.T("Wait a few seconds; kubectl describe pod %s shows the events.", pod.Name)}
}
