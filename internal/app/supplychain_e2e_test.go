//go:build e2e

package app

import (
	"context"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// TestIntegrationNodeSupplyChain runs the supply-chain steps whose pods
// must run on a real kubelet: the lesson images pulled by containerd from
// the private registry; the scan judged by the digests the kubelet
// pulled; the signed pod running by digest; the hardened pod running as
// 65532 on a read-only root with no capabilities — and runAsNonRoot over
// a root image refused by the kubelet in its own words.
func TestIntegrationNodeSupplyChain(t *testing.T) {
	testenv.RequireTools(t)
	sb, env := nodeSandbox(t, "")
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	vals := values(sb)
	ctx := context.Background()
	run := func(s *lessons.Step, until func(check.Result) bool) check.Result {
		t.Helper()
		return settle(t, env, s.Check.Name, s.Params(vals), until)
	}
	for _, ref := range []string{"supply-chain-tools/scan", "supply-chain-tools/sign", "supply-chain-tools/harden"} {
		s, err := cur.Find(ref)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(ref, func(t *testing.T) {
			if err := s.SetUp(ctx, env, vals); err != nil {
				t.Fatal(err)
			}
			// The pods the step starts from really run: the images are pullable.
			before := run(s, func(r check.Result) bool { return !r.HasFinding("pod-waiting-for-kubelet") })
			if before.Passed {
				t.Fatalf("passes before the solution: %+v", before)
			}
			// What the kubelet pulled is what the checks judge.
			if out, err := learnerShell(t, sb, "kubectl wait --for=condition=Ready pod --all --timeout=120s"); err != nil {
				t.Fatalf("the step's pods do not run: %v\n%s", err, out)
			}
			applySolution(t, sb, s)
			after := run(s, passed)
			if !after.Passed {
				t.Fatalf("does not pass after its solution: %+v", after.Findings)
			}
			if after.HasFinding("no-kubelet") {
				t.Errorf("judged without the kubelet: %+v", after.Findings)
			}
			t.Logf("%s", after.Summary)
		})
	}

	t.Run("runAsNonRoot over a root image", func(t *testing.T) {
		s, _ := cur.Find("supply-chain-tools/harden")
		if err := s.SetUp(ctx, env, vals); err != nil {
			t.Fatal(err)
		}
		script := `cat > web.yaml <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  securityContext: {runAsNonRoot: true}
  imagePullSecrets: [{name: lab-cred}]
  containers:
  - name: web
    image: ` + env.Registry.Repo("apps/internal-app") + `:1.0
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources:
      limits: {cpu: 100m, memory: 64Mi}
YAML
kubectl delete pod web --wait && kubectl apply -f web.yaml`
		if out, err := learnerShell(t, sb, script); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		res := run(s, func(r check.Result) bool { return r.HasFinding("hardened-not-running") })
		if res.Passed || !res.HasFinding("hardened-not-running") || !strings.Contains(evidence(res), "runAsNonRoot") {
			t.Errorf("want the kubelet's refusal, got %+v", res.Findings)
		}
	})
}
