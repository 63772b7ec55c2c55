package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
)

// fixtureIn is the test curriculum in l.
func fixtureIn(l i18n.Lang) (*lessons.Curriculum, error) {
	return lessons.LoadIn(os.DirFS("testdata/content"), l)
}

// TestResizeKorean: the same screens as TestResize in Korean, whose
// Hangul takes two columns each, lay out at 120×36 and 80×24 without a
// line longer than the terminal.
func TestResizeKorean(t *testing.T) {
	cur, err := fixtureIn(i18n.Korean)
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t)
	opts := l.options()
	opts.DisableWatch = true
	opts.EnvCommand = `eval "$(imagelab env)"`
	opts.Lang, opts.Curriculum, opts.Curricula = i18n.Korean, cur, fixtureIn
	a := start(t, opts, 120, 36)
	a.waitFor("샌드박스 준비됨", "모든 이미지에는 전체 이름이")
	a.keys("2", "n", "n")
	a.waitFor("2.3 regcred Secret", "아직 Secret regcred이(가) 없습니다", "내 터미널에서", "Secret regcred를 만드세요")
	screen := func() string { return strings.ReplaceAll(a.screen(), l.reg.Host, "localhost:5055") }
	t.Run("120x36", func(t *testing.T) {
		s := screen()
		checkFits(t, s, 120, 36)
		if !strings.Contains(s, "1 이미지 이름") {
			t.Errorf("no Korean sidebar at 120 columns:\n%s", s)
		}
		golden.RequireEqual(t, s)
	})
	a.tm.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
	a.waitGone("1 이미지 이름")
	t.Run("80x24", func(t *testing.T) {
		a.waitFor("2.3 regcred Secret", "아직 Secret regcred", "Secret regcred를 만드세요")
		s := screen()
		checkFits(t, s, 80, 24)
		golden.RequireEqual(t, s)
	})
	// The help screen and the quit dialog, in Korean, fit too.
	a.keys("?")
	a.waitFor("아무 키나 누르면 닫힙니다")
	checkFits(t, screen(), 80, 24)
	a.keys("esc", "q")
	a.waitFor("imagelab을 끝낼까요?", "남겨 두기")
	checkFits(t, screen(), 80, 24)
	a.keys("esc")
	a.quit()
}

// TestLanguageKey: L switches the app and the lessons to the next
// language on the same step, and progress remembers the choice.
func TestLanguageKey(t *testing.T) {
	store, _, err := progress.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Sandbox: noSandbox, Progress: store, Curricula: fixtureIn}
	a := start(t, opts, 80, 24)
	a.waitFor("1.1 What \"nginx\" really means", "No sandbox yet.")
	a.keys("L")
	a.waitFor("1.1 \"nginx\"의 진짜 의미", "아직 샌드박스가 없습니다.", "언어: 한국어")
	checkFits(t, a.screen(), 80, 24)
	a.keys("n")
	a.waitFor("1.2 Google 이미지의 레지스트리")
	a.keys("L")
	a.waitFor("1.2 The registry of a Google image", "No sandbox yet.")
	m := a.quit()
	if got := m.course.store.State.Lang; got != "en" {
		t.Errorf("progress remembers %q, want en", got)
	}
	if again, _, err := progress.Open(store.Path()[:len(store.Path())-len(progress.FileName)]); err != nil || again.State.Lang != "en" {
		t.Errorf("saved language = %q, %v", again.State.Lang, err)
	}
}

// TestExamScreenKorean: the exam screens in Korean at 80×24 and 120×36 —
// the task (its Korean title and text), the submit dialog and the score
// screen — with no line wider than the terminal; the score screen is a
// golden.
func TestExamScreenKorean(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 36}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			x, runner := examFixtureIn(t, i18n.Korean)
			x.ID = "k0rean" // the golden's namespaces: a drawn exam's id is random
			for _, task := range x.Tasks {
				task.Namespace = fmt.Sprintf("exam-%s-%d", x.ID, task.Number)
			}
			p, tm := startExamIn(t, runner, w, h, i18n.Korean)
			first := x.Tasks[0]
			title := first.StepOf().Title
			if w < 100 {
				title = "과제 1/4" // the header cuts a long title at 80 columns
			}
			s := p.waitFor(t, "과제 1/4", "25:00 남음", first.Namespace, title, "네임스페이스")
			requireFits(t, s, w, h)
			tm.Type("f")
			s = p.waitFor(t, "⚑ 표시함")
			requireFits(t, s, w, h)
			tm.Type("S")
			s = p.waitFor(t, "시험을 제출할까요?", "25:00 남음. 다시 보기로")
			t.Logf("submit dialog at %dx%d:\n%s", w, h, s)
			requireFits(t, s, w, h)
			tm.Type("y")
			s = p.waitFor(t, "점수", "합격선 67%", "과제 1", "✗ "+x.Tasks[1].StepOf().Definition().Criteria[0].Name+":")
			requireFits(t, s, w, h)
			golden.RequireEqual(t, s)
			tm.Type("q")
			tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
		})
	}
}

// TestSandboxPhaseInKorean: while the sandbox starts, the header says its
// phase in the app's language, and again in the other after the language
// key: the tracker keeps the event, not its English words.
func TestSandboxPhaseInKorean(t *testing.T) {
	l := newLab(t)
	box := l.box()
	release := make(chan struct{})
	box.start = func(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error) {
		report(sandbox.Event{Phase: sandbox.PhaseCluster, Task: sandbox.TaskWire, Message: "Wiring the registry into the cluster"})
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return l.sb, nil
	}
	opts := Options{Sandbox: box, DisableWatch: true, Lang: i18n.Korean, Curricula: fixtureIn}
	opts.Curriculum, _ = fixtureIn(i18n.Korean)
	a := start(t, opts, 120, 36)
	a.waitFor("레지스트리를 클러스터에 연결하는 중")
	checkFits(t, a.screen(), 120, 36)
	a.keys("L")
	a.waitFor("Wiring the registry into the cluster")
	close(release)
	a.waitFor("sandbox ready")
	a.quit()
}

// langBox is a fake sandbox whose shell says the language it was asked in.
type langBox struct {
	*fakeSandbox
	lang i18n.Lang
}

func (b langBox) In(l i18n.Lang) Sandbox { return langBox{b.fakeSandbox, l} }

func (b langBox) Shell(*sandbox.Sandbox) (*exec.Cmd, error) {
	return nil, errors.New("asked in " + string(b.lang))
}

// TestShellNoteFollowsTheLanguageKey: the app asks for the sandbox shell
// in the language it speaks when the learner opens it, so the shell's note
// follows the language key.
func TestShellNoteFollowsTheLanguageKey(t *testing.T) {
	l := newLab(t)
	opts := l.options()
	opts.DisableWatch = true
	opts.Sandbox = langBox{fakeSandbox: l.box()}
	opts.Lang, opts.Curricula = i18n.Korean, fixtureIn
	opts.Curriculum, _ = fixtureIn(i18n.Korean)
	a := start(t, opts, 120, 36)
	a.waitFor("샌드박스 준비됨")
	a.keys("t")
	a.waitFor("샌드박스 셸을 열 수 없습니다: asked in ko")
	a.keys("L")
	a.waitFor("sandbox ready")
	a.keys("t")
	a.waitFor("cannot open the sandbox shell: asked in en")
	a.quit()
}
