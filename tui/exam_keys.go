package tui

import (
	"charm.land/bubbles/v2/key"

	"github.com/imagelab/imagelab/internal/i18n"
)

// examKeyMap are the exam screen's own keys; scrolling and the dialogs'
// keys are the app's (KeyMap). There is no hint, solution, check or reset
// key: an exam has none.
type examKeyMap struct {
	Next      key.Binding
	Prev      key.Binding
	Jump      key.Binding
	Flag      key.Binding
	Shell     key.Binding
	NodeShell key.Binding
	Submit    key.Binding
	Help      key.Binding
	Quit      key.Binding
	ForceQuit key.Binding
}

func defaultExamKeyMap() examKeyMap { return examKeyMapIn(nil) }

// examKeyMapIn is the exam's keys with their help in p's language.
func examKeyMapIn(p *i18n.Printer) examKeyMap {
	app := KeyMapIn(p)
	return examKeyMap{
		Next:      key.NewBinding(key.WithKeys("n", "right"), key.WithHelp("n/→", p.T("next"))),
		Prev:      key.NewBinding(key.WithKeys("p", "left"), key.WithHelp("p/←", p.T("prev"))),
		Jump:      key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("1-9", p.T("task"))),
		Flag:      key.NewBinding(key.WithKeys("f"), key.WithHelp("f", p.T("flag"))),
		Shell:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", p.T("shell"))),
		NodeShell: key.NewBinding(key.WithKeys("T"), key.WithHelp("T", p.T("node shell"))),
		Submit:    key.NewBinding(key.WithKeys("S"), key.WithHelp("S", p.T("submit"))),
		Help:      app.Help,
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", p.T("leave"))),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", p.T("leave now"))),
	}
}

// enableKeys enables the keys that do something in the exam's phase, so
// the help bar shows only those.
func (m *examModel) enableKeys() {
	k := &m.keys
	running := m.phase == examRunning
	n := 0
	if m.x != nil {
		n = len(m.x.Tasks)
	}
	k.Next.SetEnabled(running && m.idx < n-1)
	k.Prev.SetEnabled(running && m.idx > 0)
	k.Jump.SetEnabled(running && n > 1)
	k.Flag.SetEnabled(running)
	k.Shell.SetEnabled(running)
	k.NodeShell.SetEnabled(running && m.hasNode)
	k.Submit.SetEnabled(running || m.phase == examUnscored)
	if m.phase == examScored {
		k.Quit.SetHelp("q", m.c.p.T("quit"))
	}
}

// shortHelp is the help bar's keys for the phase.
func (m *examModel) shortHelp() []key.Binding {
	if m.dialog.open() {
		return m.dialog.ShortHelp()
	}
	k, a := m.keys, m.c.keys
	if m.phase == examScored {
		return []key.Binding{a.Down, a.Up, a.PageDown}
	}
	return []key.Binding{k.Next, k.Prev, k.Jump, k.Flag, k.Submit, k.Shell, k.NodeShell}
}

// fullHelp is every key of the exam, for the ? screen.
func (m *examModel) fullHelp() [][]key.Binding {
	k, a := m.keys, m.c.keys
	return [][]key.Binding{
		{k.Next, k.Prev, k.Jump, a.Up, a.Down, a.PageUp, a.PageDown},
		{k.Flag, k.Shell, k.NodeShell, k.Submit},
		{k.Help, k.Quit, k.ForceQuit},
	}
}
