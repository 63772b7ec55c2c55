// The registry allowlist step: a ValidatingAdmissionPolicy and its binding
// that make the API server refuse pods whose images are not from the
// sandbox's private registry.
//
// The check judges by behaviour, never by reading the learner's YAML: it
// asks the API server to create (server-side dry run, nothing is stored)
// a handful of pods and Deployments in the learner's namespace that differ
// only in one image, and reads which are refused, and by whom. What the
// policies and bindings say is read only to explain a verdict (a binding
// that only warns, a policyName with a typo, a policy nothing binds).
// The probes, the inventory and the findings are long together, but each
// criterion's reasoning can be read here in one place.
package check

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

func init() {
	Register(Definition{
		Name:     "admission.registry-only",
		Params:   []string{"image"},
		Optional: []string{"policy"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{ValidatingAdmissionPolicies, ValidatingAdmissionPolicyBindings, LearnerNamespace},
		Resets:   []*Subject{ValidatingAdmissionPolicies, ValidatingAdmissionPolicyBindings},
		Criteria: []Criterion{
			{Name: "docker-io", Doc: "a pod running a Docker Hub image (docker.io/library/nginx, or the short name nginx) is refused by a ValidatingAdmissionPolicy in the learner's namespace", Gate: true},
			{Name: "private", Doc: "a pod and a Deployment running the private registry's image are admitted", Gate: true},
			{Name: "init-containers", Doc: "a pod whose init container runs a Docker Hub image is refused"},
			{Name: "deployments", Doc: "a Deployment whose pod template runs a Docker Hub image is refused, not only its pods"},
			{Name: "look-alike", Doc: "an image from a registry whose name merely begins like the private one's (localhost:50010) is refused"},
		},
		Run: checkRegistryOnly,
	})
}

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
				return fmt.Errorf("reading %s %s: %w", kind, name, err)
			}
			if env.Node == nil {
				ours, err := concerns(ctx, env, obj)
				if err != nil {
					return err
				}
				if !ours {
					return fmt.Errorf("%s %s applies beyond the namespace %s on a cluster imagelab did not make, so imagelab leaves it alone: delete it yourself (kubectl delete %s %s)", kind, name, env.Namespace, kind, name)
				}
			}
			if err := oc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting %s %s: %w", kind, name, err)
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

// The images the probes run. Docker Hub's are never pulled: the probes are
// dry runs.
const (
	dockerHubImage  = "docker.io/library/nginx:1.27"
	shortNameImage  = "nginx:1.27"
	dockerHubInit   = "docker.io/library/busybox:1.36"
	lookAlikeSuffix = ".evil.example"
)

// probe is one object the API server is asked to admit (a dry run): a pod
// or a Deployment that differs from the others only in one image.
type probe struct {
	name      string // the object's name
	criterion string
	admit     bool   // the API server should admit it
	what      string // for the learner: "a pod whose container runs …"
	image     string // the image that decides
	init      bool   // the image is the init container's
	deploy    bool   // a Deployment rather than a pod
	private   string // the private image, for the other containers
}

// answer is what the API server said to a probe.
type answer struct {
	probe
	admitted bool
	// byPolicy: the refusal came from a ValidatingAdmissionPolicy.
	byPolicy bool
	// said is the refusal: from "ValidatingAdmissionPolicy '…" on when a
	// policy refused, the whole message otherwise.
	said     string
	warnings []string
}

var policyRefusal = regexp.MustCompile(`ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')?`)

// lookAlikes are registries whose names begin like reg's: reg with a digit
// more in its port (localhost:50010), or reg as the start of another host
// (registry.example.com.evil.example); only valid image names are kept.
func lookAlikes(reg, repo string) []string {
	var out []string
	for _, host := range []string{reg + "0", reg + lookAlikeSuffix} {
		if p, err := SplitImage(host + "/" + repo); err == nil && p.Registry == host {
			out = append(out, host+"/"+repo)
		}
	}
	return out
}

