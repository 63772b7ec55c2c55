package exam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

func curriculum(t *testing.T) *lessons.Curriculum {
	t.Helper()
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

func draw(t *testing.T, cur *lessons.Curriculum, o Options) *Exam {
	t.Helper()
	x, err := Draw(cur, o)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// nameFields are the fields of lessons.Names, each with its value.
func nameFields(n lessons.Names) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(n)
	for i := range v.NumField() {
		out[v.Type().Field(i).Name] = v.Field(i).String()
	}
	return out
}

func withName(n lessons.Names, field, value string) lessons.Names {
	reflect.ValueOf(&n).Elem().FieldByName(field).SetString(value)
	return n
}

// TestDrawNames: every name is new, a valid DNS-1123 label, unlike the
// lessons' and unlike the other names; another seed draws other names.
func TestDrawNames(t *testing.T) {
	cur := curriculum(t)
	a := draw(t, cur, Options{Seed: 1})
	b := draw(t, cur, Options{Seed: 2})
	defaults := nameFields(lessons.DefaultNames)
	an, bn := nameFields(a.Names), nameFields(b.Names)
	seen := map[string]bool{}
	for field, name := range an {
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("%s = %q is not a DNS-1123 label: %v", field, name, errs)
		}
		if errs := validation.IsDNS1123Label(name[:len(name)-1]); len(errs) > 0 {
			t.Errorf("%s = %q misspelt (typo) is not a DNS-1123 label: %v", field, name, errs)
		}
		if name == defaults[field] || name == bn[field] {
			t.Errorf("%s = %q: the lessons' name or another seed's", field, name)
		}
		if seen[name] {
			t.Errorf("%q is drawn twice", name)
		}
		seen[name] = true
	}
	for _, task := range a.Tasks {
		if errs := validation.IsDNS1123Label(task.Namespace); len(errs) > 0 {
			t.Errorf("namespace %q: %v", task.Namespace, errs)
		}
	}
}

// TestSameSeedSameExam: the seed decides the tasks, their order and
// weights, and the names; only the id (and so the namespaces) differ.
func TestSameSeedSameExam(t *testing.T) {
	cur := curriculum(t)
	a := draw(t, cur, Options{Seed: 42, Tasks: 4})
	b := draw(t, cur, Options{Seed: 42, Tasks: 4})
	c := draw(t, cur, Options{Seed: 43, Tasks: 4})
	shape := func(x *Exam) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%+v", x.Names)
		for _, t := range x.Tasks {
			fmt.Fprintf(&b, " %d:%s:%d", t.Number, t.Step, t.Weight)
		}
		return b.String()
	}
	if shape(a) != shape(b) {
		t.Errorf("the same seed drew two exams:\n%s\n%s", shape(a), shape(b))
	}
	if shape(a) == shape(c) {
		t.Errorf("two seeds drew the same exam: %s", shape(a))
	}
	if a.ID == b.ID || a.Tasks[0].Namespace == b.Tasks[0].Namespace {
		t.Errorf("two attempts share an id or a namespace: %s %s", a.ID, b.ID)
	}
	if len(a.Tasks) != 4 {
		t.Errorf("%d tasks, want 4", len(a.Tasks))
	}
}

