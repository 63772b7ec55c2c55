package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// TestIntegrationMistakes makes each mistake learners make with private
// images for real — with kubectl, in a shell, against the real API server
// and registry — and expects the check to name it.
func TestIntegrationMistakes(t *testing.T) {
	testenv.Require(t)
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	otherPort := "localhost:1" // a registry name with the wrong port
	if strings.HasSuffix(reg.Host, ":1") {
		otherPort = "localhost:2"
	}
	// A correct secret, for the cases about pods.
	regcred := `kubectl create secret docker-registry regcred --docker-server="$REG" --docker-username="$REG_USER" --docker-password="$REG_PASS"`
	// A registry login in the sandbox's docker config, as docker login
	// writes it, for trivy and cosign.
	dockerLogin := `printf '{"auths": {"%s": {"auth": "%s"}}}' "$REG" "$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)" > "$DOCKER_CONFIG/config.json"`
	podYAML := func(extra string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: internal-app\nspec:\n  containers:\n  - name: app\n    image: %s/apps/internal-app:1.0\n%s", reg.Host, extra)
	}

	cases := []struct {
		name   string
		step   string
		files  map[string]string
		script string
		want   string // the finding's code
		passes bool   // the step still passes (the finding is advice)
		// cleanup undoes what the script made outside the test's namespace.
		cleanup string
		// notMention must appear in no finding: another learner's namespace.
		notMention string
	}{
		{name: "secret in the default namespace", step: "pull-secrets/regcred",
			script:  `kubectl create secret docker-registry regcred -n default --docker-server="$REG" --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			cleanup: `kubectl delete secret regcred -n default --ignore-not-found`,
			want:    "secret-wrong-namespace"},
		{name: "a secret of that name in someone else's namespace is not named", step: "pull-secrets/regcred",
			script:     `kubectl create namespace "$NS-someone" && kubectl create secret docker-registry regcred -n "$NS-someone" --docker-server="$REG" --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			want:       "secret-missing",
			notMention: "-someone"},
		{name: "secret made from a config.json whose login is in a credential helper", step: "pull-secrets/regcred",
			script: `printf '{"auths": {"%s": {}}, "credsStore": "desktop"}' "$REG" > helper-config.json
kubectl create secret generic regcred --type=kubernetes.io/dockerconfigjson --from-file=.dockerconfigjson=helper-config.json`,
			want: "secret-credentials-in-helper"},
		{name: "pod brings its own pull secret instead of inheriting it", step: "service-accounts/pod-with-serviceaccount",
			files: map[string]string{"via-serviceaccount.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: via-serviceaccount\nspec:\n  serviceAccountName: puller\n  imagePullSecrets:\n  - name: regcred\n  containers:\n  - name: app\n    image: IMAGE\n"},
			script: regcred + `
kubectl create serviceaccount puller
kubectl patch serviceaccount puller -p '{"imagePullSecrets": [{"name": "regcred"}]}'
sed -i "s#IMAGE#$REG/apps/internal-app:1.0#" via-serviceaccount.yaml
kubectl create -f via-serviceaccount.yaml && rm via-serviceaccount.yaml`,
			want: "pod-own-pull-secrets"},
		{name: "troubleshooting: only the secret fixed, the pod still names a typo", step: "troubleshoot/broken-app",
			script: `kubectl delete secret regcred-app && kubectl create secret docker-registry regcred-app --docker-server="$REG" --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			want:   "troubleshoot-pull-secret", notMention: "regcred"},
		{name: "troubleshooting: the findings say where to look, not what is wrong", step: "troubleshoot/broken-app",
			want: "troubleshoot-pull-secret", notMention: "localhost:5000"},
		{name: "docker-server with another port", step: "pull-secrets/regcred",
			script: `kubectl create secret docker-registry regcred --docker-server=` + otherPort + ` --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			want:   "secret-server-port"},
		{name: "docker-server left out", step: "pull-secrets/regcred",
			script: `kubectl create secret docker-registry regcred --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			want:   "secret-server-default"},
		{name: "docker-server with a path", step: "pull-secrets/regcred",
			script: `kubectl create secret docker-registry regcred --docker-server="$REG/other" --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			want:   "secret-server-path"},
		{name: "docker-server with a scheme", step: "pull-secrets/regcred",
			script: `kubectl create secret docker-registry regcred --docker-server="https://$REG" --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			want:   "secret-server-decorated", passes: true},
		{name: "old dockercfg type", step: "pull-secrets/regcred",
			script: `printf '{"%s": {"username": "%s", "password": "%s"}}' "$REG" "$REG_USER" "$REG_PASS" > dockercfg.json
kubectl create secret generic regcred --type=kubernetes.io/dockercfg --from-file=.dockercfg=dockercfg.json`,
			want: "secret-dockercfg-type"},
		{name: "generic (Opaque) secret", step: "pull-secrets/regcred",
			script: `printf '{"auths": {"%s": {"username": "%s", "password": "%s"}}}' "$REG" "$REG_USER" "$REG_PASS" > config.json
kubectl create secret generic regcred --from-file=.dockerconfigjson=config.json`,
			want: "secret-opaque"},
		{name: "unquoted $ in the password", step: "pull-secrets/regcred",
			script: `kubectl create secret docker-registry regcred --docker-server="$REG" --docker-username="$REG_USER" --docker-password=` + reg.Password,
			want:   "secret-password-dollar"},
		{name: "wrong password", step: "pull-secrets/regcred",
			script: `kubectl create secret docker-registry regcred --docker-server="$REG" --docker-username="$REG_USER" --docker-password='not-the-password'`,
			want:   "secret-wrong-password"},
		{name: "imagePullSecrets under the container", step: "pull-secrets/image-pull-secrets",
			files:  map[string]string{"internal-app.yaml": podYAML("    imagePullSecrets:\n    - name: regcred\n")},
			script: regcred + "\nkubectl apply -f internal-app.yaml || true",
			want:   "pod-secret-under-container"},
		{name: "imagePullSecrets under the container, --validate=false", step: "pull-secrets/image-pull-secrets",
			files:  map[string]string{"internal-app.yaml": podYAML("    imagePullSecrets:\n    - name: regcred\n")},
			script: regcred + "\nkubectl apply --validate=false -f internal-app.yaml",
			want:   "pod-secret-under-container"},
		{name: "Deployment with the secret outside its pod template", step: "pull-secrets/image-pull-secrets",
			files: map[string]string{"deploy.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: internal-app
spec:
  selector: {matchLabels: {app: internal-app}}
  imagePullSecrets:
  - name: regcred
  template:
    metadata: {labels: {app: internal-app}}
    spec:
      containers:
      - name: app
        image: %s/apps/internal-app:1.0
`, reg.Host)},
			script: regcred + "\nkubectl apply -f deploy.yaml || true",
			want:   "deployment-secret-outside-template"},
		{name: "imagePullSecrets added to a running pod", step: "pull-secrets/image-pull-secrets",
			files: map[string]string{"internal-app.yaml": podYAML("")},
			script: regcred + "\nkubectl apply -f internal-app.yaml\n" +
				"printf '  imagePullSecrets:\\n  - name: regcred\\n' >> internal-app.yaml\n" +
				"kubectl apply -f internal-app.yaml || true",
			want: "pod-immutable"},
		{name: "pod without imagePullSecrets", step: "pull-secrets/image-pull-secrets",
			files:  map[string]string{"internal-app.yaml": podYAML("")},
			script: regcred + "\nkubectl apply -f internal-app.yaml",
			want:   "pod-no-pull-secret"},
		{name: "image without the registry", step: "pull-secrets/image-pull-secrets",
			script: regcred + "\nkubectl run internal-app --image=apps/internal-app:1.0",
			want:   "pod-image-no-registry"},
		{name: "docker login to another port", step: "private-registry/login",
			script: `printf '{"auths": {"` + otherPort + `": {"auth": "%s"}}}' "$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)" > "$DOCKER_CONFIG/config.json"`,
			want:   "docker-login-wrong-port"},
		// Registry allowlists. The policy and binding are cluster-wide and
		// named by the step, so each case deletes them before it starts
		// (the content test leaves its own) and when it ends, and these
		// cases must not run in parallel with each other; each binding
		// selects the case's namespace alone, so nothing is refused
		// elsewhere even while one lingers.
		{name: "allowlist with startsWith and no slash", step: "admission/registry-allowlist",
			script: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found
cat > policy.yaml <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: private-registry-only}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  validations:
  - expression: "object.spec.containers.all(c, c.image.startsWith('$REG'))"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: private-registry-only}