func registryProbes(private string, parts ImageParts) []probe {
	repo := strings.TrimPrefix(private, parts.Registry+"/")
	ps := []probe{
		{name: "imagelab-probe-docker-io", criterion: "docker-io", what: "a pod whose container runs " + dockerHubImage, image: dockerHubImage},
		{name: "imagelab-probe-short-name", criterion: "docker-io", what: "a pod whose container runs " + shortNameImage + " (a short name: the runtime pulls it from Docker Hub)", image: shortNameImage},
		{name: "imagelab-probe-private", criterion: "private", admit: true, what: "a pod whose container runs " + private, image: private},
		{name: "imagelab-probe-private-deploy", criterion: "private", admit: true, deploy: true, what: "a Deployment whose pod template runs " + private, image: private},
		{name: "imagelab-probe-init", criterion: "init-containers", init: true, what: "a pod whose init container runs " + dockerHubInit + " (its container runs " + private + ")", image: dockerHubInit},
		{name: "imagelab-probe-deploy", criterion: "deployments", deploy: true, what: "a Deployment whose pod template runs " + dockerHubImage, image: dockerHubImage},
	}
	for i, img := range lookAlikes(parts.Registry, repo) {
		ps = append(ps, probe{name: fmt.Sprintf("imagelab-probe-look-alike-%d", i+1), criterion: "look-alike", what: "a pod whose container runs " + img, image: img})
	}
	for i := range ps {
		ps[i].private = private
	}
	return ps
}

// podSpec is the probes' pod: restricted by Pod Security's rules and with
// resource limits, so that nothing but its image gives a reason to refuse it.
func (p probe) podSpec() corev1.PodSpec {
	yes, no := true, false
	c := func(name, image string) corev1.Container {
		return corev1.Container{Name: name, Image: image,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
	}
	spec := corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers:      []corev1.Container{c("app", p.image)},
	}
	if p.init {
		spec.Containers = []corev1.Container{c("app", p.private)}
		spec.InitContainers = []corev1.Container{c("init", p.image)}
	}
	return spec
}

// ask sends the probe to the API server as a dry run and reads its answer.
// An error means the API server could not be asked.
func (p probe) ask(ctx context.Context, env *Env) (answer, error) {
	lbl := map[string]string{"app.kubernetes.io/name": p.name, "app.kubernetes.io/managed-by": "imagelab"}
	meta := metav1.ObjectMeta{Name: p.name, Namespace: env.Namespace, Labels: lbl}
	var rc rest.Interface
	var obj runtime.Object
	kind := "pods"
	if p.deploy {
		rc, kind = env.Kube.AppsV1().RESTClient(), "deployments"
		obj = &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: lbl},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: p.podSpec()}}}
	} else {
		rc = env.Kube.CoreV1().RESTClient()
		obj = &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: meta, Spec: p.podSpec()}
	}
	var w warnings
	err := rc.Post().Namespace(env.Namespace).Resource(kind).
		VersionedParams(&metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}, scheme.ParameterCodec).
		Body(obj).WarningHandler(&w).Do(ctx).Error()
	return read(p, err, w.list)
}

// read turns the API server's reply into an answer; an error that is not
// the API server's answer (a broken connection) is returned as an error.
func read(p probe, err error, warned []string) (answer, error) {
	a := answer{probe: p, warnings: warned}
	if err == nil || apierrors.IsAlreadyExists(err) {
		a.admitted = true
		return a, nil
	}
	if !isAPIAnswer(err) {
		return answer{}, fmt.Errorf("asking the API server to admit %s: %w", p.what, err)
	}
	a.said = err.Error()
	if i := strings.Index(a.said, "ValidatingAdmissionPolicy '"); i >= 0 {
		a.byPolicy, a.said = true, a.said[i:]
	}
	return a, nil
}

// isAPIAnswer reports whether err is the API server's answer (a refusal),
// rather than a failure to reach it.
func isAPIAnswer(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}

