package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dockerconfig "github.com/docker/cli/cli/config"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// examLab is an exam session on a sandbox of the shared API server, with
// a registry of its own.
func examLab(t *testing.T, namespace string) *examSession {
	t.Helper()
	sb, _ := labSandbox(t, namespace, nil)
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	s, err := newExamSession(filepath.Dir(sb.WorkDir), cur, sb)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// taskShell runs a script as the learner would in the task's shell (key
// t): in the work dir, kubectl in the task's namespace.
func taskShell(t *testing.T, s *examSession, x *exam.Exam, task *exam.Task, script string) {
	t.Helper()
	env, err := s.taskShellEnv(x, task)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.Shell(context.Background(), s.sb.WorkDir, env, script); err != nil {
		t.Fatalf("task %d (%s): %v\n%s", task.Number, task.Step, err, out)
	}
}

// solveTask does what the task's reference solution says, with the
// exam's names, in the task's shell.
func solveTask(t *testing.T, s *examSession, x *exam.Exam, task *exam.Task) {
	t.Helper()
	sol := task.StepOf().RenderedSolution(x.Values(s.box.Values, task))
	for name, body := range sol.Files {
		if err := os.WriteFile(filepath.Join(s.sb.WorkDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if sol.Run != "" {
		taskShell(t, s, x, task, sol.Run)
	}
}

func runTask(s *examSession, x *exam.Exam, task *exam.Task) (check.Result, error) {
	return task.StepOf().Run(context.Background(), s.box.Env(task.Namespace), x.Values(s.box.Values, task), "")
}

// TestIntegrationExamSolutions: under three random seeds, every task an
// exam can draw on this sandbox fails in its prepared namespace, passes
// after its reference solution written with the exam's names, and the
// exam scores 100%; cleaning up deletes the namespaces and resets what
// the tasks made outside them.
func TestIntegrationExamSolutions(t *testing.T) {
	testenv.RequireDocker(t)
	testenv.RequireTools(t)
	s := examLab(t, "exam-solutions")
	ctx := context.Background()
	for range 3 {
		seed := rand.Int64N(1_000_000) + 1
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			x, err := exam.Draw(s.cur, exam.Options{Seed: seed, Tasks: 100, Eligible: s.eligible})
			if err != nil {
				t.Fatal(err)
			}
			if err := x.Prepare(ctx, s.box, nil); err != nil {
				t.Fatal(err)
			}
			x.Start(time.Now())
			t.Logf("seed %d: %d tasks, names %+v; notes %+v", seed, len(x.Tasks), x.Names, x.Notes)
			for _, task := range x.Tasks {
				before, err := runTask(s, x, task)
				if err != nil {
					t.Fatalf("task %d (%s) could not be checked: %v", task.Number, task.Step, err)
				}
				if before.Passed || len(before.Problems()) == 0 {
					t.Fatalf("task %d (%s) passes before its solution: %+v", task.Number, task.Step, before)
				}
				solveTask(t, s, x, task)
				after := eventually(t, func() (check.Result, error) { return runTask(s, x, task) })
				if !after.Passed {
					t.Fatalf("task %d (%s) does not pass after its solution: %+v", task.Number, task.Step, after.Findings)
				}
			}
			r, err := x.Score(ctx, s.box, time.Now(), exam.Submitted)
			if err != nil {
				t.Fatal(err)
			}
			if r.Percent != 100 || !r.Passed || r.MaxPoints != x.MaxPoints() {
				t.Errorf("every task solved scores %v/%d = %v%%", r.Points, r.MaxPoints, r.Percent)
			}
			if err := x.Cleanup(ctx, s.box); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			requireCleanedUp(t, s, x)
		})
	}
}

// requireCleanedUp: the exam's namespaces are going, and what its tasks
// made outside them is gone: the docker login and pushed repositories.
func requireCleanedUp(t *testing.T, s *examSession, x *exam.Exam) {
	t.Helper()
	ctx := context.Background()
	for _, task := range x.Tasks {
		ns, err := s.env.Kube.CoreV1().Namespaces().Get(ctx, task.Namespace, metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp == nil {
			t.Errorf("namespace %s is still there", task.Namespace)
		} else if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
		for _, item := range task.StepOf().ResetItems(x.Values(s.box.Values, task)) {
			kind, repo, _ := strings.Cut(item, "/")
			switch kind {
			case check.DockerLogin.Kind:
				cfg, err := dockerconfig.Load(s.sb.DockerConfigDir)
				if err != nil {
					t.Fatal(err)
				}
				if auth, _ := cfg.GetAuthConfig(s.sb.Registry.Host); auth.Password != "" {
					t.Errorf("the docker login to %s is still there", s.sb.Registry.Host)
				}
			case check.RegistryRepository.Kind:
				r, _ := name.NewRepository(s.sb.Registry.Host + "/" + repo)
				auth := authn.FromConfig(authn.AuthConfig{Username: s.sb.Registry.User, Password: s.sb.Registry.Password})
				if tags, err := remote.List(r, remote.WithAuth(auth)); err == nil && len(tags) > 0 {
					t.Errorf("%s still has tags %v", r, tags)
				}
			}
		}
	}
}

// TestIntegrationExamScoring: an exam with a task solved, one half done
// (a secret with the right server and user but a wrong password), one
// partly done (a service account without its pull secret) and one
// untouched gets credit per criterion met, and its report says for each
// criterion missed what was wrong and what to try.
func TestIntegrationExamScoring(t *testing.T) {
	testenv.RequireDocker(t)
	s := examLab(t, "exam-scoring")
	ctx := context.Background()
	steps := map[string]bool{"private-registry/login": true, "pull-secrets/regcred": true, "pull-secrets/image-pull-secrets": true, "service-accounts/serviceaccount": true}
	x, err := exam.Draw(s.cur, exam.Options{Seed: 99, Tasks: 4, Eligible: func(st *lessons.Step) bool { return steps[st.Ref()] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Prepare(ctx, s.box, nil); err != nil {
		t.Fatal(err)
	}
	x.Start(time.Now())
	task := map[string]*exam.Task{}
	for _, tk := range x.Tasks {
		task[tk.Step] = tk
	}

	solveTask(t, s, x, task["private-registry/login"])
	reg := s.sb.Registry
	regcred := task["pull-secrets/regcred"]
	taskShell(t, s, x, regcred, fmt.Sprintf("kubectl create secret docker-registry %s --docker-server=%s --docker-username=%s --docker-password=not-the-password",
		x.Names.Regcred, reg.Host, reg.User))
	taskShell(t, s, x, task["service-accounts/serviceaccount"], "kubectl create serviceaccount "+x.Names.Puller)

	r, err := x.Score(ctx, s.box, time.Now(), exam.Submitted)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("report:\n%s", data)

	// Per task: the criteria met (+), missed (-) and not judged (~), and the points.
	want := map[string]struct {
		criteria string
		points   float64
	}{
		"private-registry/login":          {"+logged-in +credentials", 2},
		"pull-secrets/regcred":            {"+exists +type +server -credentials", 3},
		"pull-secrets/image-pull-secrets": {"-pod ~serviceaccount ~pull-secret ~pulled", 0},
		// The secret it would list (given, as the step builds on regcred) is there.
		"service-accounts/serviceaccount": {"+serviceaccount -pull-secret +secret", 4 * 2.0 / 3},
	}
	var total float64
	for _, tr := range r.Tasks {
		w := want[tr.Step]
		var got []string
		for _, c := range tr.Criteria {
			mark := map[bool]string{true: "+", false: "-"}[c.Met]
			if !c.Judged {
				mark = "~"
			}
			got = append(got, mark+c.Name)
			if c.Judged && !c.Met && (len(c.Findings) == 0 || c.Findings[0].Problem == "" || c.Findings[0].Code == "") {
				t.Errorf("%s: criterion %s is missed with no finding to say why: %+v", tr.Step, c.Name, c.Findings)
			}
			if c.Met && len(c.Findings) > 0 {
				t.Errorf("%s: criterion %s is met but carries findings", tr.Step, c.Name)
			}
		}
		if strings.Join(got, " ") != w.criteria {
			t.Errorf("%s: criteria %s, want %s", tr.Step, strings.Join(got, " "), w.criteria)
		}
		if tr.Points != round2(w.points) {
			t.Errorf("%s: %v points, want %.2f", tr.Step, tr.Points, w.points)
		}
		total += w.points
	}
	if miss := r.Tasks[regcred.Number-1].Criteria[3]; len(miss.Findings) == 0 || miss.Findings[0].Try == "" {
		t.Errorf("the wrong password's finding says nothing to try: %+v", miss)
	}
	if r.MaxPoints != 2+4+5+4 || r.Points != round2(total) || r.Passed {
		t.Errorf("total %v of %d (%v%%), passed %v; want %.2f of 15, not passed", r.Points, r.MaxPoints, r.Percent, r.Passed, total)
	}
	if err := x.Cleanup(ctx, s.box); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	requireCleanedUp(t, s, x)
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
