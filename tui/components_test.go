package tui

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
)

func testCommon() *common {
	c := &common{dark: true, keys: DefaultKeyMap(), now: func() time.Time { return testNow }}
	c.restyle()
	return c
}

func newStore() *progress.Store {
	return &progress.Store{State: progress.State{Steps: map[string]*progress.Step{}}}
}

func findStep(t *testing.T, cur *lessons.Curriculum, ref string) *lessons.Step {
	t.Helper()
	s, err := cur.Find(ref)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	keyDown  = tea.KeyPressMsg{Code: tea.KeyDown}
	keyEnter = tea.KeyPressMsg{Code: tea.KeyEnter}
)

// TestSidebarViewIsPure: the window follows the cursor in Update and
// SetSize; drawing changes nothing.
func TestSidebarViewIsPure(t *testing.T) {
	cur := fixture(t)
	c := testCommon()
	sb := newSidebar(c, cur, newStore(), findStep(t, cur, "secrets/regcred"))
	sb.SetSize(30, 3)
	if sb.offset != 5 { // rows: lesson, 2 steps, blank, lesson, 3 steps; regcred is row 7
		t.Fatalf("offset %d: the current step is out of the window", sb.offset)
	}
	sb.focus()
	for range 10 {
		sb.Update(tea.KeyPressMsg{Code: tea.KeyUp})
	}
	if sb.cursor != 0 || sb.offset != 0 {
		t.Fatalf("cursor %d offset %d after moving to the top", sb.cursor, sb.offset)
	}
	sb.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if sb.offset != 0 {
		t.Errorf("the wheel scrolled the cursor out of sight (offset %d)", sb.offset)
	}
	before := sb
	first := sb.View()
	if again := sb.View(); again != first || sb.offset != before.offset || sb.cursor != before.cursor {
		t.Error("View changed the sidebar")
	}
	if n := strings.Count(first, "\n") + 1; n != 3 {
		t.Errorf("View drew %d lines in a window of 3", n)
	}
	sb.Update(keyDown)
	cmd := sb.Update(keyEnter)
	if sb.focused || cmd == nil {
		t.Fatal("enter did not open the step and hand the keys back")
	}
	if msg, ok := cmd().(openStepMsg); !ok || msg.step.Ref() != "names/full-name" {
		t.Errorf("enter opened %+v", msg)
	}
}

// TestSchedulerFollowsTheContract: polling and its interval come from the
// step's check definition and the watches that fail.
func TestSchedulerFollowsTheContract(t *testing.T) {
	cur := fixture(t)
	push, regcred := findStep(t, cur, "secrets/push"), findStep(t, cur, "secrets/regcred")
	s := newCheckScheduler(context.Background(), testCommon(), make(chan tea.Msg, 1), false)
	ready := func(st *lessons.Step) checkTarget { return checkTarget{step: st, ready: true} }

	if !s.pollWanted(ready(push)) || s.pollEvery(push.Definition()) != check.RegistryPollInterval {
		t.Error("a push step, seen only by polling, is not polled at the registry interval")
	}
	if s.pollWanted(ready(regcred)) || s.pollWanted(checkTarget{step: push}) {
		t.Error("polled a watched step, or before the sandbox is ready")
	}
	kind := regcred.Definition().Watches[0].Kind
	s.Update(watchStatusMsg{source: kind, err: context.DeadlineExceeded}, ready(regcred))
	if !s.pollWanted(ready(regcred)) || s.pollEvery(regcred.Definition()) != check.WatchFailedPollInterval {
		t.Error("a step whose watch fails is not polled at the fallback interval")
	}
	if got := s.status(ready(regcred)); !strings.Contains(got, "watching failed") {
		t.Errorf("status %q", got)
	}
	s.Update(watchStatusMsg{source: kind}, ready(regcred))
	if s.pollWanted(ready(regcred)) {
		t.Error("still polling once the watch works again")
	}

	// One check at a time; one asked for meanwhile runs when it ends.
	quiz := checkTarget{step: findStep(t, cur, "names/full-name"), answer: "nginx"}
	if s.run(quiz) == nil || s.run(quiz) != nil || !s.again[quiz.step.Ref()] {
		t.Fatal("a second check ran beside the first, or was lost")
	}
	if s.Update(checkedMsg{ref: quiz.step.Ref(), answer: "nginx"}, quiz) == nil {
		t.Error("the check asked for meanwhile did not run")
	}
	if _, ok := s.result(quiz.step.Ref()); !ok {
		t.Error("the verdict was not kept")
	}
}

