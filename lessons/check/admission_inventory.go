package check

// What the cluster holds that could refuse a pod, read only to explain the registry allowlist step's verdict.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// admissionInventory is what the cluster holds that could refuse a pod:
// read only to explain a verdict, never to reach one.
type admissionInventory struct {
	policies []admissionv1.ValidatingAdmissionPolicy
	bindings []admissionv1.ValidatingAdmissionPolicyBinding
	// nsLabels are the learner's namespace's labels (nil: unreadable).
	nsLabels map[string]string
	// unreadable says why the policies could not be listed ("" when they could).
	unreadable string
}

func readAdmission(ctx context.Context, env *Env) (admissionInventory, error) {
	var inv admissionInventory
	api := env.Kube.AdmissionregistrationV1()
	policies, err := api.ValidatingAdmissionPolicies().List(ctx, metav1.ListOptions{})
	if err == nil {
		var bindings *admissionv1.ValidatingAdmissionPolicyBindingList
		if bindings, err = api.ValidatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{}); err == nil {
			inv.policies, inv.bindings = policies.Items, bindings.Items
		}
	}
	if err != nil {
		if !isAPIAnswer(err) {
			return inv, fmt.Errorf("listing ValidatingAdmissionPolicies: %w", err)
		}
		// Not allowed to list them (a shared cluster): the verdict does not
		// depend on it, only the explanations do.
		inv.unreadable = err.Error()
	}
	if ns, err := env.Kube.CoreV1().Namespaces().Get(ctx, env.Namespace, metav1.GetOptions{}); err == nil {
		inv.nsLabels = ns.Labels
		if inv.nsLabels == nil {
			inv.nsLabels = map[string]string{}
		}
	}
	return inv, nil
}

// lastChange is when a policy or binding last changed (to the second, as
// managedFields record it).
func (inv admissionInventory) lastChange() time.Time {
	var last time.Time
	note := func(m metav1.ObjectMeta) {
		for _, f := range m.ManagedFields {
			if f.Time != nil && f.Time.After(last) {
				last = f.Time.Time
			}
		}
		if m.CreationTimestamp.After(last) {
			last = m.CreationTimestamp.Time
		}
	}
	for _, p := range inv.policies {
		note(p.ObjectMeta)
	}
	for _, b := range inv.bindings {
		note(b.ObjectMeta)
	}
	return last
}

func (inv admissionInventory) policy(name string) *admissionv1.ValidatingAdmissionPolicy {
	for i := range inv.policies {
		if inv.policies[i].Name == name {
			return &inv.policies[i]
		}
	}
	return nil
}

func (inv admissionInventory) bindingsOf(policy string) []string {
	var out []string
	for _, b := range inv.bindings {
		if b.Spec.PolicyName == policy {
			out = append(out, b.Name)
		}
	}
	return out
}

// selects reports whether sel selects the learner's namespace; unknown
// (ok false) when its labels could not be read.
func (inv admissionInventory) selects(sel *metav1.LabelSelector) (selects, ok bool) {
	if sel == nil {
		return true, true
	}
	if inv.nsLabels == nil {
		return false, false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, true
	}
	return s.Matches(labels.Set(inv.nsLabels)), true
}

// matchesPods reports whether the policy's resourceRules cover creating pods.
func matchesPods(p *admissionv1.ValidatingAdmissionPolicy) bool {
	if p.Spec.MatchConstraints == nil {
		return false
	}
	for _, r := range p.Spec.MatchConstraints.ResourceRules {
		group := slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")
		res := slices.Contains(r.Resources, "pods") || slices.Contains(r.Resources, "*") || slices.Contains(r.Resources, "*/*")
		op := slices.Contains(r.Operations, admissionv1.Create) || slices.Contains(r.Operations, admissionv1.OperationAll)
		if group && res && op {
			return true
		}
	}
	return false
}

// matched lists the resources a policy's rules name, for the learner.
func matched(env *Env, p *admissionv1.ValidatingAdmissionPolicy) string {
	if p.Spec.MatchConstraints == nil || len(p.Spec.MatchConstraints.ResourceRules) == 0 {
		return env.T("nothing (no matchConstraints.resourceRules)")
	}
	var out []string
	for _, r := range p.Spec.MatchConstraints.ResourceRules {
		ops := make([]string, len(r.Operations))
		for i, o := range r.Operations {
			ops[i] = string(o)
		}
		out = append(out, fmt.Sprintf("%s (%s)", strings.Join(r.Resources, ", "), strings.Join(ops, ", ")))
	}
	return strings.Join(out, "; ")
}

// lines describes every policy and binding, one line each, for the learner.
func (inv admissionInventory) lines(env *Env) string {
	if inv.unreadable != "" {
		return env.T("imagelab may not list the cluster's policies: %s", inv.unreadable)
	}
	if len(inv.policies) == 0 && len(inv.bindings) == 0 {
		return env.T("The cluster has no ValidatingAdmissionPolicy and no ValidatingAdmissionPolicyBinding.")
	}
	var out []string
	for i := range inv.policies {
		p := &inv.policies[i]
		line := env.T("policy %s: matches %s", p.Name, matched(env, p))
		if p.Spec.FailurePolicy != nil && *p.Spec.FailurePolicy == admissionv1.Ignore {
			line += "; failurePolicy Ignore"
		}
		if bs := inv.bindingsOf(p.Name); len(bs) > 0 {
			line += env.T("; bound by %s", strings.Join(bs, ", "))
		} else {
			line += env.T("; no binding")
		}
		out = append(out, line)
	}
	for _, b := range inv.bindings {
		line := fmt.Sprintf("binding %s: policyName %s", b.Name, b.Spec.PolicyName)
		if inv.policy(b.Spec.PolicyName) == nil {
			line += env.T(" (no such policy)")
		}
		line += fmt.Sprintf(", validationActions %s", actions(b.Spec.ValidationActions))
		if b.Spec.MatchResources != nil && b.Spec.MatchResources.NamespaceSelector != nil {
			if sel, ok := inv.selects(b.Spec.MatchResources.NamespaceSelector); ok && sel {
				line += env.T(", its namespaceSelector selects your namespace")
			} else if ok {
				line += env.T(", its namespaceSelector does not select your namespace")
			}
		}
		out = append(out, line)
	}
	if len(out) > maxInventoryLines {
		out = append(out[:maxInventoryLines], env.T("… and %d more (kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings)", len(out)-maxInventoryLines))
	}
	return strings.Join(out, "\n")
}

// maxInventoryLines keeps the list of policies short on a busy cluster.
const maxInventoryLines = 12

func actions(as []admissionv1.ValidationAction) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return "[" + strings.Join(out, ", ") + "]"
}
