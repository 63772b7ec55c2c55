package check

// The registry allowlist step's subjects: policies and bindings (cluster-scoped), and the namespace.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// The cluster-scoped subjects of the step, and the learner's namespace,
// whose labels decide what a binding's namespaceSelector selects.
var (
	ValidatingAdmissionPolicies = clusterObjects("validatingadmissionpolicy", "ValidatingAdmissionPolicy '%s'", func(c kubernetes.Interface) ObjectClient[*admissionv1.ValidatingAdmissionPolicy] {
		return c.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	}, policyConcernsOnly)
	ValidatingAdmissionPolicyBindings = clusterObjects("validatingadmissionpolicybinding", "with binding '%s'", func(c kubernetes.Interface) ObjectClient[*admissionv1.ValidatingAdmissionPolicyBinding] {
		return c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	}, bindingConcernsOnly)
	LearnerNamespace = &Subject{Kind: "namespace", Seen: SeenByWatch,
		Watch: func(c kubernetes.Interface, ns string) WatchFunc {
			return settled(func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", ns).String()
				return c.CoreV1().Namespaces().Watch(ctx, opts)
			})
		}}
)

// AdmissionSettle is how long after a change to a policy, a binding or a
// namespace's labels the API server enforces it: its admission plugin
// rebuilds its policies about once a second (policyRefreshInterval in
// k8s.io/apiserver). Watches report changes this much later, so the check
// they start sees the change in force.
var AdmissionSettle = 1500 * time.Millisecond

// clusterObjects is the subject for a cluster-scoped kind: watched across
// the cluster, its events reported once they are in force, and reset by
// deleting the named object — only where concerns says it concerns the
// learner's namespace alone, or the cluster is imagelab's own (env.Node).
// cited is how a refusal names an instance ("ValidatingAdmissionPolicy
// '%s'"): reset waits until the API server no longer cites it.
func clusterObjects[T runtime.Object](kind, cited string, client func(c kubernetes.Interface) ObjectClient[T],
	concerns func(ctx context.Context, env *Env, obj T) (bool, error)) *Subject {
	return &Subject{
		Kind: kind, Seen: SeenByWatch,
		Watch: func(c kubernetes.Interface, _ string) WatchFunc { return settled(client(c).Watch) },
		Reset: func(ctx context.Context, env *Env, name string) error {
			if env.Kube == nil {
				return ErrNoSandbox
			}
			oc := client(env.Kube)
			obj, err := oc.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return env.Errorf("reading %s %s: %w", kind, name, err)
			}
			if env.Node == nil {
				ours, err := concerns(ctx, env, obj)
				if err != nil {
					return err
				}
				if !ours {
					return env.Errorf("%s %s applies beyond the namespace %s on a cluster imagelab did not make, so imagelab leaves it alone: delete it yourself (kubectl delete %s %s)", kind, name, env.Namespace, kind, name)
				}
			}
			if err := oc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return env.Errorf("deleting %s %s: %w", kind, name, err)
			}
			err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := oc.Get(ctx, name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
			if err != nil {
				return err
			}
			// Gone from the API, it may still be enforced for a moment:
			// wait until a refusal no longer names it, so that the step's
			// check fails again at once.
			docker := probe{name: "imagelab-probe-docker-io", image: dockerHubImage, what: "a pod running " + dockerHubImage}
			_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*AdmissionSettle+time.Second, true, func(ctx context.Context) (bool, error) {
				a, err := docker.ask(ctx, env)
				return err != nil || !strings.Contains(a.said, fmt.Sprintf(cited, name)), nil
			})
			return nil
		},
	}
}

// pinsNamespace reports whether a selector selects the namespace ns by
// name (kubernetes.io/metadata.name), and so no other namespace.
func pinsNamespace(sel *metav1.LabelSelector, ns string) bool {
	if sel == nil {
		return false
	}
	if sel.MatchLabels[corev1.LabelMetadataName] == ns {
		return true
	}
	return slices.ContainsFunc(sel.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
		return r.Key == corev1.LabelMetadataName && r.Operator == metav1.LabelSelectorOpIn && len(r.Values) == 1 && r.Values[0] == ns
	})
}

func bindingConcernsOnly(_ context.Context, env *Env, b *admissionv1.ValidatingAdmissionPolicyBinding) (bool, error) {
	return b.Spec.MatchResources != nil && pinsNamespace(b.Spec.MatchResources.NamespaceSelector, env.Namespace), nil
}

// policyConcernsOnly: the policy selects only the learner's namespace, or
// every binding of it does (and there is one).
func policyConcernsOnly(ctx context.Context, env *Env, p *admissionv1.ValidatingAdmissionPolicy) (bool, error) {
	if p.Spec.MatchConstraints != nil && pinsNamespace(p.Spec.MatchConstraints.NamespaceSelector, env.Namespace) {
		return true, nil
	}
	list, err := env.Kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("listing ValidatingAdmissionPolicyBindings: %w", err)
	}
	bound := false
	for i := range list.Items {
		if b := &list.Items[i]; b.Spec.PolicyName == p.Name {
			if ok, _ := bindingConcernsOnly(ctx, env, b); !ok {
				return false, nil
			}
			bound = true
		}
	}
	return bound, nil
}

// settled delays every event of a watch by AdmissionSettle, keeping their
// order, so that the check a change starts sees it enforced.
func settled(open WatchFunc) WatchFunc {
	return func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		w, err := open(ctx, opts)
		if err != nil {
			return nil, err
		}
		d := &delayedWatch{in: w, out: make(chan watch.Event), stop: make(chan struct{})}
		go d.run()
		return d, nil
	}
}

type delayedWatch struct {
	in   watch.Interface
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

func (d *delayedWatch) ResultChan() <-chan watch.Event { return d.out }

func (d *delayedWatch) Stop() {
	d.once.Do(func() {
		close(d.stop)
		d.in.Stop()
	})
}

func (d *delayedWatch) run() {
	defer close(d.out)
	for ev := range d.in.ResultChan() {
		if ev.Type != watch.Bookmark && ev.Type != watch.Error {
			t := time.NewTimer(AdmissionSettle)
			select {
			case <-d.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		select {
		case d.out <- ev:
		case <-d.stop:
			return
		}
	}
}