// TestDrawRules: no quiz is a task; Eligible leaves steps out; asking for
// more tasks than there are steps gives every eligible step once.
func TestDrawRules(t *testing.T) {
	cur := curriculum(t)
	noNode := func(s *lessons.Step) bool { return !s.Needs().Has(check.NeedsNode) }
	x := draw(t, cur, Options{Seed: 7, Tasks: 100, Eligible: noNode})
	var want []string
	for _, s := range cur.Steps() {
		if !s.IsQuiz() && noNode(s) {
			want = append(want, s.Ref())
		}
	}
	var got []string
	for _, task := range x.Tasks {
		got = append(got, task.Step)
		if task.Weight != Weight(task.StepOf()) || task.Weight <= 0 {
			t.Errorf("%s: weight %d", task.Step, task.Weight)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("tasks %v, want every eligible step in order %v", got, want)
	}
	if _, err := Draw(cur, Options{Eligible: func(*lessons.Step) bool { return false }}); !errors.Is(err, ErrNoTasks) {
		t.Errorf("no eligible step: err = %v", err)
	}
}

// renderedTexts is everything of a step rendered with v: its text, its
// check's params, its solution and its reset list.
func renderedTexts(s *lessons.Step, v lessons.Values) map[string]string {
	out := map[string]string{"text": s.Body(v)}
	sol := s.RenderedSolution(v)
	out["solution.run"] = sol.Run
	for name, body := range sol.Files {
		out["solution.files."+name] = body
	}
	for k, p := range s.Params(v) {
		out["params."+k] = p
	}
	out["reset"] = strings.Join(s.ResetItems(v), " ")
	return out
}

// TestRandomizedNamesEverywhere: wherever a task's text, its check's
// params, its solution or its reset use a name, two seeds write two
// names, each as often as the step uses it, and never the lessons' own.
func TestRandomizedNamesEverywhere(t *testing.T) {
	cur := curriculum(t)
	base := lessons.NewValues("localhost:5055", "learner", "pw", "")
	a := draw(t, cur, Options{Seed: 11, Tasks: 100})
	b := draw(t, cur, Options{Seed: 12, Tasks: 100})
	checked := 0
	for i, ta := range a.Tasks {
		tb := b.Tasks[i]
		s := ta.StepOf()
		va, vb := a.Values(base, ta), b.Values(base, tb)
		if va.Namespace != ta.Namespace {
			t.Errorf("%s: values' namespace %q, want the task's %q", s.Ref(), va.Namespace, ta.Namespace)
		}
		textsA, textsB := renderedTexts(s, va), renderedTexts(s, vb)
		for field := range maps.Keys(nameFields(lessons.DefaultNames)) {
			const marker = "zz-marker-zz"
			probe := base
			probe.N = withName(lessons.DefaultNames, field, marker)
			for where, text := range renderedTexts(s, probe) {
				uses := strings.Count(text, marker)
				if uses == 0 {
					continue
				}
				checked++
				nameA, nameB := nameFields(a.Names)[field], nameFields(b.Names)[field]
				if got := strings.Count(textsA[where], nameA); got < uses {
					t.Errorf("%s %s: %s %q written %d times, the step uses it %d times", s.Ref(), where, field, nameA, got, uses)
				}
				if strings.Contains(textsA[where], nameB) || strings.Contains(textsB[where], nameA) {
					t.Errorf("%s %s: one seed's %s in the other's text", s.Ref(), where, field)
				}
				if textsA[where] == textsB[where] {
					t.Errorf("%s %s: the same under two seeds", s.Ref(), where)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no step uses a name: nothing was checked")
	}
}

// TestClock: the deadline is the start plus the duration, wall time; an
// attempt past it is expired until scored.
func TestClock(t *testing.T) {
	x := draw(t, curriculum(t), Options{Seed: 1, Duration: 10 * time.Minute})
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	if x.Remaining(now) != 10*time.Minute || x.Expired(now.Add(time.Hour)) {
		t.Errorf("before the start: remaining %s, expired %v", x.Remaining(now), x.Expired(now.Add(time.Hour)))
	}
	x.Start(now)
	if got := x.Remaining(now.Add(4 * time.Minute)); got != 6*time.Minute {
		t.Errorf("remaining %s, want 6m", got)
	}
	if x.Expired(now.Add(9*time.Minute)) || !x.Expired(now.Add(10*time.Minute)) {
		t.Error("expiry is not at the deadline")
	}
	if x.EndingAt(now.Add(time.Minute)) != Submitted || x.EndingAt(now.Add(11*time.Minute)) != Expired {
		t.Error("wrong endings")
	}
}

// TestResumeAfterCrash: an attempt saved mid-exam and read back by a new
// process keeps its clock (wall time goes on meanwhile), its flags and
// the time spent; past its deadline it is reported expired.
func TestResumeAfterCrash(t *testing.T) {
	cur := curriculum(t)
	state := t.TempDir()
	x := draw(t, cur, Options{Seed: 5, Duration: 30 * time.Minute, Tasks: 3})
	started := time.Now().Add(-12 * time.Minute)
	x.Start(started)
	x.Tasks[1].Flagged = true
	x.Tasks[0].Spent = Seconds(5 * time.Minute)
	if err := x.Save(state); err != nil {
		t.Fatal(err)
	}
	x = nil // the process dies; a new one starts

	got, err := Current(state, cur)
	if err != nil || got == nil {
		t.Fatalf("Current = %v, %v", got, err)
	}
	if rem := got.Remaining(time.Now()); rem > 18*time.Minute || rem < 17*time.Minute {
		t.Errorf("remaining %s after 12 of 30 minutes", rem)
	}
	if !got.Tasks[1].Flagged || got.Tasks[0].Spent.D() != 5*time.Minute || got.Tasks[0].StepOf() == nil {
		t.Errorf("resumed tasks lost their state: %+v", got.Tasks)
	}

	// The deadline passes while imagelab is not running.
	got.Started = time.Now().Add(-31 * time.Minute)
	if err := got.Save(state); err != nil {
		t.Fatal(err)
	}
	again, _ := Current(state, cur)
	if !again.Expired(time.Now()) || again.EndingAt(time.Now()) != Expired {
		t.Error("an attempt past its deadline is not expired")
	}
	hist, err := History(state, time.Now())
	if err != nil || len(hist) != 1 || hist[0].State != "expired" {
		t.Errorf("history %+v, %v", hist, err)
	}
}

// The scoring tests use a check of their own: its verdict is set per
// namespace.
var fakeVerdicts = map[string]func() (check.Result, error){}

func fakeCurriculum(t *testing.T) *lessons.Curriculum {
	t.Helper()
	check.Register(check.Definition{
		Name: "examtest.fake", Params: []string{"secret"},
		Criteria: []check.Criterion{{Name: "exists", Gate: true}, {Name: "server"}, {Name: "credentials"}},
		Run: func(_ context.Context, env *check.Env, _ check.Request) (check.Result, error) {
			return fakeVerdicts[env.Namespace]()
		},
	})
	t.Cleanup(func() { check.Unregister("examtest.fake") })
	steps := ""
	for i, w := range []int{6, 0, 2, 3, 4} {
		steps += fmt.Sprintf("  - id: s%d\n    title: Step %d\n    weight: %d\n    check: {name: examtest.fake, params: {secret: \"{{.N.Regcred}}\"}}\n    solution: {run: \"true\"}\n", i+1, i+1, w)
	}
	fsys := fstest.MapFS{
		"01-fake/lesson.yaml": {Data: []byte("id: fake\ntitle: Fake\norder: 1\nsteps:\n" + steps)},
	}
	for i := range 5 {
		fsys[fmt.Sprintf("01-fake/s%d.md", i+1)] = &fstest.MapFile{Data: []byte("Make {{.N.Regcred}}.")}
	}
	cur, err := lessons.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

func problem(code, criterion string) check.Finding {
	return check.Finding{Code: code, Severity: check.Problem, Criterion: criterion, Problem: code + " is wrong", Try: "fix " + code}
}

// TestScore: weight × criteria met / criteria declared per task, a failed
// gate leaving the rest unjudged, the findings of each miss in the
// report, a check that fails scoring its task nothing, and a sandbox
// that does not answer scoring nothing at all.
func TestScore(t *testing.T) {
	cur := fakeCurriculum(t)
	x := draw(t, cur, Options{Seed: 3, Tasks: 5})
	sb := Sandbox{Values: lessons.Placeholder(), Env: func(ns string) *check.Env { return &check.Env{Namespace: ns} }}
	verdict := func(f ...check.Finding) func() (check.Result, error) {
		return func() (check.Result, error) {
			if len(f) == 0 {
				return check.Result{Passed: true, Summary: "ok"}, nil
			}
			return check.Result{Findings: f}, nil
		}
	}
	fakeVerdicts[x.Tasks[0].Namespace] = verdict()                                                                  // 6 of 6
	fakeVerdicts[x.Tasks[1].Namespace] = verdict(problem("secret-wrong-password", "credentials"))                   // 4 × 2/3
	fakeVerdicts[x.Tasks[2].Namespace] = verdict(problem("secret-missing", "exists"))                               // 0 of 2
	fakeVerdicts[x.Tasks[3].Namespace] = func() (check.Result, error) { return check.Result{}, errors.New("boom") } // 0 of 3
	fakeVerdicts[x.Tasks[4].Namespace] = verdict(problem("secret-missing", "exists"))                               // given at the start, now broken: 0 of 3
	// Before the clock starts, task 1's "exists" is met already (the
	// step's setup made it): it is given, and counts neither way.
	created := map[string]bool{}
	var createdMu sync.Mutex // Prepare makes the namespaces at once
	sb.EnsureNamespace = func(_ context.Context, ns string) error {
		createdMu.Lock()
		defer createdMu.Unlock()
		created[ns] = true
		return nil
	}
	atStart := map[string]func() (check.Result, error){}
	for ns, v := range fakeVerdicts {
		atStart[ns] = v
		fakeVerdicts[ns] = verdict(problem("secret-missing", "exists"))
	}
	fakeVerdicts[x.Tasks[0].Namespace] = verdict(problem("server-port", "server"), problem("secret-wrong-password", "credentials"))
	fakeVerdicts[x.Tasks[4].Namespace] = fakeVerdicts[x.Tasks[0].Namespace]
	if err := x.Prepare(context.Background(), sb, nil); err != nil {
		t.Fatal(err)
	}
	if len(created) != 5 || !slices.Equal(x.Tasks[0].Given, []string{"exists"}) || x.Tasks[1].Given != nil {
		t.Fatalf("prepared %d namespaces; given %v and %v", len(created), x.Tasks[0].Given, x.Tasks[1].Given)
	}
	fakeVerdicts = atStart
	x.Start(time.Now())
	x.Tasks[1].Spent = Seconds(90 * time.Second)

	r, err := x.Score(context.Background(), sb, time.Now(), Submitted)
	if err != nil {
		t.Fatal(err)
	}
	wantPoints := []float64{6, 2.67, 0, 0, 0}
	for i, tr := range r.Tasks {
		if tr.Points != wantPoints[i] {
			t.Errorf("task %d: %v points, want %v", tr.Number, tr.Points, wantPoints[i])
		}
	}
	if first := r.Tasks[0].Criteria[0]; !first.Given || !first.Met {
		t.Errorf("task 1's given criterion: %+v", first)
	}
	if met, counted := r.Tasks[0].Counted(); met != 2 || counted != 2 {
		t.Errorf("task 1 counts %d of %d, want 2 of 2", met, counted)
	}
	if met, counted := r.Tasks[4].Counted(); met != 0 || counted != 3 {
		t.Errorf("task 5 counts %d of %d, want 0 of 3", met, counted)
	}
	if r.MaxPoints != 19 || r.Points != 8.67 || r.Percent != 45.6 || r.Passed || r.PassMark != 67 {
		t.Errorf("total %v/%d = %v%%, passed %v", r.Points, r.MaxPoints, r.Percent, r.Passed)
	}
	half := r.Tasks[1]
	if !half.Criteria[0].Met || !half.Criteria[1].Met || half.Criteria[2].Met || half.Spent.D() != 90*time.Second {
		t.Errorf("half-done task: %+v", half)
	}
	if f := half.Criteria[2].Findings; len(f) != 1 || f[0].Code != "secret-wrong-password" || f[0].Try == "" {
		t.Errorf("the missed criterion's finding: %+v", f)
	}
	gate := r.Tasks[2].Criteria
	if gate[0].Met || !gate[0].Judged || gate[1].Judged || gate[2].Judged || len(gate[0].Findings) != 1 {
		t.Errorf("failed gate: %+v", gate)
	}
	if r.Tasks[3].Error == "" {
		t.Error("a check that failed has no error in the report")
	}
	if x.Running() || x.Report != r {
		t.Error("a scored exam still runs")
	}

	// The sandbox does not answer: nothing is scored.
	y := draw(t, cur, Options{Seed: 3, Tasks: 1})
	fakeVerdicts[y.Tasks[0].Namespace] = func() (check.Result, error) {
		return check.Result{}, fmt.Errorf("the API server %w", check.ErrUnreachable)
	}
	if _, err := y.Score(context.Background(), sb, time.Now(), Submitted); !errors.Is(err, ErrCannotScore) || !y.Running() {
		t.Errorf("unreachable sandbox: err = %v, running %v", err, y.Running())
	}
}
