package tui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// fakeExamRunner gives the exam screen a drawn exam, and scores it with
// a report the test writes.
type fakeExamRunner struct {
	mu     sync.Mutex
	x      *exam.Exam
	saved  *exam.Exam
	score  func(x *exam.Exam) *exam.Report
	ending exam.Ending
}

func (f *fakeExamRunner) Open(context.Context, func(exam.Progress)) (*exam.Exam, error) {
	return f.x, nil
}

func (f *fakeExamRunner) Values(x *exam.Exam, t *exam.Task) lessons.Values {
	return x.Values(lessons.NewValues("localhost:5055", "learner", "pw", ""), t)
}

func (f *fakeExamRunner) Save(x *exam.Exam) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saved = x
	return nil
}

func (f *fakeExamRunner) Submit(_ context.Context, x *exam.Exam, ending exam.Ending) (*exam.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ending = ending
	x.Submitted = testNow
	x.Report = f.score(x)
	return x.Report, nil
}

func (f *fakeExamRunner) Shell(*exam.Exam, *exam.Task) (*exec.Cmd, error) {
	return nil, errors.New("no shell in tests")
}

func (f *fakeExamRunner) NodeShell() (*exec.Cmd, error) { return nil, errors.New("no node in tests") }

// examProbe keeps the exam screen's last frame for the test to read.
type examProbe struct {
	*examModel
	mu   *sync.Mutex
	last *string
}

func (p examProbe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := p.examModel.Update(msg)
	p.examModel = m.(*examModel)
	return p, cmd
}

func (p examProbe) View() tea.View {
	v := p.examModel.View()
	p.mu.Lock()
	*p.last = v.Content
	p.mu.Unlock()
	return v
}

func (p examProbe) screen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ansi.Strip(*p.last)
}

func (p examProbe) waitFor(t *testing.T, texts ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.screen()
		ok := true
		for _, x := range texts {
			ok = ok && strings.Contains(s, x)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q; it shows:\n%s", texts, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireFits: the frame is the terminal's size, no line wider.
func requireFits(t *testing.T, screen string, w, h int) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != h {
		t.Errorf("%d lines on a %d-line terminal:\n%s", len(lines), h, screen)
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			t.Errorf("line %d is %d wide on a %d-column terminal: %q", i+1, lipgloss.Width(l), w, l)
		}
	}
}

func examFixture(t *testing.T) (*exam.Exam, *fakeExamRunner) {
	t.Helper()
	return examFixtureIn(t, i18n.English)
}

// examFixtureIn is examFixture drawn from the curriculum in l.
func examFixtureIn(t *testing.T, l i18n.Lang) (*exam.Exam, *fakeExamRunner) {
	t.Helper()
	cur, err := lessons.DefaultIn(l)
	if err != nil {
		t.Fatal(err)
	}
	x, err := exam.Draw(cur, exam.Options{Seed: 4242, Tasks: 4, Eligible: func(s *lessons.Step) bool { return !s.Needs().Has(check.NeedsNode) }})
	if err != nil {
		t.Fatal(err)
	}
	x.Start(testNow.Add(-5 * time.Minute))
	f := &fakeExamRunner{x: x, score: func(x *exam.Exam) *exam.Report {
		r := &exam.Report{ID: x.ID, Seed: x.Seed, Started: x.Started, Deadline: x.Deadline(), Submitted: testNow, Ending: exam.Submitted, PassMark: exam.PassMark, MaxPoints: x.MaxPoints()}
		for i, t := range x.Tasks {
			tr := exam.TaskReport{Number: t.Number, Step: t.Step, Title: t.StepOf().Title, Weight: t.Weight, Namespace: t.Namespace, Flagged: t.Flagged, Spent: t.Spent}
			for j, c := range t.StepOf().Definition().Criteria {
				cr := exam.CriterionReport{Name: c.Name, Doc: c.Doc, Judged: true, Met: i%2 == 0}
				if !cr.Met && j == 0 {
					cr.Findings = []check.Finding{{Code: "missing", Severity: check.Problem, Problem: "Nothing named " + x.Names.Regcred + " yet.", Try: "kubectl create secret docker-registry " + x.Names.Regcred + " --docker-server=localhost:5055"}}
				}
				cr.Judged = cr.Met || j == 0
				tr.Criteria = append(tr.Criteria, cr)
			}
			if i%2 == 0 {
				tr.Points = float64(t.Weight)
				r.Points += tr.Points
			}
			r.Tasks = append(r.Tasks, tr)
		}
		r.Percent = r.Points / float64(r.MaxPoints) * 100
		return r
	}}
	return x, f
}

