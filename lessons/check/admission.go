package check

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
// The probes (admission_probes.go), the inventory that explains a
// verdict (admission_inventory.go) and the step's subjects
// (admission_subjects.go) live beside this file.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
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
	probes := registryProbes(env, private, parts)
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
			Problem: env.T("The API server's answer to %s:", docker.what), Evidence: docker.said})
	}
	found = append(found, judgeDockerHub(env, docker, answers["imagelab-probe-short-name"], reg)...)
	found = append(found, judgePrivate(env, answers["imagelab-probe-private"], answers["imagelab-probe-private-deploy"], reg)...)
	found = append(found, judgeInit(env, answers["imagelab-probe-init"], reg)...)
	found = append(found, judgeDeployment(env, answers["imagelab-probe-deploy"], reg)...)
	var alikes []answer
	for _, p := range probes {
		if p.criterion == "look-alike" {
			alikes = append(alikes, answers[p.name])
		}
	}
	found = append(found, judgeLookAlikes(env, alikes, reg)...)
	if !docker.admitted && docker.byPolicy {
		advice, err := moreAdvice(ctx, env, reg)
		if err != nil {
			return Result{}, err
		}
		found = append(found, advice...)
	}
	var lookAlike string
	if len(alikes) > 0 {
		lookAlike = env.T(" and from the look-alike %s", strings.SplitN(alikes[0].image, "/", 2)[0])
	}
	summary := env.T("In namespace %s the API server refuses images not from %s/ — in containers, init containers, Deployments%s — and admits %s. Refused by %s.",
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
	try := env.T("Write a ValidatingAdmissionPolicy (say %s) that matches pods and checks %s, and a ValidatingAdmissionPolicyBinding that names it with validationActions: [Deny]; kubectl apply -f both. kubectl run test --image=nginx --dry-run=server then shows the refusal.", policyName, allowlistTry(reg))
	if len(inv.policies)+len(inv.bindings) > 0 {
		try = env.T("Fix what is listed here (kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings lists them); kubectl run test --image=nginx --dry-run=server shows what the API server does.")
	}
	problem := env.T("The API server admitted %s in namespace %s: no ValidatingAdmissionPolicy refuses anything there yet.", docker.what, env.Namespace)
	if !docker.admitted {
		problem = env.T("No ValidatingAdmissionPolicy refuses anything in namespace %s yet (what refused %s is quoted below).", env.Namespace, docker.what)
	}
	found := []Finding{{Code: "admission-no-policy", Criterion: "docker-io", Problem: problem,
		Expected: env.T("a ValidatingAdmissionPolicy that matches pods, and a binding that names it with validationActions [Deny]"),
		Try:      try, Evidence: inv.lines(env)}}

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
				Problem:  env.T("Policy %s does not match pods: it matches %s.", p.Name, matched(env, p)),
				Expected: env.T("a resourceRule for pods: apiGroups [\"\"], apiVersions [\"v1\"], resources [\"pods\"], operations [CREATE, UPDATE]"),
				Try:      env.T("Add that rule under spec.matchConstraints.resourceRules.")})
		}
		if len(inv.bindingsOf(p.Name)) == 0 {
			unbound = append(unbound, p.Name)
			found = append(found, Finding{Code: "admission-policy-no-binding", Criterion: "docker-io",
				Problem:  env.T("Policy %s has no binding: a ValidatingAdmissionPolicy does nothing until a ValidatingAdmissionPolicyBinding names it.", p.Name),
				Expected: env.T("a ValidatingAdmissionPolicyBinding with spec.policyName: %s", p.Name),
				Try:      env.T("Create a binding with policyName: %s and validationActions: [Deny], scoped to your namespace with matchResources.namespaceSelector.", p.Name)})
		}
		if sel := p.Spec.MatchConstraints; sel != nil {
			if s, ok := inv.selects(sel.NamespaceSelector); ok && !s {
				found = append(found, otherNamespace(env, inv, env.T("Policy %s's matchConstraints.namespaceSelector", p.Name)))
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
				Problem:  env.T("Binding %s names the policy %s, which does not exist, so it binds nothing.", b.Name, quote(env, b.Spec.PolicyName)),
				Expected: env.T("spec.policyName: the policy's metadata.name, exactly"),
				Try:      env.T("Fix spec.policyName; kubectl get validatingadmissionpolicies lists the policies.")}
			if len(unbound) > 0 {
				f.Try = env.T("Fix spec.policyName: did you mean %s? (kubectl get validatingadmissionpolicies lists the policies.)", strings.Join(unbound, env.T(" or ")))
			}
			found = append(found, f)
			continue
		}
		if !relevant[p.Name] {
			continue
		}
		if !slices.Contains(b.Spec.ValidationActions, admissionv1.Deny) {
			found = append(found, Finding{Code: "admission-binding-no-deny", Criterion: "docker-io",
				Problem:  env.T("Binding %s has validationActions %s: the API server admits the pod and only warns the client (Warn) or records it in the audit log (Audit).", b.Name, actions(b.Spec.ValidationActions)),
				Expected: "validationActions: [Deny]",
				Try:      env.T("Set validationActions: [Deny] (Deny may go with Audit, not with Warn), and apply the binding again."),
				Evidence: strings.Join(warned[b.Name], "\n")})
		}
		if b.Spec.MatchResources != nil {
			if s, ok := inv.selects(b.Spec.MatchResources.NamespaceSelector); ok && !s {
				found = append(found, otherNamespace(env, inv, env.T("Binding %s's matchResources.namespaceSelector", b.Name)))
			}
		}
	}
	// A binding that only warns speaks in warnings even where it cannot be
	// listed: those name it.
	if inv.unreadable != "" {
		for name, ws := range warned {
			found = append(found, Finding{Code: "admission-binding-no-deny", Criterion: "docker-io",
				Problem:  env.T("Binding %s only warns: the API server admitted the pod with a warning.", name),
				Expected: "validationActions: [Deny]", Try: env.T("Set validationActions: [Deny] in the binding."), Evidence: strings.Join(ws, "\n")})
		}
	}
	for _, name := range []string{"imagelab-probe-docker-io", "imagelab-probe-short-name"} {
		if a := answers[name]; !a.admitted {
			found = append(found, notByPolicy(env, a))
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
		Problem:  env.T("%s does not select your namespace %s (its labels: %s), so the policy is not enforced there.", whose, env.Namespace, strings.Join(ls, ", ")),
		Expected: env.T("a selector your namespace matches: matchLabels: {%s: %s}", corev1.LabelMetadataName, env.Namespace),
		Try:      env.T("Every namespace carries the label %s with its own name: select it with that, or label your namespace (kubectl label namespace %s KEY=VALUE).", corev1.LabelMetadataName, env.Namespace)}
}