spec:
  policyName: private-registry-only
  validationActions: [Deny]
  matchResources: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}}
EOF
kubectl apply -f policy.yaml`,
			cleanup: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found`,
			want:    "admission-allows-look-alike"},
		{name: "allowlist on pods only", step: "admission/registry-allowlist",
			script: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found
cat > policy.yaml <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: private-registry-only}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  validations:
  - expression: "object.spec.containers.all(c, c.image.startsWith('$REG/'))"
  - expression: "!has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image.startsWith('$REG/'))"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: private-registry-only}
spec:
  policyName: private-registry-only
  validationActions: [Deny]
  matchResources: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}}
EOF
kubectl apply -f policy.yaml`,
			cleanup: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found`,
			want:    "admission-allows-deployments"},
		{name: "allowlist binding that only warns", step: "admission/registry-allowlist",
			script: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found
cat > policy.yaml <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: private-registry-only}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  validations:
  - expression: "object.spec.containers.all(c, c.image.startsWith('$REG/'))"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: private-registry-only}
spec:
  policyName: private-registry-only
  validationActions: [Warn]
  matchResources: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}}
EOF
kubectl apply -f policy.yaml`,
			cleanup: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found`,
			want:    "admission-binding-no-deny"},
		{name: "allowlist policy without a binding", step: "admission/registry-allowlist",
			script: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found
cat > policy.yaml <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: private-registry-only}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  validations:
  - expression: "object.spec.containers.all(c, c.image.startsWith('$REG/'))"