// startExam runs the exam screen on a pinned clock; moving the clock
// later moves it on.
func startExam(t *testing.T, runner ExamRunner, w, h int) (examProbe, *teatest.TestModel) {
	t.Helper()
	return startExamIn(t, runner, w, h, "")
}

// startExamIn is startExam with the screen in l.
func startExamIn(t *testing.T, runner ExamRunner, w, h int, l i18n.Lang) (examProbe, *teatest.TestModel) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var last string
	now := func() time.Time { return testNow.Add(time.Duration(clockOffset.Load())) }
	p := examProbe{examModel: newExamModel(ctx, ExamOptions{Runner: runner, Now: now, Lang: l}), mu: &sync.Mutex{}, last: &last}
	tm := teatest.NewTestModel(t, p, teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII)))
	return p, tm
}

// TestExamScreen: at 80×24 and 120×36 (no colour), the tasks with their
// weights, the countdown and the task's text with the exam's names fit;
// moving, flagging and submitting lead to a score screen that shows each
// task's points and criteria and the finding behind a miss. No key gives
// a hint, a solution or a check.
func TestExamScreen(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 36}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			x, runner := examFixture(t)
			p, tm := startExam(t, runner, w, h)
			first := x.Tasks[0]
			s := p.waitFor(t, "Task 1 of 4", "25:00 left", first.Namespace, first.StepOf().Title)
			requireFits(t, s, w, h)
			for _, task := range x.Tasks {
				if !strings.Contains(s, strconv.Itoa(task.Weight)+" pt") && !strings.Contains(s, strconv.Itoa(task.Weight)+"pt") {
					t.Errorf("task %d's weight %d is not in the list:\n%s", task.Number, task.Weight, s)
				}
			}
			for _, k := range []string{"h", "s", "c", "r"} {
				tm.Type(k) // the tutorial's hint, solution, check and reset keys do nothing here
			}
			tm.Type("3")
			p.waitFor(t, "Task 3 of 4")
			tm.Type("f")
			s = p.waitFor(t, "⚑ flagged")
			requireFits(t, s, w, h)
			tm.Type("n")
			p.waitFor(t, "Task 4 of 4")
			tm.Type("p")
			p.waitFor(t, "Task 3 of 4")
			if strings.Contains(p.screen(), "Hint") || strings.Contains(p.screen(), "Reference solution") {
				t.Errorf("a hint or a solution is shown:\n%s", p.screen())
			}

			tm.Type("S")
			s = p.waitFor(t, "Submit the exam?", "Flagged for review")
			requireFits(t, s, w, h)
			tm.Type("y")
			s = p.waitFor(t, "Score", "pass mark 67%", "Task 1", "✗ "+x.Tasks[1].StepOf().Definition().Criteria[0].Name+":")
			requireFits(t, s, w, h)
			if !strings.Contains(s, "✓ "+x.Tasks[0].StepOf().Definition().Criteria[0].Name) {
				t.Errorf("task 1's met criterion is not marked:\n%s", s)
			}
			if runner.ending != exam.Submitted {
				t.Errorf("ended as %q", runner.ending)
			}
			t.Logf("score screen at %dx%d:\n%s", w, h, s)
			tm.Type("q")
			tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
		})
	}
}

// clockOffset moves the exam screen's pinned clock on.
var clockOffset atomic.Int64

// TestExamTimeUp: when the clock runs out, the exam is scored at once,
// as time-up; an attempt whose deadline passed before it was opened is
// scored at once, as expired.
func TestExamTimeUp(t *testing.T) {
	x, runner := examFixture(t)
	x.Start(testNow.Add(-x.Duration.D() + time.Second))
	p, _ := startExam(t, runner, 80, 24)
	p.waitFor(t, "Task 1 of 4", "0:01 left")
	// The clock is pinned; move it past the deadline.
	clockOffset.Store(int64(2 * time.Second))
	defer clockOffset.Store(0)
	p.waitFor(t, "Score")
	if runner.ending != exam.TimeUp {
		t.Errorf("ended as %q, want time-up", runner.ending)
	}

	y, runner2 := examFixture(t)
	y.Start(testNow.Add(-2 * y.Duration.D()))
	p2, _ := startExam(t, runner2, 80, 24)
	p2.waitFor(t, "Score")
	if runner2.ending != exam.Expired {
		t.Errorf("ended as %q, want expired", runner2.ending)
	}
}