// TestAnswerFieldPicks: only a submitted answer to a choice quiz is a
// pick; a wrong one closes the field until the delay has passed.
func TestAnswerFieldPicks(t *testing.T) {
	cur, err := lessons.Load(os.DirFS("testdata/choice"))
	if err != nil {
		t.Fatal(err)
	}
	c := testCommon()
	var clk clock
	c.now = clk.now
	store := newStore()
	pull, free := findStep(t, cur, "quiz/pull"), findStep(t, cur, "quiz/full-name")
	a := newAnswerField(c, store, pull)

	if a.judged(checkedMsg{ref: pull.Ref(), answer: "a"}) {
		t.Fatal("a recheck of a stored answer counted as a pick")
	}
	a.focus()
	a.input.SetValue("a")
	msg, ok := a.Update(keyEnter)().(answerMsg)
	if !ok || msg.answer != "a" {
		t.Fatalf("enter submitted %+v", msg)
	}
	wrong := check.Result{Findings: []check.Finding{{Code: "wrong-choice", Severity: check.Problem}}}
	if !a.judged(checkedMsg{ref: pull.Ref(), answer: "a", result: wrong}) {
		t.Fatal("the wrong pick was not recorded")
	}
	if a.focused() || a.retryIn() != 10*time.Second || !strings.Contains(a.countdown(), "answer again in 10s") {
		t.Errorf("after a wrong pick: focused %v, retry in %v, %q", a.focused(), a.retryIn(), a.countdown())
	}
	if a.focus(); a.focused() {
		t.Error("the field opened during the delay")
	}
	clk.advance(10 * time.Second)
	if a.focus(); !a.focused() || a.countdown() != "" {
		t.Error("the field stays shut after the delay")
	}

	a.setStep(free)
	a.focus()
	a.input.SetValue("nginx")
	a.Update(keyEnter)
	if a.judged(checkedMsg{ref: free.Ref(), answer: "nginx"}) || store.Step(free.Ref()).RetryAt != nil {
		t.Error("a free-text answer counted as a pick")
	}
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{8 * time.Second, "8s"},
		{80 * time.Second, "1m20s"},
		{2 * time.Minute, "2m"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestHelpFollowsFocus: the help bar shows the focused component's keys.
func TestHelpFollowsFocus(t *testing.T) {
	m := New(context.Background(), Options{Curriculum: fixture(t), Sandbox: noSandbox, Now: func() time.Time { return testNow }})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 36})
	helpOf := func() string {
		var keys []string
		for _, b := range m.ShortHelp() {
			if b.Enabled() {
				keys = append(keys, b.Help().Desc)
			}
		}
		return strings.Join(keys, ",")
	}
	for _, tc := range []struct {
		name string
		key  tea.KeyPressMsg
		want string
	}{
		{"step", tea.KeyPressMsg{}, "answer,hint,next,solution,lessons,reset"},
		{"lesson list", tea.KeyPressMsg{Code: 'l', Text: "l"}, "choose,open,back"},
		{"back", tea.KeyPressMsg{Code: tea.KeyEscape}, "answer,hint,next,solution,lessons,reset"},
		{"answer field", keyEnter, "submit,back to keys"},
		{"answer done", tea.KeyPressMsg{Code: tea.KeyEscape}, "answer,hint,next,solution,lessons,reset"},
		{"confirm", tea.KeyPressMsg{Code: 'r', Text: "r"}, "yes,no"},
		{"help", tea.KeyPressMsg{Code: '?', Text: "?"}, ""},
	} {
		if tc.key.Code != 0 {
			m.Update(tc.key)
		}
		if tc.name == "help" {
			m.Update(tea.KeyPressMsg{Code: tea.KeyEscape}) // closes the confirm dialog
			m.Update(tc.key)
		}
		if got := helpOf(); got != tc.want {
			t.Errorf("%s: help bar %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestViewChangesNothing: drawing the app twice draws the same and leaves
// the progress and the components as they were.
func TestViewChangesNothing(t *testing.T) {
	m := New(context.Background(), Options{Curriculum: fixture(t), Sandbox: noSandbox, Now: func() time.Time { return testNow }})
	for _, msg := range []tea.Msg{tea.WindowSizeMsg{Width: 80, Height: 8}, tea.KeyPressMsg{Code: 'l', Text: "l"}, keyDown, keyDown, keyDown, keyDown} {
		m.Update(msg)
	}
	steps, side := len(m.course.store.State.Steps), m.sidebar
	first := m.View().Content
	if again := m.View().Content; again != first {
		t.Error("two views of the same state differ")
	}
	if len(m.course.store.State.Steps) != steps || m.sidebar.offset != side.offset || m.sidebar.cursor != side.cursor {
		t.Error("View changed the state")
	}
	if !strings.Contains(first, "Tag and push") || strings.Contains(first, "1 Image names") {
		t.Errorf("the lesson list does not follow its cursor:\n%s", first)
	}
}