// notByPolicy: something refused the probe, but not a ValidatingAdmissionPolicy.
func notByPolicy(env *Env, a answer) Finding {
	return Finding{Code: "admission-refused-not-by-policy", Criterion: a.criterion,
		Problem:  env.T("The API server refused %s, but not through a ValidatingAdmissionPolicy.", a.what),
		Expected: env.T("a refusal that names a ValidatingAdmissionPolicy and its binding"),
		Try:      env.T("This step is about a ValidatingAdmissionPolicy; read the refusal: another admission plugin, a webhook or a quota said no."),
		Evidence: a.said}
}

func judgeDockerHub(env *Env, full, short answer, reg string) []Finding {
	var found []Finding
	switch {
	case full.admitted:
		found = append(found, Finding{Code: "admission-allows-docker-io", Criterion: "docker-io",
			Problem:  env.T("The API server admitted %s in namespace %s.", full.what, env.Namespace),
			Expected: env.T("refused by your ValidatingAdmissionPolicy"),
			Try:      env.T("Check that the policy matches pods (resourceRules: apiGroups [\"\"], resources [\"pods\"], operations [CREATE, UPDATE]) and that it allows only the private registry: %s.", allowlistTry(reg)),
			Evidence: full.evidence()})
	case !full.byPolicy:
		found = append(found, notByPolicy(env, full))
	case short.admitted:
		found = append(found, Finding{Code: "admission-allows-short-name", Criterion: "docker-io",
			Problem:  env.T("The API server refused %s but admitted %s: the policy looks for docker.io, and a short name does not say it.", dockerHubImage, short.what),
			Expected: env.T("every image not from %s/ refused, however it is written", reg),
			Try:      env.T("List what is allowed, not what is forbidden: %s refuses every other registry, named or not.", allowlistTry(reg)),
			Evidence: short.evidence()})
	}
	return found
}

