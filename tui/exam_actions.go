package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/exam"
)

// The exam screen's actions: what it does with keys and with the results
// of its Cmds.

func (m *examModel) onOpened(msg examOpenedMsg) tea.Cmd {
	if msg.err != nil {
		if m.ctx.Err() == nil {
			m.phase, m.err = examFailed, msg.err
		}
		return nil
	}
	m.x, m.phase, m.idx = msg.x, examRunning, 0
	now := m.c.now()
	m.entered, m.saved = now, now
	m.text = newStepText(m.c, m.task().StepOf())
	if m.x.Expired(now) {
		return m.submit(exam.Expired)
	}
	return nil
}

// onTick ends the exam when its time is up, and saves the time spent now
// and then.
func (m *examModel) onTick() tea.Cmd {
	if m.phase != examRunning {
		return nil
	}
	now := m.c.now()
	if m.x.Remaining(now) <= 0 {
		m.dialog.kind = dialogNone
		return m.submit(exam.TimeUp)
	}
	if now.Sub(m.saved) >= autosaveEvery {
		return m.save()
	}
	return nil
}

// account adds the time since the task came on screen to its time spent.
func (m *examModel) account() {
	now := m.c.now()
	if m.x != nil && !m.entered.IsZero() {
		t := m.task()
		t.Spent += exam.Seconds(now.Sub(m.entered))
	}
	m.entered = now
}

// save keeps the attempt, in a Cmd, from a copy.
func (m *examModel) save() tea.Cmd {
	m.account()
	m.saved = m.c.now()
	x, runner := m.x.Clone(), m.runner
	return func() tea.Msg { return examSavedMsg{runner.Save(x)} }
}

// submit checks every task once and scores the exam, in a Cmd.
func (m *examModel) submit(ending exam.Ending) tea.Cmd {
	m.account()
	m.phase, m.err, m.ending = examScoring, nil, ending
	ctx, x, runner := m.ctx, m.x.Clone(), m.runner
	return tea.Batch(m.spinner.Tick, func() tea.Msg {
		_, err := runner.Submit(ctx, x, ending)
		return examScoredMsg{x, err}
	})
}

func (m *examModel) onScored(msg examScoredMsg) tea.Cmd {
	if msg.err != nil {
		if m.ctx.Err() != nil {
			return nil
		}
		// Not scored: back to the tasks while there is time; S tries again.
		m.phase, m.err = examRunning, msg.err
		if m.x.Remaining(m.c.now()) <= 0 {
			m.phase = examUnscored
		}
		m.entered = m.c.now()
		return nil
	}
	m.x, m.phase = msg.x, examScored
	return nil
}

func (m *examModel) onConfirmed(msg confirmedMsg) tea.Cmd {
	switch {
	case msg.kind == confirmSubmit && m.phase == examRunning:
		return m.submit(m.x.EndingAt(m.c.now()))
	case msg.kind == confirmLeave:
		return tea.Quit
	}
	return nil
}

// askLeave asks before leaving a running exam: its clock goes on.
func (m *examModel) askLeave() tea.Cmd {
	if m.phase != examRunning {
		return tea.Quit
	}
	left := formatClock(m.x.Remaining(m.c.now()))
	m.dialog.ask(confirmLeave, "", m.c.p.T("Leave the exam?"),
		m.c.p.T("The clock keeps running: %s left. imagelab exam brings you back to it, and when the time is up it is scored the next time you start imagelab exam.", left))
	return nil
}

// askSubmit asks before the end: nothing can change after it.
func (m *examModel) askSubmit() {
	var flagged []string
	for _, t := range m.x.Tasks {
		if t.Flagged {
			flagged = append(flagged, fmt.Sprint(t.Number))
		}
	}
	body := m.c.p.T("Every task is checked once and scored; then the exam's namespaces are deleted. %s left.", formatClock(m.x.Remaining(m.c.now())))
	if len(flagged) > 0 {
		body += m.c.p.T(" Flagged for review: task %s.", strings.Join(flagged, ", "))
	}
	m.dialog.ask(confirmSubmit, "", m.c.p.T("Submit the exam?"), body)
}

// goTo shows task i.
func (m *examModel) goTo(i int) tea.Cmd {
	if i < 0 || i >= len(m.x.Tasks) || i == m.idx {
		return nil
	}
	m.account()
	m.idx = i
	m.text.setStep(m.task().StepOf())
	return m.save()
}

func (m *examModel) setFlash(s string) tea.Cmd {
	m.flash = s
	m.flashSeq++
	seq := m.flashSeq
	return tea.Tick(flashFor, func(time.Time) tea.Msg { return examFlashDoneMsg{seq} })
}

// onKey routes a key: an open dialog takes them all, then the phase's
// keys; what is left scrolls.
func (m *examModel) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.ForceQuit):
		return tea.Quit // a running exam is saved, its clock goes on
	case m.dialog.open():
		return m.dialog.Update(msg)
	case key.Matches(msg, k.Quit):
		return m.askLeave()
	case key.Matches(msg, k.Help):
		m.dialog.showHelp(m.fullHelp())
		return nil
	}
	switch m.phase {
	case examScored:
		scroll(&m.score, m.c.keys, msg)
		return nil
	case examUnscored:
		if key.Matches(msg, k.Submit) {
			return m.submit(m.ending)
		}
		return nil
	case examRunning:
	default:
		return nil
	}
	switch {
	case key.Matches(msg, k.Next):
		return m.goTo(m.idx + 1)
	case key.Matches(msg, k.Prev):
		return m.goTo(m.idx - 1)
	case key.Matches(msg, k.Jump):
		return m.goTo(int(msg.Code - '1'))
	case key.Matches(msg, k.Flag):
		t := m.task()
		t.Flagged = !t.Flagged
		return m.save()
	case key.Matches(msg, k.Shell):
		x, runner := m.x.Clone(), m.runner
		t := x.Tasks[m.idx]
		return func() tea.Msg {
			cmd, err := runner.Shell(x, t)
			return shellReadyMsg{cmd: cmd, err: err}
		}
	case key.Matches(msg, k.NodeShell):
		if !m.hasNode {
			return nil
		}
		runner := m.runner
		return func() tea.Msg {
			cmd, err := runner.NodeShell()
			return shellReadyMsg{cmd: cmd, err: err}
		}
	case key.Matches(msg, k.Submit):
		m.askSubmit()
		return nil
	}
	return m.text.Update(msg)
}

func (m *examModel) onWheel(msg tea.MouseWheelMsg) tea.Cmd {
	switch {
	case m.dialog.open():
	case m.phase == examScored:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.score.ScrollUp(3)
		case tea.MouseWheelDown:
			m.score.ScrollDown(3)
		}
	case m.phase == examRunning:
		return m.text.Update(msg)
	}
	return nil
}

// scroll moves a viewport by the app's scrolling keys.
func scroll(vp *viewport.Model, k KeyMap, msg tea.KeyPressMsg) {
	switch {
	case key.Matches(msg, k.Up):
		vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		vp.PageUp()
	case key.Matches(msg, k.PageDown):
		vp.PageDown()
	case key.Matches(msg, k.Top):
		vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		vp.GotoBottom()
	}
}

// formatClock is a countdown, in whole seconds up: 1:02:03, 24:13, 0:09
// (0:00 only when the time is up).
func formatClock(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
