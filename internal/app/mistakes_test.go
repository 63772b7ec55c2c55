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
	}{
		{name: "secret in another namespace", step: "pull-secrets/regcred",
			script: `kubectl create namespace "$NS-other" && kubectl create secret docker-registry regcred -n "$NS-other" --docker-server="$REG" --docker-username="$REG_USER" --docker-password="$REG_PASS"`,
			want:   "secret-wrong-namespace"},
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
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := fmt.Sprintf("mistake-%d", i)
			sb, env := labSandbox(t, ns, reg)
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(sb.WorkDir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			script := fmt.Sprintf("export NS=%s REG=%s REG_USER=%s REG_PASS=%s\n%s",
				ns, reg.Host, reg.User, shellQuote(reg.Password), tc.script)
			if out, err := learnerShell(t, sb, script); err != nil {
				t.Fatalf("making the mistake: %v\n%s", err, out)
			}
			step, err := cur.Find(tc.step)
			if err != nil {
				t.Fatal(err)
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
		})
	}
}
