package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/imagelab/imagelab/lessons"
)

// stepText is the current step's text — its body, the hints shown so far
// and, once confirmed, the reference solution — rendered by glamour in a
// Cmd and kept by what it was rendered for, in a viewport the learner
// scrolls.
type stepText struct {
	c         *common
	vp        viewport.Model
	step      *lessons.Step
	solutions map[string]bool // steps whose solution the learner chose to see

	want     renderKey // the rendering the text should have now
	rendered renderKey
	pending  renderKey
	hasText  bool
	toBottom bool // scroll to the end once the next rendering arrives
}

func newStepText(c *common, step *lessons.Step) stepText {
	vp := viewport.New()
	vp.KeyMap = viewport.KeyMap{} // keys come as the app's bindings; h and l mean other things here
	return stepText{c: c, vp: vp, step: step, solutions: map[string]bool{}}
}

// setStep shows another step, from the top.
func (t *stepText) setStep(step *lessons.Step) {
	t.step = step
	t.hasText, t.toBottom = false, false
	t.vp.SetContent("")
	t.vp.GotoTop()
}

// SetSize sets the pane's size; the text is wrapped a little narrower.
func (t *stepText) SetSize(w, h int) {
	t.vp.SetWidth(w)
	t.vp.SetHeight(h)
}

// sync asks for a new rendering when the step, its hints, the values, the
// width or the style changed since the last one.
func (t *stepText) sync(vals lessons.Values, hints int) tea.Cmd {
	w := t.vp.Width()
	if w <= 0 {
		return nil
	}
	s := t.step
	t.want = renderKey{
		ref: s.Ref(), lang: t.c.p.Lang(), width: max(20, w-2), style: t.c.styles.Glamour, vals: vals,
		hints: hints, solution: t.solutions[s.Ref()],
	}
	if t.want == t.rendered || t.want == t.pending {
		return nil
	}
	t.pending = t.want
	return renderCmd(t.want, stepMarkdown(t.c.p, s, vals, hints, t.want.solution), s.Body(vals))
}

// showSolution adds the reference solution and scrolls to it.
func (t *stepText) showSolution() {
	t.solutions[t.step.Ref()] = true
	t.toBottom = true
}

func (t *stepText) solutionShown() bool { return t.solutions[t.step.Ref()] }

// showEnd scrolls to the end once the text is rendered again (a new hint).
func (t *stepText) showEnd() { t.toBottom = true }

// forget drops what the learner opened of a step that was reset.
func (t *stepText) forget(ref string) {
	delete(t.solutions, ref)
	if ref == t.step.Ref() {
		t.toBottom = false
		t.vp.GotoTop()
	}
}

// Update takes renderings and scrolls.
func (t *stepText) Update(msg tea.Msg) tea.Cmd {
	k := t.c.keys
	switch msg := msg.(type) {
	case renderedMsg:
		t.onRendered(msg)
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			t.vp.ScrollUp(3)
		case tea.MouseWheelDown:
			t.vp.ScrollDown(3)
		}
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Up):
			t.vp.ScrollUp(1)
		case key.Matches(msg, k.Down):
			t.vp.ScrollDown(1)
		case key.Matches(msg, k.PageUp):
			t.vp.PageUp()
		case key.Matches(msg, k.PageDown):
			t.vp.PageDown()
		case key.Matches(msg, k.Top):
			t.vp.GotoTop()
		case key.Matches(msg, k.Bottom):
			t.vp.GotoBottom()
		}
	}
	return nil
}

func (t *stepText) onRendered(msg renderedMsg) {
	if msg.key == t.pending {
		t.pending = renderKey{}
	}
	if msg.key != t.want {
		return // stale: the step, size or style changed meanwhile
	}
	sameStep := t.rendered.ref == msg.key.ref && t.hasText
	offset := t.vp.YOffset()
	t.vp.SetContent(msg.out)
	t.rendered, t.hasText = msg.key, true
	switch {
	case t.toBottom:
		t.vp.GotoBottom()
		t.toBottom = false
	case sameStep:
		t.vp.SetYOffset(offset)
	default:
		t.vp.GotoTop()
	}
}

// View is the text, or the step's title until its first rendering arrives.
func (t *stepText) View() string {
	if !t.hasText {
		return lipgloss.NewStyle().Width(t.vp.Width()).Height(t.vp.Height()).Padding(1, 2).
			Render(t.c.styles.StepCurrent.Render(t.step.Title) + "\n\n" + t.c.styles.Dim.Render("…"))
	}
	return t.vp.View()
}

// scrollLabel says how far the text is scrolled, for the rule under it;
// empty when it all fits.
func (t *stepText) scrollLabel() string {
	if !t.hasText || t.vp.TotalLineCount() <= t.vp.Height() {
		return ""
	}
	if t.vp.AtBottom() {
		return " " + t.c.p.T("end") + " "
	}
	return fmt.Sprintf(" %d%% ↓ ", int(t.vp.ScrollPercent()*100))
}

// ShortHelp is empty: scrolling is what everyone tries first, and the help
// bar has better things to say. ? lists the keys.
func (t *stepText) ShortHelp() []key.Binding { return nil }

func (t *stepText) FullHelp() [][]key.Binding {
	k := t.c.keys
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown}}
}
