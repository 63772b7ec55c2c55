//go:build e2e

package app

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/internal/testenv/node"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// nodeSandbox starts a one-node cluster (kubelet, containerd) that reaches
// a password-protected registry through a hosts.toml alias, as in the kind
// sandbox, and prepares imagelab's existing-cluster sandbox on it.
func nodeSandbox(t *testing.T, policy string) (*sandbox.Sandbox, *check.Env) {
	t.Helper()
	node.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	app, err := node.BuildAppImage(t.TempDir())
	if err != nil {
		t.Fatalf("building the app image: %v", err)
	}
	log, err := os.CreateTemp("", "imagelab-node-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("end of the node's log:\n%s", strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
		os.Remove(log.Name())
	})
	state, err := os.MkdirTemp("", "iln-")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	c, err := node.Start(ctx, node.Options{
		BinDir:                       testenv.BinDir(),
		StateDir:                     state,
		RegistryHosts:                map[string]string{reg.Host: "http://127.0.0.1:" + strings.TrimPrefix(reg.Host, "localhost:")},
		ImageCredentialsVerification: policy,
		Log:                          log,
	})
	if err != nil {
		os.Remove(state)
		t.Fatalf("starting the node: %v", err)
	}
	t.Logf("node ready in %s", time.Since(started).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the node: %v", err)
		}
		os.Remove(state)
	})
	sb, err := sandbox.UseExisting(ctx, sandbox.ExistingOptions{
		Kubeconfig: c.Kubeconfig, Namespace: "lab", StateDir: t.TempDir(),
		Registry: sandbox.Registry{Host: reg.Host, User: reg.User, Password: reg.Password},
		Seed:     sandbox.SeedOptions{Source: app},
	})
	if err != nil {
		t.Fatalf("preparing the sandbox: %v", err)
	}
	if !sb.Kubelet {
		t.Fatal("the sandbox does not see the node's kubelet")
	}
	env, err := checkEnv(sb)
	if err != nil {
		t.Fatal(err)
	}
	return sb, env
}

