package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// labSandbox prepares a sandbox on the shared API server with a fresh
// registry and namespace, through the same code imagelab up uses.
func labSandbox(t testing.TB, namespace string, reg *testenv.Registry) (*sandbox.Sandbox, *check.Env) {
	t.Helper()
	api := testenv.SharedAPIServer(t)
	if reg == nil {
		reg = testenv.StartRegistry(t, "learner", testenv.TestPassword)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := sandbox.UseExisting(ctx, sandbox.ExistingOptions{
		Kubeconfig: api.Kubeconfig,
		Namespace:  namespace,
		Registry:   sandbox.Registry{Host: reg.Host, User: reg.User, Password: reg.Password},
		StateDir:   t.TempDir(),
		Seed:       sandbox.SeedOptions{Source: testenv.SeedTarball(t)},
	})
	if err != nil {
		t.Fatalf("preparing the sandbox: %v", err)
	}
	env, err := checkEnv(sb)
	if err != nil {
		t.Fatal(err)
	}
	return sb, env
}

// learnerShell runs a script in the sandbox as the learner would: in its
// work dir, with imagelab env's variables.
func learnerShell(t testing.TB, sb *sandbox.Sandbox, script string) (string, error) {
	t.Helper()
	return testenv.Shell(context.Background(), sb.WorkDir, sb.ShellEnv(os.Environ()), script)
}

// applySolution does what the step's reference solution says.
func applySolution(t testing.TB, sb *sandbox.Sandbox, s *lessons.Step) (answer string) {
	t.Helper()
	sol := s.RenderedSolution(values(sb))
	for name, body := range sol.Files {
		if err := os.WriteFile(filepath.Join(sb.WorkDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if sol.Run != "" {
		if out, err := learnerShell(t, sb, sol.Run); err != nil {
			t.Fatalf("solution of %s failed: %v\n%s", s.Ref(), err, out)
		}
	}
	return sol.Answer
}

// eventually runs a check until it passes or the deadline comes (the
// API server and registry are consistent at once; this only absorbs
// a slow machine).
func eventually(t *testing.T, run func() (check.Result, error)) check.Result {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := run()
		if err != nil {
			t.Fatalf("check could not run: %v", err)
		}
		if res.Passed || time.Now().After(deadline) {
			return res
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIntegrationContent is the curriculum's own test: every step's check
// fails in the step's starting state and passes after its reference
// solution, against a real API server, a real registry, the real kubectl
// and the docker CLI.
func TestIntegrationContent(t *testing.T) {
	testenv.RequireDocker(t)
	// The same run in each language, each in a namespace of its own: the
	// checks judge alike (the same codes before, a pass after), and the
	// learner reads every finding and summary in the language chosen.
	codes := map[string][]string{} // step → its finding codes in English
	for _, lang := range []i18n.Lang{i18n.English, i18n.Korean} {
		if !t.Run(string(lang), func(t *testing.T) { contentIn(t, lang, codes) }) {
			return
		}
	}
}

func contentIn(t *testing.T, lang i18n.Lang, codes map[string][]string) {
	cur, err := lessons.DefaultIn(lang)
	if err != nil {
		t.Fatal(err)
	}
	sb, env := labSandbox(t, "content-"+string(lang), nil)
	env.Printer = i18n.For(lang)
	vals := values(sb)
	ctx := context.Background()
	inLang := func(what, text string) {
		t.Helper()
		if lang == i18n.Korean && !testenv.HasHangul(text) {
			t.Errorf("%s is not in Korean: %q", what, text)
		}
	}

	for _, s := range cur.Steps() {
		if s.Needs().Has(check.NeedsNode) {
			// No node behind a cluster named by its kubeconfig: the step
			// says so, as a result. TestIntegrationNodeContent runs it on
			// a real control-plane node.
			t.Run(s.Ref(), func(t *testing.T) {
				if _, err := s.Run(ctx, env, vals, ""); !errors.Is(err, check.ErrUnavailable) {
					t.Errorf("a node step on a cluster with no node: err = %v, want ErrUnavailable", err)
				}
			})
			continue
		}
		ok := t.Run(s.Ref(), func(t *testing.T) {
			requireStepTools(t, s)
			if err := s.SetUp(ctx, env, vals); err != nil {
				t.Fatalf("setting the step up: %v", err)
			}
			before, err := s.Run(ctx, env, vals, "")
			if err != nil {
				t.Fatalf("check could not run in the starting state: %v", err)
			}
			if before.Passed {
				t.Fatalf("passes before the learner did anything: %+v", before)
			}
			if len(before.Problems()) == 0 {
				t.Errorf("fails with no finding to tell the learner why")
			}
			var got []string
			for _, f := range before.Problems() {
				got = append(got, f.Code)
				inLang("finding "+f.Code, f.Problem)
			}
			if lang == i18n.English {
				codes[s.Ref()] = got
			} else if want := codes[s.Ref()]; !slices.Equal(got, want) {
				t.Errorf("finding codes in %s: %v; in English: %v", lang, got, want)
			}
			requireCriteria(t, s, before)
			if s.Definition().Choice {
				wrongOptionsFail(t, s, env, vals)
			}
			answer := applySolution(t, sb, s)
			after := eventually(t, func() (check.Result, error) { return s.Run(ctx, env, vals, answer) })
			if !after.Passed {
				t.Fatalf("does not pass after its reference solution: %+v", after.Findings)
			}
			if after.Summary == "" {
				t.Errorf("passes with no summary for the learner")
			}
			inLang("the summary", after.Summary)
			requireCriteria(t, s, after)
		})
		if s.Definition().MakesClusterObjects() {
			// Cluster-wide objects (an admission policy) would be the next
			// language's run's business too: gone when this run ends.
			t.Cleanup(func() {
				if err := s.ResetIn(context.Background(), env, vals, true); err != nil {
					t.Errorf("resetting %s: %v", s.Ref(), err)
				}
			})
		}
		if !ok {
			break // later steps build on this one
		}
	}
}

// TestIntegrationExistingFailureLeavesNothing: a wrong registry password
// is found before anything is made on the cluster or in the state dir.
func TestIntegrationExistingFailureLeavesNothing(t *testing.T) {
	api := testenv.SharedAPIServer(t)
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	state := t.TempDir()
	ctx := context.Background()
	_, err := sandbox.UseExisting(ctx, sandbox.ExistingOptions{
		Kubeconfig: api.Kubeconfig, Namespace: "never-made", StateDir: state,
		Registry: sandbox.Registry{Host: reg.Host, User: reg.User, Password: "wrong"},
	})
	if !errors.Is(err, sandbox.ErrRegistryAuth) {
		t.Fatalf("err = %v, want the registry's refusal", err)
	}
	if _, err := api.Client.CoreV1().Namespaces().Get(ctx, "never-made", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the namespace was made: %v", err)
	}
	if entries, _ := os.ReadDir(state); len(entries) > 0 {
		t.Errorf("files left in the state dir: %v", entries)
	}
}

// wrongOptionsFail: a choice quiz fails for every option but the right
// one, and explains each wrong pick.
func wrongOptionsFail(t *testing.T, s *lessons.Step, env *check.Env, vals lessons.Values) {
	t.Helper()
	params := s.Params(vals)
	for _, opt := range strings.Split(params["options"], ",") {
		opt = strings.TrimSpace(opt)
		if opt == params["correct"] {
			continue
		}
		res, err := s.Run(context.Background(), env, vals, opt)
		if err != nil {
			t.Fatalf("option %s: %v", opt, err)
		}
		if res.Passed || !res.HasFinding("wrong-choice") {
			t.Errorf("option %s passes or is not explained: %+v", opt, res)
		}
		if why := params["explain-"+opt]; why == "" || !strings.Contains(res.Problems()[0].Problem, why) {
			t.Errorf("option %s: no explanation of why it is wrong", opt)
		}
	}
}

// TestIntegrationExistingSeedFailureUndoes: a failure after the namespace
// and the kubeconfig were made (the seed image cannot be read) undoes
// both and says why — it does not crash.
func TestIntegrationExistingSeedFailureUndoes(t *testing.T) {
	api := testenv.SharedAPIServer(t)
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	state := t.TempDir()
	ctx := context.Background()
	_, err := sandbox.UseExisting(ctx, sandbox.ExistingOptions{
		Kubeconfig: api.Kubeconfig, Namespace: "seed-fails", StateDir: state,
		Registry: sandbox.Registry{Host: reg.Host, User: reg.User, Password: reg.Password},
		Seed:     sandbox.SeedOptions{Source: filepath.Join(t.TempDir(), "no-such-image.tar")},
	})
	if err == nil || !strings.Contains(err.Error(), "no-such-image.tar") {
		t.Fatalf("err = %v, want the seed image's failure", err)
	}
	// Deleted, or being deleted (no namespace controller runs here to finish it).
	if ns, err := api.Client.CoreV1().Namespaces().Get(ctx, "seed-fails", metav1.GetOptions{}); err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("the namespace made before the failure is still there")
	}
	if _, err := os.Stat(filepath.Join(state, "kubeconfig")); !os.IsNotExist(err) {
		t.Errorf("the kubeconfig made before the failure is still there: %v", err)
	}
}
