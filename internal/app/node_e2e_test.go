//go:build e2e

package app

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imagelab/imagelab/internal/imagepolicy"
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
	sb, env, _ := nodeSandboxWith(t, node.Options{ImageCredentialsVerification: policy})
	return sb, env
}

// nodeSandboxWith is nodeSandbox with the node's options (a static API
// server, as kubeadm runs it), also returning the cluster.
func nodeSandboxWith(t *testing.T, o node.Options) (*sandbox.Sandbox, *check.Env, *node.Cluster) {
	t.Helper()
	node.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // mostly waiting for the machine's one node (other packages' tests)
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
	o.BinDir, o.StateDir, o.Log = testenv.BinDir(), state, log
	o.RegistryHosts = map[string]string{reg.Host: "http://127.0.0.1:" + strings.TrimPrefix(reg.Host, "localhost:")}
	c, err := node.Start(ctx, o)
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
	if n := c.Node(); n != nil {
		env.Node, env.NoNode = n, ""
	}
	return sb, env, c
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

// TestIntegrationNodeContent proves the control-plane steps where they
// really run: the API server as a static pod of the kubelet, its manifest
// and the kubelet's config edited on the node by each step's reference
// solution, as the learner would. Each step fails before, passes after,
// and fails again once reset has put the original files back — and a
// broken manifest is explained in the node's own words.
func TestIntegrationNodeContent(t *testing.T) {
	sb, env, c := nodeSandboxWith(t, node.Options{StaticAPIServer: true})
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	files := env.Node.Files()
	vals := values(sb)
	vals.APIServerManifest, vals.KubeletConfig, vals.ImagePolicyDir = files.APIServerManifest, files.KubeletConfig, files.ImagePolicy
	ctx := context.Background()
	// The image policy webhook as imagelab runs it: a process of its own
	// (imagelab policy-backend), here on this machine's loopback, where
	// the node's API server (host network) reaches it.
	backend := &imagepolicy.Process{Dir: t.TempDir(), Registry: sb.Registry.Host, Command: []string{buildImagelab(t), "policy-backend"},
		Locate: func(context.Context) (string, string, error) { return "127.0.0.1", "127.0.0.1", nil }}
	env.PolicyBackend = backend
	t.Cleanup(func() { _ = backend.Down(context.Background()) })
	// Long enough for the kubelet to replace the API server (30 s of grace
	// for the old one, then its back-off).
	within := func(d time.Duration, s *lessons.Step, until func(check.Result) bool) check.Result {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			res, err := s.Run(ctx, env, vals, "")
			if err != nil && !errors.Is(err, check.ErrUnreachable) {
				t.Fatalf("%s could not run: %v", s.Ref(), err)
			}
			if err == nil && until(res) || time.Now().After(deadline) {
				if err != nil {
					t.Fatalf("%s: still %v after %v", s.Ref(), err, d)
				}
				return res
			}
			time.Sleep(time.Second)
		}
	}
	for _, s := range cur.Steps() {
		if !s.Needs().Has(check.NeedsNode) {
			continue
		}
		t.Run(s.Ref(), func(t *testing.T) {
			if err := s.SetUp(ctx, env, vals); err != nil {
				t.Fatalf("setup: %v", err)
			}
			before := within(time.Minute, s, func(check.Result) bool { return true })
			if before.Passed || len(before.Problems()) == 0 {
				t.Fatalf("before the solution: %+v", before)
			}
			sol := s.RenderedSolution(vals)
			began := time.Now()
			if out, err := env.Node.Run(ctx, "sh", "-c", sol.Node); err != nil {
				t.Fatalf("the solution on the node: %v\n%s", err, out)
			}
			if sol.RestartKubelet {
				if err := env.Node.RestartKubelet(ctx); err != nil {
					t.Fatal(err)
				}
			}
			after := within(3*time.Minute, s, passed)
			if !after.Passed {
				t.Fatalf("does not pass after its solution: %+v", after.Findings)
			}
			t.Logf("passed %v after the edit: %s", time.Since(began).Round(time.Second), after.Summary)
			began = time.Now()
			if err := s.ResetIn(ctx, env, vals, true); err != nil {
				t.Fatalf("reset: %v", err)
			}
			t.Logf("reset in %v", time.Since(began).Round(time.Second))
			if again := within(time.Minute, s, func(check.Result) bool { return true }); again.Passed {
				t.Errorf("passes after reset: %+v", again)
			}
		})
	}

	// The webhook's one trap: defaultAllow: true admits every pod while
	// the backend is down. The check stops the backend to find out.
	t.Run("an ImagePolicyWebhook that fails open", func(t *testing.T) {
		s, err := cur.Find("supply-chain/image-policy-webhook")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetUp(ctx, env, vals); err != nil {
			t.Fatal(err)
		}
		open := strings.Replace(s.RenderedSolution(vals).Node, "defaultAllow: false", "defaultAllow: true", 1)
		if out, err := env.Node.Run(ctx, "sh", "-c", open); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		res := within(3*time.Minute, s, func(r check.Result) bool { return r.HasFinding("image-policy-fails-open") })
		if res.Passed || !res.HasFinding("image-policy-fails-open") {
			t.Fatalf("want image-policy-fails-open; got %+v", res)
		}
		for _, c := range res.Criteria {
			if want := c.Name != "fails-closed"; c.Met != want {
				t.Errorf("criterion %s met %v, want %v", c.Name, c.Met, want)
			}
		}
		if !backend.Running() {
			t.Error("the backend was not started again after the fail-closed probe")
		}
		if err := s.ResetIn(ctx, env, vals, true); err != nil {
			t.Fatalf("reset: %v", err)
		}
	})

	t.Run("a broken API server manifest", func(t *testing.T) {
		s, err := cur.Find("supply-chain/always-pull-images")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := env.Node.Run(ctx, "sh", "-c", "sed -i 's/--enable-admission-plugins=\\([^ \"]*\\)/--enable-admission-plugins=\\1,NoSuchPlugin/' "+files.APIServerManifest); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		res := within(3*time.Minute, s, func(r check.Result) bool { return r.HasFinding("apiserver-not-starting") })
		if !res.HasFinding("apiserver-not-starting") || !strings.Contains(evidence(res), "NoSuchPlugin") {
			t.Fatalf("no finding quoting the API server's own words: %+v", res.Findings)
		}
		t.Logf("the node said: %s", evidence(res))
		if err := s.ResetIn(ctx, env, vals, true); err != nil {
			t.Fatalf("reset after a broken manifest: %v", err)
		}
		if err := check.WaitAPIServer(ctx, env, time.Minute); err != nil {
			t.Fatal(err)
		}
	})
	_ = c
}