// warnings collects the warnings the API server sends with a reply (a
// binding with validationActions [Warn] speaks only through them).
type warnings struct{ list []string }

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) { w.list = append(w.list, text) }

// who names the policy and binding a refusal came from.
func (a answer) who() string {
	m := policyRefusal.FindStringSubmatch(a.said)
	switch {
	case m == nil:
		return ""
	case m[2] == "":
		return fmt.Sprintf("ValidatingAdmissionPolicy %s", m[1])
	}
	return fmt.Sprintf("ValidatingAdmissionPolicy %s (binding %s)", m[1], m[2])
}

// evidence is what the API server said to the probe: its refusal, or the
// warnings it admitted it with.
func (a answer) evidence() string {
	if !a.admitted {
		return a.said
	}
	return strings.Join(a.warnings, "\n")
}

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
func matched(p *admissionv1.ValidatingAdmissionPolicy) string {
	if p.Spec.MatchConstraints == nil || len(p.Spec.MatchConstraints.ResourceRules) == 0 {
		return "nothing (no matchConstraints.resourceRules)"
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
func (inv admissionInventory) lines() string {
	if inv.unreadable != "" {
		return "imagelab may not list the cluster's policies: " + inv.unreadable
	}
	if len(inv.policies) == 0 && len(inv.bindings) == 0 {
		return "The cluster has no ValidatingAdmissionPolicy and no ValidatingAdmissionPolicyBinding."
	}
	var out []string
	for i := range inv.policies {
		p := &inv.policies[i]
		line := fmt.Sprintf("policy %s: matches %s", p.Name, matched(p))
		if p.Spec.FailurePolicy != nil && *p.Spec.FailurePolicy == admissionv1.Ignore {
			line += "; failurePolicy Ignore"
		}
		if bs := inv.bindingsOf(p.Name); len(bs) > 0 {
			line += "; bound by " + strings.Join(bs, ", ")
		} else {
			line += "; no binding"
		}
		out = append(out, line)
	}
	for _, b := range inv.bindings {
		line := fmt.Sprintf("binding %s: policyName %s", b.Name, b.Spec.PolicyName)
		if inv.policy(b.Spec.PolicyName) == nil {
			line += " (no such policy)"
		}
		line += fmt.Sprintf(", validationActions %s", actions(b.Spec.ValidationActions))
		if b.Spec.MatchResources != nil && b.Spec.MatchResources.NamespaceSelector != nil {
			if sel, ok := inv.selects(b.Spec.MatchResources.NamespaceSelector); ok && sel {
				line += ", its namespaceSelector selects your namespace"
			} else if ok {
				line += ", its namespaceSelector does not select your namespace"
			}
		}
		out = append(out, line)
	}
	if len(out) > maxInventoryLines {
		out = append(out[:maxInventoryLines], fmt.Sprintf("… and %d more (kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings)", len(out)-maxInventoryLines))
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

// checkRegistryOnly passes when the API server, in the learner's
// namespace, refuses pods, init containers, Deployments and look-alike
// registries whose images are not from the private registry — through a
// ValidatingAdmissionPolicy — and admits the private image.
func checkRegistryOnly(ctx context.Context, env *Env, req Request) (Result, error) {
	private := req.Params["image"]
	parts, err := SplitImage(private)
	if err != nil {
		return Result{}, fmt.Errorf("lesson parameter image %q: %w", private, err)
	}
	inv, err := readAdmission(ctx, env)
	if err != nil {
		return Result{}, err
	}
	// A policy changed a moment ago may not be enforced yet: wait until it is.
	if d := time.Until(inv.lastChange().Add(time.Second + AdmissionSettle)); d > 0 {
		sleep(ctx, min(d, 2*time.Second+AdmissionSettle))
	}
	probes := registryProbes(private, parts)
	answers := make(map[string]answer, len(probes))
	refusedByPolicy := false
	for _, p := range probes {
		a, err := p.ask(ctx, env)
		if err != nil {
			return Result{}, err
		}
		answers[p.name] = a
		refusedByPolicy = refusedByPolicy || !a.admitted && a.byPolicy
	}
	reg := parts.Registry
	if !refusedByPolicy {
		return fail(noPolicy(env, inv, answers, req.Param("policy", "private-registry-only"), reg)...), nil
	}

	var found []Finding
	docker := answers["imagelab-probe-docker-io"]
	if !docker.admitted && docker.byPolicy {
		found = append(found, Finding{Code: "admission-refused", Severity: Advice,
			Problem: fmt.Sprintf("The API server's answer to %s:", docker.what), Evidence: docker.said})
	}
	found = append(found, judgeDockerHub(env, docker, answers["imagelab-probe-short-name"], reg)...)
	found = append(found, judgePrivate(answers["imagelab-probe-private"], answers["imagelab-probe-private-deploy"], reg)...)
	found = append(found, judgeInit(answers["imagelab-probe-init"], reg)...)
	found = append(found, judgeDeployment(answers["imagelab-probe-deploy"], reg)...)
	var alikes []answer
	for _, p := range probes {
		if p.criterion == "look-alike" {
			alikes = append(alikes, answers[p.name])
		}
	}
	found = append(found, judgeLookAlikes(alikes, reg)...)
	if !docker.admitted && docker.byPolicy {
		advice, err := moreAdvice(ctx, env, reg)
		if err != nil {
			return Result{}, err
		}
		found = append(found, advice...)
	}
	var lookAlike string
	if len(alikes) > 0 {
		lookAlike = " and from the look-alike " + strings.SplitN(alikes[0].image, "/", 2)[0]
	}
	summary := fmt.Sprintf("In namespace %s the API server refuses images not from %s/ — in containers, init containers, Deployments%s — and admits %s. Refused by %s.",
		env.Namespace, reg, lookAlike, private, docker.who())
	return result(summary, found...), nil
}

// allowlistTry is the expression that refuses every image but the registry's.
func allowlistTry(reg string) string {
	return fmt.Sprintf("object.spec.containers.all(c, c.image.startsWith('%s/'))", reg)
}

// noPolicy explains why nothing refused anything: what policies and
// bindings there are, and what keeps each from refusing the pod here.
func noPolicy(env *Env, inv admissionInventory, answers map[string]answer, policyName, reg string) []Finding {
	docker := answers["imagelab-probe-docker-io"]
	try := fmt.Sprintf("Write a ValidatingAdmissionPolicy (say %s) that matches pods and checks %s, and a ValidatingAdmissionPolicyBinding that names it with validationActions: [Deny]; kubectl apply -f both. kubectl run test --image=nginx --dry-run=server then shows the refusal.", policyName, allowlistTry(reg))
	if len(inv.policies)+len(inv.bindings) > 0 {
		try = "Fix what is listed here (kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings lists them); kubectl run test --image=nginx --dry-run=server shows what the API server does."
	}
	problem := fmt.Sprintf("The API server admitted %s in namespace %s: no ValidatingAdmissionPolicy refuses anything there yet.", docker.what, env.Namespace)
	if !docker.admitted {
		problem = fmt.Sprintf("No ValidatingAdmissionPolicy refuses anything in namespace %s yet (what refused %s is quoted below).", env.Namespace, docker.what)
	}
	found := []Finding{{Code: "admission-no-policy", Criterion: "docker-io", Problem: problem,
		Expected: "a ValidatingAdmissionPolicy that matches pods, and a binding that names it with validationActions [Deny]",
		Try:      try, Evidence: inv.lines()}}

	// The explanations are about the learner's own objects: those with the
	// name the step gives, when there are any (a cluster may hold others);
	// and among policies, those that match pods, or every one when none does.
	named := inv.policy(policyName) != nil || slices.ContainsFunc(inv.bindings, func(b admissionv1.ValidatingAdmissionPolicyBinding) bool {
		return b.Name == policyName || b.Spec.PolicyName == policyName
	})
	var policies []*admissionv1.ValidatingAdmissionPolicy
	for i := range inv.policies {
		if p := &inv.policies[i]; !named || p.Name == policyName {
			policies = append(policies, p)
		}
	}
	anyPods := slices.ContainsFunc(policies, matchesPods)
	relevant := map[string]bool{}
	var unbound []string
	for _, p := range policies {
		if anyPods && !matchesPods(p) {
			continue
		}
		relevant[p.Name] = true
		if !anyPods {
			found = append(found, Finding{Code: "admission-policy-no-pods", Criterion: "docker-io",
				Problem:  fmt.Sprintf("Policy %s does not match pods: it matches %s.", p.Name, matched(p)),
				Expected: "a resourceRule for pods: apiGroups [\"\"], apiVersions [\"v1\"], resources [\"pods\"], operations [CREATE, UPDATE]",
				Try:      "Add that rule under spec.matchConstraints.resourceRules."})
		}
		if len(inv.bindingsOf(p.Name)) == 0 {
			unbound = append(unbound, p.Name)
			found = append(found, Finding{Code: "admission-policy-no-binding", Criterion: "docker-io",
				Problem:  fmt.Sprintf("Policy %s has no binding: a ValidatingAdmissionPolicy does nothing until a ValidatingAdmissionPolicyBinding names it.", p.Name),
				Expected: fmt.Sprintf("a ValidatingAdmissionPolicyBinding with spec.policyName: %s", p.Name),
				Try:      fmt.Sprintf("Create a binding with policyName: %s and validationActions: [Deny], scoped to your namespace with matchResources.namespaceSelector.", p.Name)})
		}
		if sel := p.Spec.MatchConstraints; sel != nil {
			if s, ok := inv.selects(sel.NamespaceSelector); ok && !s {
				found = append(found, otherNamespace(env, inv, "Policy "+p.Name+"'s matchConstraints.namespaceSelector"))
			}
		}
	}
	warned := warnedBindings(answers)
	for _, b := range inv.bindings {
		if named && b.Name != policyName && b.Spec.PolicyName != policyName {
			continue
		}
		p := inv.policy(b.Spec.PolicyName)
		if p == nil {
			f := Finding{Code: "admission-binding-missing-policy", Criterion: "docker-io",
				Problem:  fmt.Sprintf("Binding %s names the policy %s, which does not exist, so it binds nothing.", b.Name, quote(b.Spec.PolicyName)),
				Expected: "spec.policyName: the policy's metadata.name, exactly",
				Try:      "Fix spec.policyName; kubectl get validatingadmissionpolicies lists the policies."}
			if len(unbound) > 0 {
				f.Try = fmt.Sprintf("Fix spec.policyName: did you mean %s? (kubectl get validatingadmissionpolicies lists the policies.)", strings.Join(unbound, " or "))
			}
			found = append(found, f)
			continue
		}
		if !relevant[p.Name] {
			continue
		}
		if !slices.Contains(b.Spec.ValidationActions, admissionv1.Deny) {
			found = append(found, Finding{Code: "admission-binding-no-deny", Criterion: "docker-io",
				Problem:  fmt.Sprintf("Binding %s has validationActions %s: the API server admits the pod and only warns the client (Warn) or records it in the audit log (Audit).", b.Name, actions(b.Spec.ValidationActions)),
				Expected: "validationActions: [Deny]",
				Try:      "Set validationActions: [Deny] (Deny may go with Audit, not with Warn), and apply the binding again.",
				Evidence: strings.Join(warned[b.Name], "\n")})
		}
		if b.Spec.MatchResources != nil {
			if s, ok := inv.selects(b.Spec.MatchResources.NamespaceSelector); ok && !s {
				found = append(found, otherNamespace(env, inv, "Binding "+b.Name+"'s matchResources.namespaceSelector"))
			}
		}
	}
	// A binding that only warns speaks in warnings even where it cannot be
	// listed: those name it.
	if inv.unreadable != "" {
		for name, ws := range warned {
			found = append(found, Finding{Code: "admission-binding-no-deny", Criterion: "docker-io",
				Problem:  fmt.Sprintf("Binding %s only warns: the API server admitted the pod with a warning.", name),
				Expected: "validationActions: [Deny]", Try: "Set validationActions: [Deny] in the binding.", Evidence: strings.Join(ws, "\n")})
		}
	}
	for _, name := range []string{"imagelab-probe-docker-io", "imagelab-probe-short-name"} {
		if a := answers[name]; !a.admitted {
			found = append(found, notByPolicy(a))
		}
	}
	return found
}

// warnedBindings maps each binding named in a warning to the warnings.
func warnedBindings(answers map[string]answer) map[string][]string {
	out := map[string][]string{}
	for _, a := range answers {
		for _, w := range a.warnings {
			if m := policyRefusal.FindStringSubmatch(w); m != nil && m[2] != "" && !slices.Contains(out[m[2]], w) {
				out[m[2]] = append(out[m[2]], w)
			}
		}
	}
	return out
}

// otherNamespace explains a namespaceSelector that misses the learner's
// namespace, by the namespace's own labels (never another namespace's name).
func otherNamespace(env *Env, inv admissionInventory, whose string) Finding {
	var ls []string
	for k, v := range inv.nsLabels {
		ls = append(ls, k+"="+v)
	}
	sort.Strings(ls)
	return Finding{Code: "admission-binding-other-namespace", Criterion: "docker-io",
		Problem:  fmt.Sprintf("%s does not select your namespace %s (its labels: %s), so the policy is not enforced there.", whose, env.Namespace, strings.Join(ls, ", ")),
		Expected: fmt.Sprintf("a selector your namespace matches: matchLabels: {%s: %s}", corev1.LabelMetadataName, env.Namespace),
		Try:      fmt.Sprintf("Every namespace carries the label %s with its own name: select it with that, or label your namespace (kubectl label namespace %s KEY=VALUE).", corev1.LabelMetadataName, env.Namespace)}
}

// notByPolicy: something refused the probe, but not a ValidatingAdmissionPolicy.
func notByPolicy(a answer) Finding {
	return Finding{Code: "admission-refused-not-by-policy", Criterion: a.criterion,
		Problem:  fmt.Sprintf("The API server refused %s, but not through a ValidatingAdmissionPolicy.", a.what),
		Expected: "a refusal that names a ValidatingAdmissionPolicy and its binding",
		Try:      "This step is about a ValidatingAdmissionPolicy; read the refusal: another admission plugin, a webhook or a quota said no.",
		Evidence: a.said}
}

func judgeDockerHub(env *Env, full, short answer, reg string) []Finding {
	var found []Finding
	switch {
	case full.admitted:
		found = append(found, Finding{Code: "admission-allows-docker-io", Criterion: "docker-io",
			Problem:  fmt.Sprintf("The API server admitted %s in namespace %s.", full.what, env.Namespace),
			Expected: "refused by your ValidatingAdmissionPolicy",
			Try:      fmt.Sprintf("Check that the policy matches pods (resourceRules: apiGroups [\"\"], resources [\"pods\"], operations [CREATE, UPDATE]) and that it allows only the private registry: %s.", allowlistTry(reg)),
			Evidence: full.evidence()})
	case !full.byPolicy:
		found = append(found, notByPolicy(full))
	case short.admitted:
		found = append(found, Finding{Code: "admission-allows-short-name", Criterion: "docker-io",
			Problem:  fmt.Sprintf("The API server refused %s but admitted %s: the policy looks for docker.io, and a short name does not say it.", dockerHubImage, short.what),
			Expected: "every image not from " + reg + "/ refused, however it is written",
			Try:      fmt.Sprintf("List what is allowed, not what is forbidden: %s refuses every other registry, named or not.", allowlistTry(reg)),
			Evidence: short.evidence()})
	}
	return found
}

func judgePrivate(pod, deploy answer, reg string) []Finding {
	var found []Finding
	for _, a := range []answer{pod, deploy} {
		if a.admitted {
			continue
		}
		f := Finding{Code: "admission-refuses-private", Criterion: "private",
			Problem:  fmt.Sprintf("The API server refused %s: the private registry's own image must be admitted.", a.what),
			Expected: "admitted", Evidence: a.said,
			Try: fmt.Sprintf("Compare the image with the registry followed by a slash: c.image.startsWith('%s/'), the registry written exactly as in the image (host and port).", reg)}
		switch {
		case !a.byPolicy:
			f.Try = "Something other than a ValidatingAdmissionPolicy refused it: read the refusal."
		case strings.Contains(a.said, "no such key") && a.deploy:
			f.Try = "The expression reads a field the Deployment does not have: a Deployment keeps its containers under spec.template.spec, not spec. Check object.kind, e.g. a variable: object.kind == 'Pod' ? object.spec : object.spec.template.spec."
		case strings.Contains(a.said, "no such key"):
			f.Try = "The expression reads a field the pod does not have (a pod with no init containers has no spec.initContainers). Guard optional fields with has(): !has(object.spec.initContainers) || object.spec.initContainers.all(c, …)."
		case strings.Contains(a.said, "failed to configure"):
			f.Try = "The policy or its binding is misconfigured (a paramKind without a paramRef, or a param that is not there): read the refusal."
		}
		found = append(found, f)
	}
	return found
}

func judgeInit(a answer, reg string) []Finding {
	switch {
	case a.admitted:
		return []Finding{{Code: "admission-allows-init-containers", Criterion: "init-containers",
			Problem:  fmt.Sprintf("The API server admitted %s: init containers run images too, and the policy does not look at them.", a.what),
			Expected: "refused",
			Try:      fmt.Sprintf("Check spec.initContainers as well; a pod may have none, so guard it: !has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image.startsWith('%s/')).", reg),
			Evidence: a.evidence()}}
	case !a.byPolicy:
		return []Finding{notByPolicy(a)}
	}
	return nil
}

func judgeDeployment(a answer, reg string) []Finding {
	switch {
	case a.admitted:
		return []Finding{{Code: "admission-allows-deployments", Criterion: "deployments",
			Problem:  fmt.Sprintf("The API server admitted %s. A policy on pods alone lets the Deployment be created; then every pod its ReplicaSet makes is refused, the Deployment stays at 0 ready replicas, and only kubectl describe replicaset shows why (FailedCreate).", a.what),
			Expected: "the Deployment refused when it is created",
			Try:      fmt.Sprintf("Match the workloads too (apiGroups [\"apps\"], resources [\"deployments\"], and the others: replicasets, statefulsets, daemonsets; batch jobs and cronjobs) and read their pod template: a variable spec = object.kind == 'Pod' ? object.spec : object.spec.template.spec, then variables.spec.containers.all(c, c.image.startsWith('%s/')).", reg),
			Evidence: a.evidence()}}
	case !a.byPolicy:
		return []Finding{notByPolicy(a)}
	}
	return nil
}

func judgeLookAlikes(alikes []answer, reg string) []Finding {
	var let []string
	var evidence []string
	var found []Finding
	for _, a := range alikes {
		switch {
		case a.admitted:
			let = append(let, a.image)
			if e := a.evidence(); e != "" {
				evidence = append(evidence, e)
			}
		case !a.byPolicy:
			found = append(found, notByPolicy(a))
		}
	}
	if len(let) > 0 {
		found = append(found, Finding{Code: "admission-allows-look-alike", Criterion: "look-alike",
			Problem:  fmt.Sprintf("The API server admitted a pod running %s: another registry, whose name only begins with %s.", strings.Join(let, " and "), reg),
			Expected: "only images under " + reg + "/ (with the slash) admitted",
			Try:      fmt.Sprintf("Put the slash after the registry: c.image.startsWith('%s/'). Without it, startsWith('%s') also lets in %s.", reg, reg, strings.SplitN(let[0], "/", 2)[0]),
			Evidence: strings.Join(evidence, "\n")})
	}
	return found
}

// moreAdvice goes past the criteria: ephemeral containers (kubectl debug)
// added to a running pod, and a policy that also refuses the cluster's own
// system pods.
func moreAdvice(ctx context.Context, env *Env, reg string) ([]Finding, error) {
	var found []Finding
	pods, err := env.Kube.CoreV1().Pods(env.Namespace).List(ctx, metav1.ListOptions{})
	if err == nil {
		if pod := privatePod(pods.Items, reg); pod != nil {
			a, err := askEphemeral(ctx, env, pod)
			if err != nil {
				return nil, err
			}
			if a.admitted {
				found = append(found, Finding{Code: "admission-allows-ephemeral-containers", Severity: Advice,
					Problem:  fmt.Sprintf("The API server would let kubectl debug add a container running %s to pod %s: ephemeral containers come through the pods/ephemeralcontainers subresource, an UPDATE.", dockerHubInit, pod.Name),
					Try:      "Match resources [\"pods\", \"pods/ephemeralcontainers\"] with operations [CREATE, UPDATE], and check object.spec.ephemeralContainers too (guarded with has()).",
					Evidence: a.evidence()})
			}
		}
	}
	if env.Namespace != metav1.NamespaceSystem {
		sys := probe{name: "imagelab-probe-system", deploy: true, image: dockerHubImage, private: dockerHubImage,
			what: "a Deployment in kube-system whose pod template runs " + dockerHubImage}
		e := *env
		e.Namespace = metav1.NamespaceSystem
		if a, err := sys.ask(ctx, &e); err == nil && !a.admitted && a.byPolicy {
			found = append(found, Finding{Code: "admission-cluster-wide", Severity: Advice,
				Problem:  "Your policy also refuses Docker Hub images in kube-system. The cluster's own add-ons may come from there (kind's network plugin, kindnetd, does): when their pods are re-created, they will be refused.",
				Try:      fmt.Sprintf("Scope the binding with matchResources.namespaceSelector: your namespace (%s: %s), or every namespace but the system ones.", corev1.LabelMetadataName, env.Namespace),
				Evidence: a.said})
		}
	}
	return found, nil
}

// privatePod is a pod whose images all come from the registry, so that an
// ephemeral container is the only reason to refuse an update of it.
func privatePod(pods []corev1.Pod, reg string) *corev1.Pod {
	for i := range pods {
		p := &pods[i]
		ok := p.DeletionTimestamp == nil
		for _, list := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
			for _, c := range list {
				ok = ok && strings.HasPrefix(c.Image, reg+"/")
			}
		}
		if ok && len(p.Spec.EphemeralContainers) == 0 {
			return p
		}
	}
	return nil
}

// askEphemeral asks, as a dry run, to add an ephemeral container running a
// Docker Hub image to the pod (what kubectl debug does).
func askEphemeral(ctx context.Context, env *Env, pod *corev1.Pod) (answer, error) {
	p := probe{name: pod.Name, what: "an ephemeral container running " + dockerHubInit + " in pod " + pod.Name, image: dockerHubInit}
	pod = pod.DeepCopy()
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "imagelab-probe", Image: dockerHubInit}})
	var w warnings
	err := env.Kube.CoreV1().RESTClient().Put().Namespace(pod.Namespace).Resource("pods").Name(pod.Name).SubResource("ephemeralcontainers").
		VersionedParams(&metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}, scheme.ParameterCodec).
		Body(pod).WarningHandler(&w).Do(ctx).Error()
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return answer{probe: p}, nil // changed or gone meanwhile: nothing to say
	}
	return read(p, err, w.list)
}
