package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// TestIntegrationSignWithCosign3: cosign 3 stores its signature as a
// sigstore bundle, an OCI referrer of the image, where cosign 2 kept a
// .sig tag. The sign step's check verifies that format too, with the
// real cosign 3: the moved tag signed is still the tag mistake, the pod's
// digest signed passes, a new key pair is another key, and a reset
// removes the referrers.
func TestIntegrationSignWithCosign3(t *testing.T) {
	testenv.RequireTools(t)
	if _, err := exec.LookPath("cosign3"); err != nil {
		testenv.SkipOrFail(t, "no cosign3 on PATH; run eval \"$(hack/tools.sh env)\"")
	}
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	sb, env := labSandbox(t, "cosign3", nil)
	vals := values(sb)
	ctx := context.Background()
	s, err := cur.Find("supply-chain-tools/sign")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetUp(ctx, env, vals); err != nil {
		t.Fatal(err)
	}
	// A registry login as docker login writes it, in the sandbox's docker config.
	login := fmt.Sprintf(`printf '{"auths": {"%s": {"auth": "%s"}}}' > "$DOCKER_CONFIG/config.json"`, sb.Registry.Host,
		base64.StdEncoding.EncodeToString([]byte(sb.Registry.User+":"+sb.Registry.Password)))
	sh := func(script string) {
		t.Helper()
		out, err := learnerShell(t, sb, login+"\nexport COSIGN_PASSWORD=pw\n"+script)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	expect := func(passed bool, code string) check.Result {
		t.Helper()
		res, err := s.Run(ctx, env, vals, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed != passed || (code != "" && !res.HasFinding(code)) {
			t.Errorf("passed = %v (want %v), want finding %q; got:", res.Passed, passed, code)
			for _, f := range res.Findings {
				t.Errorf("  %s: %s", f.Code, f.Problem)
			}
		}
		return res
	}
	const sign = "cosign3 sign --yes --key cosign.key --use-signing-config=false --tlog-upload=false "
	sh("cosign3 generate-key-pair\n" + sign + sb.Registry.Host + "/apps/release:1.0")
	expect(false, "sign-tag-not-digest")

	sh(sign + `"$(kubectl get pod release -o jsonpath='{.spec.containers[0].image}')"` +
		"\ncosign3 verify --key cosign.pub --insecure-ignore-tlog=true \"$(kubectl get pod release -o jsonpath='{.spec.containers[0].image}')\"")
	if res := expect(true, ""); !strings.Contains(res.Summary, "verifies with cosign.pub") {
		t.Errorf("summary: %s", res.Summary)
	}

	sh("rm cosign.key cosign.pub && cosign3 generate-key-pair")
	expect(false, "sign-other-key")

	if err := s.ResetIn(ctx, env, vals, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUp(ctx, env, vals); err != nil {
		t.Fatal(err)
	}
	expect(false, "sign-missing")
}