func judgePrivate(env *Env, pod, deploy answer, reg string) []Finding {
	var found []Finding
	for _, a := range []answer{pod, deploy} {
		if a.admitted {
			continue
		}
		f := Finding{Code: "admission-refuses-private", Criterion: "private",
			Problem:  env.T("The API server refused %s: the private registry's own image must be admitted.", a.what),
			Expected: env.T("admitted"), Evidence: a.said,
			Try: env.T("Compare the image with the registry followed by a slash: c.image.startsWith('%s/'), the registry written exactly as in the image (host and port).", reg)}
		switch {
		case !a.byPolicy:
			f.Try = env.T("Something other than a ValidatingAdmissionPolicy refused it: read the refusal.")
		case strings.Contains(a.said, "no such key") && a.deploy:
			f.Try = env.T("The expression reads a field the Deployment does not have: a Deployment keeps its containers under spec.template.spec, not spec. Check object.kind, e.g. a variable: object.kind == 'Pod' ? object.spec : object.spec.template.spec.")
		case strings.Contains(a.said, "no such key"):
			f.Try = env.T("The expression reads a field the pod does not have (a pod with no init containers has no spec.initContainers). Guard optional fields with has(): !has(object.spec.initContainers) || object.spec.initContainers.all(c, …).")
		case strings.Contains(a.said, "failed to configure"):
			f.Try = env.T("The policy or its binding is misconfigured (a paramKind without a paramRef, or a param that is not there): read the refusal.")
		}
		found = append(found, f)
	}
	return found
}

func judgeInit(env *Env, a answer, reg string) []Finding {
	switch {
	case a.admitted:
		return []Finding{{Code: "admission-allows-init-containers", Criterion: "init-containers",
			Problem:  env.T("The API server admitted %s: init containers run images too, and the policy does not look at them.", a.what),
			Expected: env.T("refused"),
			Try:      env.T("Check spec.initContainers as well; a pod may have none, so guard it: !has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image.startsWith('%s/')).", reg),
			Evidence: a.evidence()}}
	case !a.byPolicy:
		return []Finding{notByPolicy(env, a)}
	}
	return nil
}

func judgeDeployment(env *Env, a answer, reg string) []Finding {
	switch {
	case a.admitted:
		return []Finding{{Code: "admission-allows-deployments", Criterion: "deployments",
			Problem:  env.T("The API server admitted %s. A policy on pods alone lets the Deployment be created; then every pod its ReplicaSet makes is refused, the Deployment stays at 0 ready replicas, and only kubectl describe replicaset shows why (FailedCreate).", a.what),
			Expected: env.T("the Deployment refused when it is created"),
			Try:      env.T("Match the workloads too (apiGroups [\"apps\"], resources [\"deployments\"], and the others: replicasets, statefulsets, daemonsets; batch jobs and cronjobs) and read their pod template: a variable spec = object.kind == 'Pod' ? object.spec : object.spec.template.spec, then variables.spec.containers.all(c, c.image.startsWith('%s/')).", reg),
			Evidence: a.evidence()}}
	case !a.byPolicy:
		return []Finding{notByPolicy(env, a)}
	}
	return nil
}

func judgeLookAlikes(env *Env, alikes []answer, reg string) []Finding {
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
			found = append(found, notByPolicy(env, a))
		}
	}
	if len(let) > 0 {
		found = append(found, Finding{Code: "admission-allows-look-alike", Criterion: "look-alike",
			Problem:  env.T("The API server admitted a pod running %s: another registry, whose name only begins with %s.", strings.Join(let, env.T(" and ")), reg),
			Expected: env.T("only images under %s/ (with the slash) admitted", reg),
			Try:      env.T("Put the slash after the registry: c.image.startsWith('%s/'). Without it, startsWith('%s') also lets in %s.", reg, reg, strings.SplitN(let[0], "/", 2)[0]),
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
					Problem:  env.T("The API server would let kubectl debug add a container running %s to pod %s: ephemeral containers come through the pods/ephemeralcontainers subresource, an UPDATE.", dockerHubInit, pod.Name),
					Try:      env.T("Match resources [\"pods\", \"pods/ephemeralcontainers\"] with operations [CREATE, UPDATE], and check object.spec.ephemeralContainers too (guarded with has())."),
					Evidence: a.evidence()})
			}
		}
	}
	if env.Namespace != metav1.NamespaceSystem {
		sys := probe{name: "imagelab-probe-system", deploy: true, image: dockerHubImage, private: dockerHubImage,
			what: env.T("a Deployment in kube-system whose pod template runs %s", dockerHubImage)}
		e := *env
		e.Namespace = metav1.NamespaceSystem
		if a, err := sys.ask(ctx, &e); err == nil && !a.admitted && a.byPolicy {
			found = append(found, Finding{Code: "admission-cluster-wide", Severity: Advice,
				Problem:  env.T("Your policy also refuses Docker Hub images in kube-system. The cluster's own add-ons may come from there (kind's network plugin, kindnetd, does): when their pods are re-created, they will be refused."),
				Try:      env.T("Scope the binding with matchResources.namespaceSelector: your namespace (%s: %s), or every namespace but the system ones.", corev1.LabelMetadataName, env.Namespace),
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
	p := probe{name: pod.Name, what: env.T("an ephemeral container running %s in pod %s", dockerHubInit, pod.Name), image: dockerHubInit}
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