EOF
kubectl apply -f policy.yaml`,
			cleanup: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found`,
			want:    "admission-policy-no-binding"},
		{name: "allowlist binding with a typo in policyName", step: "admission/registry-allowlist",
			script: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found
cat > policy.yaml <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: private-registry-only}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  validations:
  - expression: "object.spec.containers.all(c, c.image.startsWith('$REG/'))"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: private-registry-only}
spec:
  policyName: private-registry-onyl
  validationActions: [Deny]
  matchResources: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}}
EOF
kubectl apply -f policy.yaml`,
			cleanup: `kubectl delete validatingadmissionpolicybinding/private-registry-only validatingadmissionpolicy/private-registry-only --ignore-not-found`,
			want:    "admission-binding-missing-policy"},
		// Supply-chain tools, with the real trivy, cosign and kubesec.
		// Registry logins go straight into the sandbox's docker config,
		// as docker login writes them. The sign cases share the
		// registry, so the tag case comes first.
		{name: "scanning the repository without its tag (:latest)", step: "supply-chain-tools/scan",
			script: dockerLogin + `
rc=0; trivy image --quiet --severity CRITICAL --exit-code 3 "$REG/apps/payments" || rc=$?
if [ "$rc" = 3 ]; then kubectl delete pod payments; fi
[ "$rc" = 0 ] || [ "$rc" = 3 ]
rc=0; trivy image --quiet --severity CRITICAL --exit-code 3 "$REG/apps/reports:3.1" || rc=$?
if [ "$rc" = 3 ]; then kubectl delete pod reports; fi`,
			want: "scan-wrong-tag"},
		{name: "signing the tag instead of the digest the pod runs", step: "supply-chain-tools/sign",
			script: dockerLogin + `
export COSIGN_PASSWORD=pw
cosign generate-key-pair
cosign sign --yes --key cosign.key --tlog-upload=false "$REG/apps/release:1.0"`,
			want: "sign-tag-not-digest"},
		{name: "a new key pair after signing", step: "supply-chain-tools/sign",
			script: dockerLogin + `
export COSIGN_PASSWORD=pw
cosign generate-key-pair
cosign sign --yes --key cosign.key --tlog-upload=false "$(kubectl get pod release -o jsonpath='{.spec.containers[0].image}')"
rm cosign.key cosign.pub && cosign generate-key-pair`,
			want: "sign-other-key"},
		{name: "an SBOM of the repository's :latest", step: "supply-chain-tools/sbom",
			script: dockerLogin + `
trivy image --quiet --format cyclonedx --output ledger-sbom.json "$REG/apps/ledger"`,
			want: "sbom-other-image"},
		{name: "an SBOM in SPDX tag-value", step: "supply-chain-tools/sbom",
			script: dockerLogin + `
