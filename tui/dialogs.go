package tui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// dialogKind is the dialog or screen drawn over the app.
type dialogKind int

const (
	dialogNone dialogKind = iota
	dialogHelp
	dialogConfirm
	dialogQuit
	dialogFinish
)

// confirmKind is what a yes/no dialog is about.
type confirmKind int

const (
	confirmSolution confirmKind = iota
	confirmReset
)

// Messages the dialogs send the root.
type (
	// confirmedMsg: the learner said yes to a confirm dialog about step ref.
	confirmedMsg struct {
		kind confirmKind
		ref  string
	}
	// askQuitMsg: the learner pressed q over a screen that passes it on.
	askQuitMsg struct{}
	// removeSandboxMsg: the learner chose to remove the sandbox on quit.
	removeSandboxMsg struct{}
)

// dialogs are the boxes drawn over the app, one at a time: the keys (?),
// a yes/no question (solution, reset), leaving (keep or remove the
// sandbox) and the end of the course. While one is open it takes every key.
type dialogs struct {
	c     *common
	help  help.Model
	width int

	kind dialogKind
	// The confirm dialog's question, about step ref.
	confirm     confirmKind
	ref         string
	title, body string
	// The quit dialog: the choice under the cursor (0 keep, 1 remove),
	// the sandbox's description, and whether it is being removed.
	quitSel  int
	where    string
	removing bool
	// full is the ? screen's keys.
	full [][]key.Binding
}

func newDialogs(c *common) dialogs {
	d := dialogs{c: c, help: help.New()}
	d.help.ShowAll = true
	d.help.FullSeparator = "   "
	d.restyle()
	return d
}

func (d *dialogs) restyle() { d.help.Styles = d.c.styles.Help }

func (d *dialogs) open() bool { return d.kind != dialogNone }

func (d *dialogs) SetSize(w, _ int) {
	d.width = w
	d.help.SetWidth(w)
}

// showHelp opens the ? screen with every key, whether it applies now or not.
func (d *dialogs) showHelp(groups [][]key.Binding) {
	d.kind, d.full = dialogHelp, make([][]key.Binding, len(groups))
	for i, g := range groups {
		d.full[i] = make([]key.Binding, len(g))
		for j, b := range g {
			b.SetEnabled(true)
			d.full[i][j] = b
		}
	}
}

// ask opens a yes/no question about step ref.
func (d *dialogs) ask(kind confirmKind, ref, title, body string) {
	d.kind, d.confirm, d.ref, d.title, d.body = dialogConfirm, kind, ref, title, body
}

// askQuit opens the quit dialog; where describes the sandbox.
func (d *dialogs) askQuit(where string) {
	d.kind, d.quitSel, d.where = dialogQuit, 0, where
}

func (d *dialogs) showFinish(steps, lessons int) {
	d.kind = dialogFinish
	d.body = d.c.p.T("All %d steps of %d lessons passed: image names, a private registry, pull secrets, service accounts and what the CKS asks around them.\n\nGo back to any step with l, try one again after r, or quit with q.", steps, lessons)
}

// Update handles the keys of the open dialog.
func (d *dialogs) Update(msg tea.Msg) tea.Cmd {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	switch d.kind {
	case dialogHelp, dialogFinish:
		if key.Matches(kp, d.c.keys.Quit) {
			return send(askQuitMsg{})
		}
		d.kind = dialogNone
	case dialogConfirm:
		return d.onConfirmKey(kp)
	case dialogQuit:
		return d.onQuitKey(kp)
	}
	return nil
}

func (d *dialogs) onConfirmKey(msg tea.KeyPressMsg) tea.Cmd {
	k := d.c.keys
	switch {
	case key.Matches(msg, k.Yes):
		d.kind = dialogNone
		return send(confirmedMsg{kind: d.confirm, ref: d.ref})
	case key.Matches(msg, k.No), key.Matches(msg, k.Quit):
		d.kind = dialogNone
	}
	return nil
}

func (d *dialogs) onQuitKey(msg tea.KeyPressMsg) tea.Cmd {
	if d.removing {
		return nil
	}
	k := d.c.keys
	remove := func() tea.Cmd {
		d.removing = true
		return send(removeSandboxMsg{})
	}
	switch {
	case key.Matches(msg, k.Keep):
		return tea.Quit
	case key.Matches(msg, k.Remove):
		return remove()
	case key.Matches(msg, k.Toggle):
		d.quitSel = 1 - d.quitSel
	case msg.String() == "enter":
		if d.quitSel == 1 {
			return remove()
		}
		return tea.Quit
	case msg.String() == "esc":
		d.kind = dialogNone
	}
	return nil
}

// View is the open dialog, to be drawn over the body; empty when none is.
func (d *dialogs) View() string {
	st := d.c.styles
	w := min(d.width-4, 64)
	box := st.Dialog.Width(w)
	inner := w - st.Dialog.GetHorizontalFrameSize()
	switch d.kind {
	case dialogHelp:
		return st.Dialog.Render(st.DialogTitle.Render(d.c.p.T("Keys")) + "\n\n" + d.help.FullHelpView(d.full) + "\n\n" + st.Dim.Render(d.c.p.T("Any key closes this. The mouse wheel scrolls the pane under it.")))
	case dialogConfirm:
		return box.Render(st.DialogTitle.Render(d.title) + "\n\n" + wrap(d.body, inner) + "\n\n" + d.button("y  "+d.c.p.T("yes"), true) + "  " + d.button("n  "+d.c.p.T("no"), false))
	case dialogQuit:
		if d.removing {
			return box.Render(st.DialogTitle.Render(d.c.p.T("Removing the sandbox…")) + "\n\n" + st.Checking.Render(d.c.frame) + " " + st.Dim.Render(d.c.p.T("this can take a little while")))
		}
		body := d.c.p.T("Your progress is saved. Keep the sandbox%s for next time, or remove it now?", d.where)
		return box.Render(st.DialogTitle.Render(d.c.p.T("Leave imagelab?")) + "\n\n" + wrap(body, inner) + "\n\n" +
			d.button("k  "+d.c.p.T("keep it"), d.quitSel == 0) + "  " + d.button("r  "+d.c.p.T("remove it"), d.quitSel == 1) + "\n\n" + st.Dim.Render(d.c.p.T("enter chooses · esc stays")))
	case dialogFinish:
		return box.Render(st.Passed.Render(d.c.p.T("★ You finished imagelab!")) + "\n\n" + wrap(d.body, inner) + "\n\n" + st.Dim.Render(d.c.p.T("any key closes this")))
	}
	return ""
}

// button draws a dialog button; the chosen one carries a marker too, so it
// stands out without colour.
func (d *dialogs) button(label string, chosen bool) string {
	if chosen {
		return d.c.styles.ButtonActive.Render("▸ " + label)
	}
	return d.c.styles.Button.Render("  " + label)
}

// ShortHelp is the open dialog's keys; the help and finish screens take
// any key and need none.
func (d *dialogs) ShortHelp() []key.Binding {
	k := d.c.keys
	switch d.kind {
	case dialogConfirm:
		return []key.Binding{k.Yes, k.No}
	case dialogQuit:
		return []key.Binding{k.Keep, k.Remove, k.Toggle}
	}
	return nil
}

func (d *dialogs) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }
