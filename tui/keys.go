package tui

import (
	"charm.land/bubbles/v2/key"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons/check"
)

// KeyMap is every key binding, as data. The help bar shows the bindings
// of the focused component that are enabled in the current state.
type KeyMap struct {
	// Moving through the curriculum.
	Next       key.Binding
	Prev       key.Binding
	Lessons    key.Binding
	JumpLesson key.Binding

	// Teaching.
	Hint     key.Binding
	Solution key.Binding
	Answer   key.Binding
	Check    key.Binding
	Reset    key.Binding
	Shell    key.Binding
	// NodeShell opens a root shell on the control-plane node (the exam's ssh).
	NodeShell key.Binding
	Retry     key.Binding

	// Scrolling the step text (the mouse wheel scrolls the pane under it).
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	// Scrolling the result panel when its findings run long.
	MoreUp   key.Binding
	MoreDown key.Binding

	// The lesson list (it moves with Up and Down; ListMove is their help).
	ListMove key.Binding
	Select   key.Binding
	Back     key.Binding

	// The answer field.
	Submit key.Binding
	Cancel key.Binding

	// Dialogs.
	Yes    key.Binding
	No     key.Binding
	Keep   key.Binding
	Remove key.Binding
	Toggle key.Binding

	// Lang switches the app's language (and the lessons') to the next one.
	Lang key.Binding

	Help      key.Binding
	Quit      key.Binding
	ForceQuit key.Binding
}

// DefaultKeyMap returns imagelab's key bindings, their help in English.
func DefaultKeyMap() KeyMap { return KeyMapIn(nil) }

// KeyMapIn returns imagelab's key bindings, their help in p's language.
func KeyMapIn(p *i18n.Printer) KeyMap {
	return KeyMap{
		Next:       key.NewBinding(key.WithKeys("n", "right"), key.WithHelp("n/→", p.T("next"))),
		Prev:       key.NewBinding(key.WithKeys("p", "left"), key.WithHelp("p/←", p.T("prev"))),
		Lessons:    key.NewBinding(key.WithKeys("l", "tab"), key.WithHelp("l", p.T("lessons"))),
		JumpLesson: key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("1-9", p.T("go to lesson"))),

		Hint:      key.NewBinding(key.WithKeys("h"), key.WithHelp("h", p.T("hint"))),
		Solution:  key.NewBinding(key.WithKeys("s"), key.WithHelp("s", p.T("solution"))),
		Answer:    key.NewBinding(key.WithKeys("enter", "a"), key.WithHelp("enter", p.T("answer"))),
		Check:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", p.T("check"))),
		Reset:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", p.T("reset"))),
		Shell:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", p.T("shell"))),
		NodeShell: key.NewBinding(key.WithKeys("T"), key.WithHelp("T", p.T("node shell"))),
		Retry:     key.NewBinding(key.WithKeys("u"), key.WithHelp("u", p.T("retry sandbox"))),

		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", p.T("scroll up"))),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", p.T("scroll down"))),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup/b", p.T("page up"))),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "space", "f"), key.WithHelp("pgdn/space", p.T("page down"))),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", p.T("top"))),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", p.T("bottom"))),
		MoreUp:   key.NewBinding(key.WithKeys("["), key.WithHelp("[", p.T("findings up"))),
		MoreDown: key.NewBinding(key.WithKeys("]"), key.WithHelp("]", p.T("findings down"))),

		ListMove: key.NewBinding(key.WithKeys("up", "down", "k", "j"), key.WithHelp("↑/↓", p.T("choose"))),
		Select:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", p.T("open"))),
		Back:     key.NewBinding(key.WithKeys("esc", "l", "tab"), key.WithHelp("esc", p.T("back"))),

		Submit: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", p.T("submit"))),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", p.T("back to keys"))),

		Yes:    key.NewBinding(key.WithKeys("y", "enter"), key.WithHelp("y/enter", p.T("yes"))),
		No:     key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", p.T("no"))),
		Keep:   key.NewBinding(key.WithKeys("k"), key.WithHelp("k", p.T("keep sandbox"))),
		Remove: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", p.T("remove sandbox"))),
		Toggle: key.NewBinding(key.WithKeys("left", "right", "tab", "shift+tab"), key.WithHelp("←/→", p.T("choose"))),

		// Its help names the language it switches to, in that language.
		Lang:      key.NewBinding(key.WithKeys("L"), key.WithHelp("L", p.Lang().Next().Name())),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", p.T("help"))),
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", p.T("quit"))),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", p.T("quit now"))),
	}
}

// enableKeys enables the bindings that do something now, so the help bar
// shows only those.
func (m *Model) enableKeys() {
	k := &m.c.keys
	s := m.course.step()
	quiz := s.IsQuiz()
	k.Next.SetEnabled(!m.course.last())
	k.Prev.SetEnabled(m.course.idx > 0)
	// h stays on when every hint is shown, to say there are no more.
	k.Hint.SetEnabled(len(s.Hints) > 0)
	k.Solution.SetEnabled(!m.text.solutionShown())
	k.Answer.SetEnabled(quiz && m.answer.retryIn() <= 0)
	k.Check.SetEnabled(!quiz && m.sandbox.ready())
	k.Shell.SetEnabled(m.sandbox.ready())
	// The node shell is offered where a step works on the node.
	k.NodeShell.SetEnabled(m.sandbox.ready() && s.Needs().Has(check.NeedsNode))
	k.Retry.SetEnabled(m.sandbox.state == sandboxFailed)
	k.JumpLesson.SetEnabled(len(m.course.cur.Lessons) > 1)
}

// ShortHelp is the focused component's keys, for the help bar: the open
// dialog's, the answer field's, the lesson list's, or else the step's.
func (m *Model) ShortHelp() []key.Binding {
	switch {
	case m.dialog.open():
		return m.dialog.ShortHelp()
	case m.answer.focused():
		return m.answer.ShortHelp()
	case m.sidebar.focused:
		return m.sidebar.ShortHelp()
	}
	k := m.c.keys
	out := []key.Binding{k.Retry, k.Answer, k.Check, k.Hint, k.Next, k.Prev, k.Shell, k.NodeShell, k.Solution, k.Lessons, k.Reset}
	out = append(out, m.text.ShortHelp()...)
	return append(out, m.panel.ShortHelp()...)
}

// FullHelp is every key of the step and its panes, for the ? screen.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.c.keys
	moving := []key.Binding{k.Next, k.Prev, k.Lessons, k.JumpLesson}
	for _, g := range append(m.text.FullHelp(), m.panel.FullHelp()...) {
		moving = append(moving, g...)
	}
	return [][]key.Binding{
		moving,
		{k.Hint, k.Solution, k.Answer, k.Check, k.Reset, k.Shell, k.NodeShell, k.Retry},
		{k.Lang, k.Help, k.Quit, k.ForceQuit},
	}
}