// settle runs a check until its verdict holds or a minute passes: the
// kubelet needs a moment to pull, or to fail.
func settle(t *testing.T, env *check.Env, name string, params map[string]string, until func(check.Result) bool) check.Result {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := check.Run(context.Background(), name, env, check.Request{Params: params})
		if err != nil {
			t.Fatalf("%s could not run: %v", name, err)
		}
		if until(res) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func passed(r check.Result) bool { return r.Passed }

// notWaiting is a verdict other than "the kubelet has not said yet".
func notWaiting(r check.Result) bool { return !r.HasFinding("pod-waiting-for-kubelet") }

func evidence(r check.Result) string {
	var out []string
	for _, f := range r.Findings {
		if f.Evidence != "" {
			out = append(out, f.Evidence)
		}
	}
	return strings.Join(out, " | ")
}

// TestIntegrationNodeLearnerPath is the moment imagelab exists for, on a
// real kubelet and container runtime: the node refuses the private image
// without credentials, then pulls it with the learner's regcred; the
// learner's mistakes each fail on the node and get their own finding.
func TestIntegrationNodeLearnerPath(t *testing.T) {
	sb, env := nodeSandbox(t, "")
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	vals := values(sb)
	image := sb.SeedImage()
	shell := func(script string) {
		t.Helper()
		if out, err := learnerShell(t, sb, script); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	runStepSolution := func(ref string) check.Result {
		t.Helper()
		s, err := cur.Find(ref)
		if err != nil {
			t.Fatal(err)
		}
		applySolution(t, sb, s)
		return settle(t, env, s.Check.Name, s.Params(vals), passed)
	}

	t.Run("refused without credentials", func(t *testing.T) {
		res := runStepSolution("pull-secrets/without-credentials")
		if !res.Passed {
			t.Fatalf("%+v", res.Findings)
		}
		ev := evidence(res)
		t.Logf("kubelet: %s", ev)
		if !strings.Contains(ev, "Failed to pull image") || !strings.Contains(ev, "401 Unauthorized") {
			t.Errorf("the finding does not quote the kubelet's 401: %q", ev)
		}
	})
	t.Run("pulled with regcred", func(t *testing.T) {
		if res := runStepSolution("pull-secrets/regcred"); !res.Passed {
			t.Fatalf("%+v", res.Findings)
		}
		res := runStepSolution("pull-secrets/image-pull-secrets")
		if !res.Passed {
			t.Fatalf("%+v", res.Findings)
		}
		if res.HasFinding("no-kubelet") {
			t.Error("passed by prediction, not by the kubelet's pull")
		}
		t.Logf("%s — kubelet: %s", res.Summary, evidence(res))
	})

	pod := func(name, secret string) string {
		return "kubectl run " + name + " --image=" + image + " --restart=Never --overrides='{\"apiVersion\": \"v1\", \"spec\": {\"imagePullSecrets\": [{\"name\": \"" + secret + "\"}]}}'"
	}
	mistakes := []struct {
		name, pod, secret, script, want string
	}{
		{"wrong password", "wrong-password", "badpass",
			`kubectl create secret docker-registry badpass --docker-server="$REG" --docker-username=learner --docker-password=not-it`, "secret-wrong-password"},
		{"secret in another namespace", "elsewhere", "regcred-b",
			`kubectl create secret docker-registry regcred-b -n default --docker-server="$REG" --docker-username=learner --docker-password="$REG_PASS"`, "secret-wrong-namespace"},
		{"server with another port", "wrong-port", "portcred",
			`kubectl create secret docker-registry portcred --docker-server=localhost:1 --docker-username=learner --docker-password="$REG_PASS"`, "secret-server-port"},
	}
	for _, m := range mistakes {
		t.Run(m.name, func(t *testing.T) {
			shell("export REG=" + sb.Registry.Host + " REG_PASS=" + shellQuote(sb.Registry.Password) + "\n" + m.script + "\n" + pod(m.pod, m.secret))
			// The secret's fault is named at once; wait for the node to fail too.
			res := settle(t, env, "pod.pulled", map[string]string{"pod": m.pod, "image": image, "secret": m.secret},
				func(r check.Result) bool { return r.HasFinding("pod-pull-failed") })
			if res.Passed {
				t.Fatal("passed")
			}
			if !res.HasFinding(m.want) || !res.HasFinding("pod-pull-failed") {
				t.Errorf("want %s and pod-pull-failed; got %+v", m.want, res.Findings)
			}
			t.Logf("kubelet: %s", evidence(res))
		})
	}

	// KEP-2535: the image is on the node now (pulled with regcred). What
	// does this kubelet do for a pod that brings no credentials? The
	// lesson supply-chain/kubelet-credential-check teaches the answer.
	t.Run("cached image, pod without credentials", func(t *testing.T) {
		shell("kubectl run second --image=" + image + " --restart=Never")
		res := settle(t, env, "pod.pull-denied", map[string]string{"pod": "second", "image": image}, notWaiting)
		t.Logf("kubelet: %s", evidence(res))
		// The lesson's policy table: under the default policy only
		// preloaded images are exempt, so an image the kubelet pulled
		// with a pod's secret is refused to a pod without one.
		lesson, _ := cur.Find("supply-chain/kubelet-credential-check")
		taught := strings.Contains(lesson.Body(values(sb)), "`NeverVerifyPreloadedImages` (default) | preloaded images")
		if !taught {
			t.Fatal("the lesson no longer states what the default policy exempts; update this test with it")
		}
		if !res.Passed {
			t.Errorf("the kubelet ran a pod without credentials on a cached image, but the lesson teaches it is refused: %+v", res.Findings)
		}
	})
}

// TestIntegrationNodeNeverVerify: with imagePullCredentialsVerificationPolicy
// NeverVerify (the behaviour before KEP-2535), a pod without credentials
// runs the image another pod pulled — and the check says so.
func TestIntegrationNodeNeverVerify(t *testing.T) {
	sb, env := nodeSandbox(t, "NeverVerify")
	image := sb.SeedImage()
	script := `kubectl create secret docker-registry regcred --docker-server=` + sb.Registry.Host + ` --docker-username=learner --docker-password=` + shellQuote(sb.Registry.Password) + `
kubectl run first --image=` + image + ` --restart=Never --overrides='{"apiVersion": "v1", "spec": {"imagePullSecrets": [{"name": "regcred"}]}}'`
	if out, err := learnerShell(t, sb, script); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res := settle(t, env, "pod.pulled", map[string]string{"pod": "first", "image": image, "secret": "regcred"}, passed); !res.Passed {
		t.Fatalf("%+v", res.Findings)
	}
	if out, err := learnerShell(t, sb, "kubectl run second --image="+image+" --restart=Never"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	res := settle(t, env, "pod.pull-denied", map[string]string{"pod": "second", "image": image}, notWaiting)
	t.Logf("kubelet: %s", evidence(res))
	if res.Passed || !res.HasFinding("pod-pulled-without-secret") {
		t.Errorf("want pod-pulled-without-secret; got %+v", res)
	}
}
