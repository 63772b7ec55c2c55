package tui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/internal/i18n"
)

// The root's actions: what it does with the components' requests and the
// results of their Cmds, on the course and across components.

// onChecked takes a verdict: the scheduler keeps it, a submitted answer
// is judged, and a pass is recorded.
func (m *Model) onChecked(msg checkedMsg) tea.Cmd {
	cmd := m.checks.Update(msg, m.target())
	if m.ctx.Err() != nil {
		return nil
	}
	changed := m.answer.judged(msg)
	if msg.err == nil && msg.result.Passed && !m.course.store.Passed(msg.ref) {
		m.course.store.MarkPassed(msg.ref, m.c.now())
		changed = true
		if m.course.allPassed() {
			m.dialog.showFinish(len(m.course.steps), len(m.course.cur.Lessons))
		}
	}
	if changed {
		cmd = tea.Batch(cmd, m.course.save())
	}
	return cmd
}

// onAnswer records a submitted answer and checks it.
func (m *Model) onAnswer(msg answerMsg) tea.Cmd {
	m.course.store.Step(msg.ref).Answer = msg.answer
	m.checks.forget(msg.ref)
	cmds := []tea.Cmd{m.course.save()}
	if msg.ref == m.course.step().Ref() {
		cmds = append(cmds, m.checks.run(m.target()))
	}
	return tea.Batch(cmds...)
}

func (m *Model) onConfirmed(msg confirmedMsg) tea.Cmd {
	s := m.course.step()
	if msg.ref != s.Ref() {
		return nil
	}
	switch msg.kind {
	case confirmSolution:
		m.text.showSolution()
	case confirmReset:
		return m.sandbox.resetCmd(s)
	}
	return nil
}

func (m *Model) onReset(msg resetMsg) tea.Cmd {
	if msg.setup {
		if msg.err != nil {
			return m.panel.setFlash(m.c.p.T("setting the step up: %v", msg.err))
		}
		m.course.store.Step(msg.ref).SetUp = true
		cmds := []tea.Cmd{m.course.save(), m.panel.setFlash(m.c.p.T("the step is set up in the sandbox"))}
		if msg.ref == m.course.step().Ref() {
			cmds = append(cmds, m.checks.run(m.target()))
		}
		return tea.Batch(cmds...)
	}
	m.course.store.Reset(msg.ref)
	m.checks.forget(msg.ref)
	m.text.forget(msg.ref)
	m.answer.clear(msg.ref)
	cmds := []tea.Cmd{m.course.save()}
	switch {
	case msg.err != nil:
		cmds = append(cmds, m.panel.setFlash(m.c.p.T("reset: %v", msg.err)))
	case m.sandbox.sb == nil:
		cmds = append(cmds, m.panel.setFlash(m.c.p.T("progress reset (what you made in the sandbox is left as it is)")))
	default:
		cmds = append(cmds, m.panel.setFlash(m.c.p.T("step reset")))
	}
	if msg.err == nil && m.sandbox.sb != nil && m.course.step().Setup != "" {
		m.course.store.Step(msg.ref).SetUp = true // reset made it anew
	}
	if msg.ref == m.course.step().Ref() {
		cmds = append(cmds, m.checks.run(m.target()))
	}
	return tea.Batch(cmds...)
}

// setUpIfNew makes what the current step starts from, the first time the
// learner comes to it with the sandbox ready.
func (m *Model) setUpIfNew() tea.Cmd {
	s := m.course.step()
	if s.Setup == "" || !m.sandbox.ready() {
		return nil
	}
	if rec, ok := m.course.store.State.Steps[s.Ref()]; ok && rec.SetUp {
		return nil
	}
	return m.sandbox.setUpCmd(s)
}

// goTo moves to step i and saves where the learner is.
func (m *Model) goTo(i int) tea.Cmd {
	if i < 0 || i >= len(m.course.steps) || i == m.course.idx {
		return nil
	}
	m.course.idx = i
	s := m.course.step()
	m.course.store.State.Current = s.Ref()
	m.sidebar.blur()
	m.sidebar.setCurrent(s)
	m.text.setStep(s)
	m.panel.gotoTop()
	m.answer.setStep(s)
	return tea.Batch(m.checks.enter(m.target()), m.course.save(), m.setUpIfNew())
}

func (m *Model) showHint() tea.Cmd {
	s := m.course.step()
	rec := m.course.store.Step(s.Ref())
	if rec.Hints >= len(s.Hints) {
		if len(s.Hints) == 0 {
			return m.panel.setFlash(m.c.p.T("this step has no hints — s shows the solution"))
		}
		return m.panel.setFlash(m.c.p.T("no more hints — s shows the solution"))
	}
	rec.Hints++
	m.text.showEnd()
	return m.course.save()
}

// askQuit opens the quit dialog when there is a sandbox to keep or
// remove; otherwise it quits.
func (m *Model) askQuit() tea.Cmd {
	sb := m.sandbox.sb
	if !m.sandbox.ready() || sb == nil {
		return tea.Quit
	}
	m.dialog.askQuit(m.c.p.T(" (%s, namespace %s)", sb.Provider, sb.Namespace))
	return nil
}

// switchLang speaks l from now on: the app's own texts, the lessons (the
// same steps, so the learner stays where they are) and the findings, as
// the step is checked again. The choice is remembered in progress.
func (m *Model) switchLang(l i18n.Lang) tea.Cmd {
	var cmds []tea.Cmd
	if m.curricula != nil {
		cur, err := m.curricula(l)
		if err != nil {
			return m.panel.setFlash(m.c.p.T("cannot switch the language: %v", err))
		}
		if err := m.course.switchCurriculum(cur); err != nil {
			return m.panel.setFlash(m.c.p.T("cannot switch the language: %v", err))
		}
		s := m.course.step()
		m.text = newStepText(m.c, s)
		m.sidebar = newSidebar(m.c, cur, m.course.store, s)
		m.answer.setStep(s)
	}
	p := i18n.For(l)
	m.c.p, m.c.keys = p, KeyMapIn(p)
	m.answer.input.Placeholder = p.T("type your answer")
	m.course.store.State.Lang = string(l)
	cmds = append(cmds, m.course.save(), m.panel.setFlash(p.T("language: %s", l.Name())))
	if m.sandbox.ready() || m.course.step().IsQuiz() {
		cmds = append(cmds, m.checks.run(m.target()))
	}
	return tea.Batch(cmds...)
}