trivy image --quiet --format spdx --output ledger-sbom.json "$REG/apps/ledger:2.3"`,
			want: "sbom-not-json"},
		{name: "a pod fixed in its file but not made again", step: "supply-chain-tools/harden",
			script: `cat > web.yaml <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532}
  imagePullSecrets: [{name: lab-cred}]
  containers:
  - name: web
    image: $REG/apps/internal-app:1.0
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources:
      requests: {cpu: 50m, memory: 32Mi}
      limits: {cpu: 100m, memory: 64Mi}
YAML
kubesec scan web.yaml
kubectl apply -f web.yaml || true`,
			want: "hardened-not-applied"},
		{name: "runAsNonRoot over an image whose user is root", step: "supply-chain-tools/harden",
			script: `cat > web.yaml <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  securityContext: {runAsNonRoot: true}
  imagePullSecrets: [{name: lab-cred}]
  containers:
  - name: web
    image: $REG/apps/internal-app:1.0
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources:
      limits: {cpu: 100m, memory: 64Mi}
YAML
kubectl delete pod web --wait && kubectl apply -f web.yaml`,
			want: "hardened-would-not-start"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := fmt.Sprintf("mistake-%d", i)
			sb, env := labSandbox(t, ns, reg)
			step, err := cur.Find(tc.step)
			if err != nil {
				t.Fatal(err)
			}
			requireStepTools(t, step)
			if err := step.SetUp(context.Background(), env, values(sb)); err != nil {
				t.Fatal(err)
			}
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(sb.WorkDir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			script := fmt.Sprintf("export NS=%s REG=%s REG_USER=%s REG_PASS=%s\n%s",
				ns, reg.Host, reg.User, shellQuote(reg.Password), tc.script)
			if tc.cleanup != "" {
				t.Cleanup(func() { _, _ = learnerShell(t, sb, tc.cleanup) })
			}
			if out, err := learnerShell(t, sb, script); err != nil {
				t.Fatalf("making the mistake: %v\n%s", err, out)
			}
			res, err := step.Run(context.Background(), env, values(sb), "")
			if err != nil {
				t.Fatalf("check could not run: %v", err)
			}
			if res.Passed != tc.passes {
				t.Errorf("passed = %v, want %v", res.Passed, tc.passes)
			}
			if !res.HasFinding(tc.want) {
				t.Errorf("no %s finding; got:", tc.want)
				for _, f := range res.Findings {
					t.Errorf("  %s: %s", f.Code, f.Problem)
				}
			}
			for _, f := range res.Findings {
				if tc.notMention != "" && strings.Contains(f.Problem+f.Try+f.Expected, tc.notMention) {
					t.Errorf("finding %s names another learner's namespace: %s", f.Code, f.Problem)
				}
			}
			requireCriteria(t, step, res)
		})
	}
}

// requireCriteria: every problem a check reports is charged to one of the
// criteria its definition declares, so an exam can give credit for the
// others.
func requireCriteria(t *testing.T, s *lessons.Step, res check.Result) {
	t.Helper()
	def := s.Definition()
	names := map[string]bool{}
	for _, c := range def.Criteria {
		names[c.Name] = true
	}
	if len(names) == 0 {
		t.Errorf("check %s declares no criteria", def.Name)
	}
	for _, f := range res.Problems() {
		if !names[f.Criterion] {
			t.Errorf("check %s: problem %s is charged to %q, not one of its criteria", def.Name, f.Code, f.Criterion)
		}
	}
	if len(res.Criteria) != len(def.Criteria) {
		t.Errorf("check %s scored %d criteria, declares %d", def.Name, len(res.Criteria), len(def.Criteria))
	}
	for _, c := range res.Criteria {
		if res.Passed != c.Met && res.Passed {
			t.Errorf("check %s passed with criterion %s unmet", def.Name, c.Name)
		}
	}
	if !res.Passed && len(res.Criteria) > 0 && allMet(res.Criteria) {
		t.Errorf("check %s failed with every criterion met: %+v", def.Name, res.Criteria)
	}
}

func allMet(cs []check.CriterionVerdict) bool {
	for _, c := range cs {
		if !c.Met {
			return false
		}
	}
	return true
}
