package check

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"text/template"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/imagelab/imagelab/internal/testenv"
)

// A policy for the tests, written as a learner writes one; each case
// changes a piece of it. It is scoped to the case's namespace, so cases
// do not see each other's policies.
const testPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {{.Name}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: {{.PodResources}}
{{- if .Workloads}}
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
{{- end}}
  variables:
  - name: spec
    expression: "object.kind == 'Pod' ? object.spec : object.spec.template.spec"
  validations:
  - expression: {{printf "%q" .Expression}}
    message: only images from localhost:5001/ may run here
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {{.Name}}
spec:
  policyName: {{.PolicyName}}
  validationActions: {{.Actions}}
{{- if .Selector}}
  matchResources:
    namespaceSelector:
      matchLabels: {{.Selector}}
{{- end}}
`

// The expressions: the right one, and the mistakes.
const (
	allImages = `variables.spec.containers.all(c, c.image.startsWith('localhost:5001/'))
&& (!has(variables.spec.initContainers) || variables.spec.initContainers.all(c, c.image.startsWith('localhost:5001/')))
&& (!has(variables.spec.ephemeralContainers) || variables.spec.ephemeralContainers.all(c, c.image.startsWith('localhost:5001/')))`
	noSlash = `variables.spec.containers.all(c, c.image.startsWith('localhost:5001'))
&& (!has(variables.spec.initContainers) || variables.spec.initContainers.all(c, c.image.startsWith('localhost:5001')))`
	containersOnly = `variables.spec.containers.all(c, c.image.startsWith('localhost:5001/'))`
	unguardedInit  = `variables.spec.containers.all(c, c.image.startsWith('localhost:5001/')) && variables.spec.initContainers.all(c, c.image.startsWith('localhost:5001/'))`
	denyDockerIO   = `variables.spec.containers.all(c, !c.image.startsWith('docker.io/'))
&& (!has(variables.spec.initContainers) || variables.spec.initContainers.all(c, !c.image.startsWith('docker.io/')))`
)

type testPolicyOpts struct {
	Name, PolicyName, Expression, Actions, PodResources, Selector string
	Workloads, NoBinding                                          bool
}

// applyPolicy creates the policy (and binding) and deletes them when the
// test ends: cluster-scoped objects outlive a test's namespace.
func applyPolicy(t *testing.T, client kubernetes.Interface, o testPolicyOpts) {
	t.Helper()
	var buf bytes.Buffer
	if err := template.Must(template.New("").Parse(testPolicy)).Execute(&buf, o); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(buf.String(), "\n---\n")
	if o.NoBinding {
		docs = docs[:1]
	}
	ctx := context.Background()
	for _, doc := range docs {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		api := client.AdmissionregistrationV1()
		switch o := obj.(type) {
		case *admissionv1.ValidatingAdmissionPolicy:
			if _, err := api.ValidatingAdmissionPolicies().Create(ctx, o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = api.ValidatingAdmissionPolicies().Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		case *admissionv1.ValidatingAdmissionPolicyBinding:
			if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = api.ValidatingAdmissionPolicyBindings().Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		}
	}
	if o.Selector == "" {
		// A deleted policy stays enforced for a moment: let the next case
		// start without this cluster-wide one.
		t.Cleanup(func() { time.Sleep(AdmissionSettle) })
	}
}

// TestIntegrationRegistryOnly makes the policies learners write for real,
// on a real API server, and expects the check to judge them by what the
// API server does.
func TestIntegrationRegistryOnly(t *testing.T) {
	testenv.Require(t)
	api, err := testenv.StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Stop() })
	ctx := context.Background()
	const private = "localhost:5001/apps/internal-app:1.0"

	newEnv := func(t *testing.T, ns string) *Env {
		t.Helper()
		if _, err := api.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The ServiceAccount admission plugin wants the default account.
		if _, err := api.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return &Env{Kube: api.Client, Namespace: ns, Registry: Registry{Host: "localhost:5001", User: "learner", Password: "x"}}
	}
	run := func(t *testing.T, env *Env) Result {
		t.Helper()
		res, err := Run(ctx, "admission.registry-only", env, Request{Params: map[string]string{"image": private}})
		if err != nil {
			t.Fatalf("check could not run: %v", err)
		}
		for _, f := range res.Problems() {
			if f.Criterion == "" || f.Try == "" {
				t.Errorf("problem %s has no criterion or nothing to try: %+v", f.Code, f)
			}
		}
		return res
	}
	criteria := func(res Result) string {
		var out []string
		for _, c := range res.Criteria {
			switch {
			case !c.Judged:
				out = append(out, c.Name+"=?")
			case c.Met:
				out = append(out, c.Name+"=ok")
			default:
				out = append(out, c.Name+"=no")
			}
		}
		return strings.Join(out, " ")
	}
	scoped := func(ns string) string { return fmt.Sprintf("{%s: %s}", corev1.LabelMetadataName, ns) }
	right := func(name, ns string) testPolicyOpts {
		return testPolicyOpts{Name: name, PolicyName: name, Expression: allImages, Actions: "[Deny]",
			PodResources: `["pods", "pods/ephemeralcontainers"]`, Workloads: true, Selector: scoped(ns)}
	}

	cases := []struct {
		name     string
		policy   func(ns string) testPolicyOpts // nil: no policy at all
		want     []string                       // finding codes
		criteria string
		passes   bool
		evidence string // in the first wanted finding's evidence
	}{
		{name: "nothing yet", want: []string{"admission-no-policy"},
			criteria: "docker-io=no private=? init-containers=? deployments=? look-alike=?",
			evidence: "no ValidatingAdmissionPolicy"},
		{name: "the right policy", policy: func(ns string) testPolicyOpts { return right("right", ns) },
			want: []string{"admission-refused"}, passes: true,
			criteria: "docker-io=ok private=ok init-containers=ok deployments=ok look-alike=ok",
			evidence: "ValidatingAdmissionPolicy 'right' with binding 'right' denied request"},
		{name: "startsWith without the slash", policy: func(ns string) testPolicyOpts {
			o := right("noslash", ns)
			o.Expression = noSlash
			return o
		}, want: []string{"admission-allows-look-alike"},
			criteria: "docker-io=ok private=ok init-containers=ok deployments=ok look-alike=no"},
		{name: "pods only", policy: func(ns string) testPolicyOpts {
			o := right("podsonly", ns)
			o.Workloads = false
			return o
		}, want: []string{"admission-allows-deployments"},
			criteria: "docker-io=ok private=ok init-containers=ok deployments=no look-alike=ok"},
		{name: "containers only", policy: func(ns string) testPolicyOpts {
			o := right("containersonly", ns)
			o.Expression = containersOnly
			return o
		}, want: []string{"admission-allows-init-containers"},
			criteria: "docker-io=ok private=ok init-containers=no deployments=ok look-alike=ok"},
		{name: "a binding that only warns", policy: func(ns string) testPolicyOpts {
			o := right("warns", ns)
			o.Actions = "[Warn]"
			return o
		}, want: []string{"admission-binding-no-deny", "admission-no-policy"},
			criteria: "docker-io=no private=? init-containers=? deployments=? look-alike=?",
			evidence: "Validation failed for ValidatingAdmissionPolicy 'warns' with binding 'warns'"},
		{name: "a policy without binding", policy: func(ns string) testPolicyOpts {
			o := right("unbound", ns)
			o.NoBinding = true
			return o
		}, want: []string{"admission-policy-no-binding", "admission-no-policy"},
			criteria: "docker-io=no private=? init-containers=? deployments=? look-alike=?"},
		{name: "a typo in policyName", policy: func(ns string) testPolicyOpts {
			o := right("typo", ns)
			o.PolicyName = "tpyo"
			return o
		}, want: []string{"admission-binding-missing-policy", "admission-policy-no-binding"}},
		{name: "a selector that misses the namespace", policy: func(ns string) testPolicyOpts {
			o := right("elsewhere", ns)
			o.Selector = "{name: " + ns + "}"
			return o
		}, want: []string{"admission-binding-other-namespace"}},
		{name: "initContainers read without has()", policy: func(ns string) testPolicyOpts {
			o := right("unguarded", ns)
			o.Expression = unguardedInit
			return o
		}, want: []string{"admission-refuses-private"}, evidence: "no such key",
			criteria: "docker-io=ok private=no init-containers=? deployments=? look-alike=?"},
		{name: "a denylist of docker.io", policy: func(ns string) testPolicyOpts {
			o := right("denylist", ns)
			o.Expression = denyDockerIO
			return o
		}, want: []string{"admission-allows-short-name", "admission-allows-look-alike"}},
		{name: "a cluster-wide binding", policy: func(ns string) testPolicyOpts {
			o := right("everywhere", ns)
			o.Selector = ""
			return o
		}, want: []string{"admission-cluster-wide"}, passes: true},
	}
	// A case whose policy applies to its own namespace alone runs in
	// parallel with the others; one with no policy, or a cluster-wide
	// one, runs alone.
	alone := func(i int) bool { return cases[i].policy == nil || cases[i].policy("").Selector == "" }
	judge := func(t *testing.T, i int) {
		tc := cases[i]
		ns := fmt.Sprintf("vap-%d", i)
		env := newEnv(t, ns)
		if tc.policy != nil {
			applyPolicy(t, api.Client, tc.policy(ns))
		}
		res := run(t, env)
		if res.Passed != tc.passes {
			t.Errorf("passed = %v, want %v", res.Passed, tc.passes)
		}
		for _, code := range tc.want {
			if !res.HasFinding(code) {
				t.Errorf("no %s finding", code)
			}
		}
		if tc.criteria != "" && criteria(res) != tc.criteria {
			t.Errorf("criteria %s, want %s", criteria(res), tc.criteria)
		}
		if tc.evidence != "" {
			for _, f := range res.Findings {
				if f.Code == tc.want[0] && !strings.Contains(f.Evidence, tc.evidence) {
					t.Errorf("%s's evidence %q does not quote %q", f.Code, f.Evidence, tc.evidence)
				}
			}
		}
		if t.Failed() || testing.Verbose() {
			for _, f := range res.Findings {
				t.Logf("%s %s [%s]: %s\n  try: %s\n  evidence: %s", f.Severity, f.Code, f.Criterion, f.Problem, f.Try, f.Evidence)
			}
		}
	}
	for i := range cases {
		if cases[i].policy == nil {
			t.Run(cases[i].name, func(t *testing.T) { judge(t, i) })
		}
	}
	t.Run("scoped", func(t *testing.T) {
		for i := range cases {
			if !alone(i) {
				t.Run(cases[i].name, func(t *testing.T) {
					t.Parallel()
					judge(t, i)
				})
			}
		}
		t.Run("ephemeral containers", func(t *testing.T) {
			t.Parallel()
			ns := "vap-ephemeral"
			env := newEnv(t, ns)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "internal-app"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: private}}}}
			if _, err := api.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			o := right("noephemeral", ns)
			o.PodResources = `["pods"]`
			applyPolicy(t, api.Client, o)
			if res := run(t, env); !res.Passed || !res.HasFinding("admission-allows-ephemeral-containers") {
				t.Errorf("a policy blind to kubectl debug: passed %v, findings %+v", res.Passed, res.Findings)
			}
			env2 := newEnv(t, ns+"-2")
			if _, err := api.Client.CoreV1().Pods(env2.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			applyPolicy(t, api.Client, right("withephemeral", env2.Namespace))
			if res := run(t, env2); !res.Passed || res.HasFinding("admission-allows-ephemeral-containers") {
				t.Errorf("the right policy: passed %v, findings %+v", res.Passed, res.Findings)
			}
		})
	})
	for i := range cases {
		if cases[i].policy != nil && alone(i) {
			t.Run(cases[i].name, func(t *testing.T) { judge(t, i) })
		}
	}

	t.Run("reset deletes only what concerns the namespace", func(t *testing.T) {
		env := newEnv(t, "vap-reset")
		applyPolicy(t, api.Client, right("mine", env.Namespace))
		if res := run(t, env); !res.Passed {
			t.Fatalf("the right policy fails: %+v", res.Findings)
		}
		// As the step's reset list: the policy first, while its binding
		// shows it concerns this namespace alone.
		start := time.Now()
		if err := ValidatingAdmissionPolicies.Reset(ctx, env, "mine"); err != nil {
			t.Errorf("reset of a policy bound to the namespace alone: %v", err)
		}
		if err := ValidatingAdmissionPolicyBindings.Reset(ctx, env, "mine"); err != nil {
			t.Errorf("reset of a binding scoped to the namespace: %v", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("reset took %v", took)
		}
		if res := run(t, env); res.Passed || !res.HasFinding("admission-no-policy") {
			t.Errorf("right after reset: passed %v, %+v", res.Passed, res.Findings)
		}
		if err := ValidatingAdmissionPolicies.Reset(ctx, env, "never-made"); err != nil {
			t.Errorf("reset of nothing: %v", err)
		}

		wide := right("wide", env.Namespace)
		wide.Selector = ""
		applyPolicy(t, api.Client, wide)
		if err := ValidatingAdmissionPolicies.Reset(ctx, env, "wide"); err == nil {
			t.Errorf("a cluster-wide policy was reset on a cluster imagelab did not make")
		}
		if err := ValidatingAdmissionPolicyBindings.Reset(ctx, env, "wide"); err == nil || !strings.Contains(err.Error(), "kubectl delete validatingadmissionpolicybinding wide") {
			t.Errorf("a cluster-wide binding was reset on a cluster imagelab did not make: %v", err)
		}
	})

	t.Run("watches report a change once it is in force", func(t *testing.T) {
		env := newEnv(t, "vap-watch")
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		changes := make(chan Change, 16)
		Watch(wctx, env, []*Subject{ValidatingAdmissionPolicies, ValidatingAdmissionPolicyBindings, LearnerNamespace}, func(c Change) { changes <- c }, func(string, error) {})
		time.Sleep(AdmissionSettle + 300*time.Millisecond)
		for len(changes) > 0 {
			<-changes // what was there when the watch opened
		}
		start := time.Now()
		applyPolicy(t, api.Client, right("watched", env.Namespace))
		seen := map[string]bool{}
		for !seen["validatingadmissionpolicybinding"] {
			select {
			case c := <-changes:
				seen[c.Kind] = true
				if d := time.Since(start); d < AdmissionSettle {
					t.Errorf("%s reported after %v, before the API server enforces it", c.Kind, d)
				}
			case <-wctx.Done():
				t.Fatalf("no change reported: %v", seen)
			}
		}
		// A binding selects namespaces by label: a label change is reported too.
		if _, err := api.Client.CoreV1().Namespaces().Patch(ctx, env.Namespace, "application/merge-patch+json", []byte(`{"metadata":{"labels":{"team":"a"}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-changes:
			if c.Kind != "namespace" || c.Name != env.Namespace {
				t.Errorf("change = %+v, want the namespace", c)
			}
		case <-wctx.Done():
			t.Fatal("the namespace's new label was not reported")
		}
	})
}

func TestLookAlikes(t *testing.T) {
	for reg, want := range map[string]string{
		"localhost:5001":       "localhost:50010/apps/x:1",
		"registry.example.com": "registry.example.com0/apps/x:1 registry.example.com.evil.example/apps/x:1",
	} {
		if got := strings.Join(lookAlikes(reg, "apps/x:1"), " "); got != want {
			t.Errorf("lookAlikes(%s) = %s, want %s", reg, got, want)
		}
	}
}

func TestPinsNamespace(t *testing.T) {
	in := metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{"lab"}}
	for _, tc := range []struct {
		sel  *metav1.LabelSelector
		want bool
	}{
		{nil, false},
		{&metav1.LabelSelector{}, false},
		{&metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "lab"}}, true},
		{&metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "other"}}, false},
		{&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in}}, true},
		{&metav1.LabelSelector{MatchLabels: map[string]string{"team": "lab"}}, false},
	} {
		if got := pinsNamespace(tc.sel, "lab"); got != tc.want {
			t.Errorf("pinsNamespace(%v) = %v", tc.sel, got)
		}
	}
}
