package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/imagelab/imagelab/lessons/check"
)

// Layout thresholds: below wideWidth the sidebar folds away (key l opens
// the lesson list in its place).
const (
	wideWidth    = 100
	sidebarWidth = 34
)

// layout is where everything goes, worked out after every message.
type layout struct {
	width, height int
	banner        string
	bodyY, bodyH  int
	sidebarW      int // with its border; 0 when folded away
	mainW         int
	textWidth     int
	contentH      int
	panelY        int
	panelH        int
}

func (m *Model) layout() {
	w, h := m.c.width, m.c.height
	l := layout{width: w, height: h}
	if w <= 0 || h <= 0 {
		m.lay = l
		return
	}
	l.banner = m.bannerView(w)
	bannerH := 0
	if l.banner != "" {
		bannerH = lipgloss.Height(l.banner)
	}
	l.bodyY = 1 + bannerH
	l.bodyH = max(3, h-2-bannerH)
	if w >= wideWidth {
		l.sidebarW = sidebarWidth
	}
	l.mainW = w - l.sidebarW
	l.textWidth = max(20, l.mainW-2)

	panel := m.panelText(l.mainW - 2)
	need := lipgloss.Height(panel)
	l.panelH = min(need, max(3, l.bodyH*2/5))
	l.contentH = max(1, l.bodyH-l.panelH-1)
	l.panelY = l.bodyY + l.contentH + 1
	m.lay = l

	m.content.SetWidth(l.mainW)
	m.content.SetHeight(l.contentH)
	m.panel.SetWidth(l.mainW)
	m.panel.SetHeight(l.panelH)
	m.panel.SetContent(indent(panel, " "))
	m.answer.SetWidth(max(10, l.mainW-20))
	m.help.SetWidth(w)
}

// View draws the app.
func (m *Model) View() tea.View {
	v := tea.NewView("")
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "imagelab — " + m.step().Title
	if m.lay.width <= 0 || m.lay.height <= 0 {
		return v
	}
	body := m.bodyView()
	if ov := m.overlayView(); ov != "" {
		body = placeOver(body, ov, m.lay.width, m.lay.bodyH)
	}
	parts := []string{m.headerView()}
	if m.lay.banner != "" {
		parts = append(parts, m.lay.banner)
	}
	parts = append(parts, body, m.footerView())
	v.SetContent(strings.Join(parts, "\n"))
	return v
}

// headerView: the step on the left, the sandbox and progress on the right.
func (m *Model) headerView() string {
	st := m.c.styles
	w := m.lay.width
	s := m.step()
	right := m.sandboxBadge() + st.HeaderDim.Render(fmt.Sprintf("  %d/%d ✓ ", m.passedCount(), len(m.steps)))
	logo := st.Logo.Render("imagelab")
	room := w - lipgloss.Width(logo) - lipgloss.Width(right) - 3 // keep a space before the badge
	stepText := ansi.Truncate(fmt.Sprintf("%s %s", m.position(), s.Title), max(0, room), "…")
	left := logo + st.HeaderStep.Render(" "+stepText)
	if rest := room - lipgloss.Width(stepText) - 3; rest > 8 {
		left += st.HeaderDim.Render(" · " + ansi.Truncate(s.Lesson.Title, rest, "…"))
	}
	gap := max(0, w-lipgloss.Width(left)-lipgloss.Width(right))
	return left + st.Header.Render(strings.Repeat(" ", gap)) + right
}

// sandboxBadge is the sandbox's state in a few words: the phase and the
// time it has taken while starting.
func (m *Model) sandboxBadge() string {
	st := m.c.styles
	switch m.sb.state {
	case sandboxReady:
		return st.Ready.Render("● sandbox ready")
	case sandboxFailed:
		return st.Failed.Render("✗ no sandbox")
	}
	msg := m.sb.message
	if msg == "" {
		msg = "starting the sandbox"
	}
	msg = ansi.Truncate(msg, max(12, m.lay.width/3), "…")
	elapsed := m.c.now().Sub(m.sb.started).Seconds()
	return st.Busy.Render(fmt.Sprintf("%s %s %.1fs", m.spinner.View(), msg, elapsed))
}

func (m *Model) passedCount() int {
	n := 0
	for _, s := range m.steps {
		if m.store.Passed(s.Ref()) {
			n++
		}
	}
	return n
}

// position is "2.1": lesson 2, step 1.
func (m *Model) position() string {
	s := m.step()
	for li, l := range m.opts.Curriculum.Lessons {
		if l == s.Lesson {
			for si, x := range l.Steps {
				if x == s {
					return fmt.Sprintf("%d.%d", li+1, si+1)
				}
			}
		}
	}
	return ""
}

// bannerView shows what needs the learner's attention across the top: a
// sandbox that could not start, a progress file that was damaged.
func (m *Model) bannerView(w int) string {
	st := m.c.styles
	var out []string
	if m.sb.state == sandboxFailed {
		title, body := m.sandboxProblem()
		out = append(out, st.Banner.Width(w).Render(st.BannerTitle.Render(title)+" "+body))
	}
	if m.warning != "" {
		out = append(out, st.BannerWarn.Width(w).Render(st.BannerTitle.Render("Progress was reset.")+" "+m.warning))
	}
	if m.saveErr != nil {
		out = append(out, st.BannerWarn.Width(w).Render(st.BannerTitle.Render("Progress not saved:")+" "+m.saveErr.Error()))
	}
	return strings.Join(out, "\n")
}

// bodyView: the sidebar and the main column (step text, rule, result panel).
func (m *Model) bodyView() string {
	l := m.lay
	var main string
	if m.focus == focusSidebar && l.sidebarW == 0 {
		// Folded sidebar: the lesson list takes the main column.
		main = lipgloss.NewStyle().Width(l.mainW).Height(l.bodyH).Padding(0, 1).
			Render(m.sidebar.view(l.mainW-2, l.bodyH, m.step(), true))
	} else {
		text := m.content.View()
		if !m.hasText {
			text = lipgloss.NewStyle().Width(l.mainW).Height(l.contentH).Padding(1, 2).
				Render(m.c.styles.StepCurrent.Render(m.step().Title) + "\n\n" + m.c.styles.Dim.Render("…"))
		}
		main = lipgloss.JoinVertical(lipgloss.Left, text, m.ruleView(l.mainW), m.panelView())
	}
	if l.sidebarW == 0 {
		return main
	}
	sideStyle := m.c.styles.Sidebar
	if m.focus == focusSidebar {
		sideStyle = m.c.styles.SidebarFocused
	}
	inner := l.sidebarW - sideStyle.GetHorizontalFrameSize() - 1
	side := sideStyle.Height(l.bodyH).Width(l.sidebarW).PaddingLeft(1).
		Render(m.sidebar.view(inner, l.bodyH, m.step(), m.focus == focusSidebar))
	return lipgloss.JoinHorizontal(lipgloss.Top, side, main)
}

// panelView is the result panel; when its text runs past the bottom, the
// last line says so.
func (m *Model) panelView() string {
	v := m.panel.View()
	if m.panel.AtBottom() || m.panel.TotalLineCount() <= m.panel.Height() {
		return v
	}
	lines := strings.Split(v, "\n")
	more := m.panel.TotalLineCount() - m.panel.YOffset() - m.panel.Height() + 1
	lines[len(lines)-1] = m.c.styles.Dim.Render(fmt.Sprintf(" ↓ %d more lines: ] scrolls (or the mouse wheel)", more))
	return strings.Join(lines, "\n")
}

// ruleView separates the text from the result panel and says how far the
// text is scrolled.
func (m *Model) ruleView(w int) string {
	st := m.c.styles
	label := ""
	if m.hasText && m.content.TotalLineCount() > m.content.Height() {
		switch {
		case m.content.AtBottom():
			label = " end "
		default:
			label = fmt.Sprintf(" %d%% ↓ ", int(m.content.ScrollPercent()*100))
		}
	}
	left := ""
	if m.envInRule() {
		left = st.Rule.Render("── ") + st.RuleLabel.Render("your own terminal: ") + st.Code.Render(m.opts.EnvCommand) + " "
	}
	n := max(0, w-lipgloss.Width(left)-lipgloss.Width(label)-2)
	return left + st.Rule.Render(strings.Repeat("─", n)) + st.RuleLabel.Render(label) + st.Rule.Render("──")
}

// envInRule says the split-screen line (eval "$(imagelab env)") is shown in
// the rule above the result panel: for steps done in the sandbox, when it
// fits whole (a command to paste must never be cut).
func (m *Model) envInRule() bool {
	if m.step().IsQuiz() || m.sb.state != sandboxReady {
		return false
	}
	return 3+19+lipgloss.Width(m.opts.EnvCommand)+1+12 <= m.lay.mainW
}

// panelText is the result panel: the check's verdict and findings, the
// quiz answer field, and how the step is being watched.
func (m *Model) panelText(w int) string {
	st := m.c.styles
	s := m.step()
	ref := s.Ref()
	var lines []string
	if m.flash != "" {
		lines = append(lines, st.Flash.Render("» "+m.flash))
	}
	out, have := m.results[ref]
	running := m.running[ref]
	spin := ""
	if running {
		spin = " " + st.Checking.Render(m.spinner.View())
	}

	if s.IsQuiz() {
		answer := m.store.Step(ref).Answer
		switch {
		case m.focus == focusAnswer:
			lines = append(lines, st.Label.Render("Your answer ")+m.answer.View())
		case answer != "":
			lines = append(lines, st.Label.Render("Your answer: ")+st.Code.Render(answer)+st.Dim.Render("  (enter to change it)"))
		default:
			lines = append(lines, st.Label.Render("Your answer: ")+st.Dim.Render("press enter to type it"))
		}
		if have && answer != "" {
			lines = append(lines, m.verdict(out, w, "✓ Right.", "✗ Not quite.")+spin)
		} else if running {
			lines = append(lines, st.Checking.Render(m.spinner.View()+" checking…"))
		}
		return strings.Join(lines, "\n")
	}

	switch m.sb.state {
	case sandboxStarting:
		lines = append(lines, st.Checking.Render("◌ This step needs the sandbox, which is starting. Read on meanwhile: it turns green by itself once you have done it."))
		return wrap(strings.Join(lines, "\n"), w)
	case sandboxFailed:
		lines = append(lines, st.NotYet.Render("✗ This step needs the sandbox: ")+st.Dim.Render("see the note at the top."))
		return wrap(strings.Join(lines, "\n"), w)
	}
	if have {
		lines = append(lines, m.verdict(out, w, "✓ Passed.", "✗ Not yet.")+spin)
	} else {
		lines = append(lines, st.Checking.Render(m.spinner.View()+" checking…"))
	}
	lines = append(lines, m.watchLine(out, have, w))
	if !m.envInRule() {
		lines = append(lines, st.Dim.Render("Your own terminal: ")+st.Code.Render(hang(m.opts.EnvCommand, w-19, 19)))
	}
	return strings.Join(lines, "\n")
}

// verdict is the status line and the findings of a check.
func (m *Model) verdict(out outcomeOf, w int, pass, fail string) string {
	st := m.c.styles
	if out.err != nil {
		return wrap(st.NotYet.Render("! Could not check: ")+out.err.Error(), w)
	}
	r := out.result
	var b []string
	if r.Passed {
		b = append(b, wrap(st.Passed.Render(pass)+" "+r.Summary, w))
		if m.idx < len(m.steps)-1 {
			b = append(b, st.Dim.Render("  n takes you to the next step."))
		}
	} else {
		note := " It turns green by itself when you're done."
		if m.step().IsQuiz() {
			note = ""
		}
		b = append(b, st.NotYet.Render(fail)+st.Dim.Render(note))
	}
	for _, f := range r.Findings {
		if r.Passed && f.Severity == check.Problem {
			continue
		}
		b = append(b, m.finding(f, w))
	}
	return strings.Join(b, "\n")
}

func (m *Model) finding(f check.Finding, w int) string {
	st := m.c.styles
	bullet := st.Problem.Render("✗")
	if f.Severity == check.Advice {
		bullet = st.Advice.Render("·")
	}
	lines := []string{bullet + " " + hang(f.Problem, w-2, 2)}
	for _, kv := range [][2]string{{"expected", f.Expected}, {"try", f.Try}, {"said", f.Evidence}} {
		if kv[1] == "" {
			continue
		}
		lines = append(lines, "  "+st.Label.Render(fmt.Sprintf("%-9s", kv[0]))+hang(kv[1], w-11, 11))
	}
	return strings.Join(lines, "\n")
}

// watchLine says how the step is kept up to date.
func (m *Model) watchLine(out outcomeOf, have bool, w int) string {
	st := m.c.styles
	var parts []string
	switch {
	case m.opts.DisableWatch:
		parts = append(parts, "press c to check")
	case m.watchFailing():
		parts = append(parts, fmt.Sprintf("watching failed (%s): checking every %s; c checks now", m.failingSummary(), m.pollEvery()))
	case m.pollWanted():
		parts = append(parts, fmt.Sprintf("checking the registry every %s; c checks now", m.pollEvery()))
	default:
		parts = append(parts, "watching namespace "+m.sb.vals.Namespace+" and your docker login", "c checks now")
	}
	if have {
		parts = append(parts, "checked "+out.at.Format(time.TimeOnly))
	}
	return wrap(st.Dim.Render(strings.Join(parts, " · ")), w)
}

func (m *Model) failingSummary() string {
	var out []string
	for src, err := range m.failing {
		out = append(out, src+": "+err)
	}
	if len(out) == 1 {
		return ansi.Truncate(out[0], 60, "…")
	}
	return fmt.Sprintf("%d sources", len(out))
}

// footerView is the help bar: the focused component's keys on the left,
// help and quit always on the right.
func (m *Model) footerView() string {
	k := m.c.keys
	tail := m.shortHelp([]key.Binding{k.Help, k.Quit}, m.lay.width)
	left := m.shortHelp(m.shortKeys(), m.lay.width-lipgloss.Width(tail)-3)
	gap := max(1, m.lay.width-lipgloss.Width(left)-lipgloss.Width(tail)-1)
	return " " + left + strings.Repeat(" ", gap) + tail
}

// shortHelp is one line of enabled bindings that fits in w; bubbles' own
// ShortHelpView can overflow by an item when the ellipsis does not fit.
func (m *Model) shortHelp(bs []key.Binding, w int) string {
	st := m.c.styles.Help
	sep := st.ShortSeparator.Render(" • ")
	var b strings.Builder
	width := 0
	for _, kb := range bs {
		if !kb.Enabled() {
			continue
		}
		item := st.ShortKey.Render(kb.Help().Key) + " " + st.ShortDesc.Render(kb.Help().Desc)
		if width > 0 {
			item = sep + item
		}
		iw := lipgloss.Width(item)
		if width+iw > w {
			if width+2 <= w {
				b.WriteString(st.Ellipsis.Render(" …"))
			}
			break
		}
		b.WriteString(item)
		width += iw
	}
	return b.String()
}

// shortKeys are the focused component's bindings, most useful first.
func (m *Model) shortKeys() []key.Binding {
	k := m.c.keys
	switch {
	case m.overlay == overlayConfirm:
		return []key.Binding{k.Yes, k.No}
	case m.overlay == overlayQuit:
		return []key.Binding{k.Keep, k.Remove, k.Toggle}
	case m.overlay != overlayNone:
		return nil
	case m.focus == focusAnswer:
		return []key.Binding{k.Submit, k.Cancel}
	case m.focus == focusSidebar:
		return []key.Binding{k.ListMove, k.Select, k.Back}
	}
	return []key.Binding{k.Retry, k.Answer, k.Check, k.Hint, k.Next, k.Prev, k.Shell, k.Solution, k.Lessons, k.Reset}
}

// fullKeys is the ? screen: every key, whether it applies now or not.
func (m *Model) fullKeys() [][]key.Binding {
	k := m.c.keys
	groups := [][]key.Binding{
		{k.Next, k.Prev, k.Lessons, k.JumpLesson, k.Up, k.Down, k.PageUp, k.PageDown, k.MoreUp, k.MoreDown},
		{k.Hint, k.Solution, k.Answer, k.Check, k.Reset, k.Shell, k.Retry},
		{k.Help, k.Quit, k.ForceQuit},
	}
	for _, g := range groups {
		for i := range g {
			g[i].SetEnabled(true)
		}
	}
	return groups
}

// overlayView is the dialog or screen drawn over the body, if any.
func (m *Model) overlayView() string {
	st := m.c.styles
	w := min(m.lay.width-4, 64)
	box := st.Dialog.Width(w)
	inner := w - st.Dialog.GetHorizontalFrameSize()
	switch m.overlay {
	case overlayHelp:
		h := m.help
		h.ShowAll = true
		h.FullSeparator = "   "
		return st.Dialog.Render(st.DialogTitle.Render("Keys") + "\n\n" + h.FullHelpView(m.fullKeys()) + "\n\n" + st.Dim.Render("Any key closes this. The mouse wheel scrolls the pane under it."))
	case overlayConfirm:
		var title, body string
		switch m.confirm {
		case confirmSolution:
			title, body = "Show the solution?", "You learn more by trying: a hint (h) may be all you need."
		case confirmReset:
			title = "Reset this step?"
			if m.opts.ResetStep != nil && m.sb.sb != nil && len(m.step().Reset) > 0 {
				body = "This deletes what the step made in the sandbox (" + strings.Join(m.step().Reset, ", ") + ") and forgets its progress, answer and hints."
			} else {
				body = "This forgets the step's progress, answer and hints."
			}
		}
		return box.Render(st.DialogTitle.Render(title) + "\n\n" + wrap(body, inner) + "\n\n" + m.button("y  yes", true) + "  " + m.button("n  no", false))
	case overlayQuit:
		if m.removing {
			return box.Render(st.DialogTitle.Render("Removing the sandbox…") + "\n\n" + st.Checking.Render(m.spinner.View()) + " " + st.Dim.Render("this can take a little while"))
		}
		where := ""
		if sb := m.sb.sb; sb != nil {
			where = fmt.Sprintf(" (%s, namespace %s)", sb.Provider, sb.Namespace)
		}
		body := "Your progress is saved. Keep the sandbox" + where + " for next time, or remove it now?"
		return box.Render(st.DialogTitle.Render("Leave imagelab?") + "\n\n" + wrap(body, inner) + "\n\n" +
			m.button("k  keep it", m.quitSel == 0) + "  " + m.button("r  remove it", m.quitSel == 1) + "\n\n" + st.Dim.Render("enter chooses · esc stays"))
	case overlayFinish:
		body := fmt.Sprintf("All %d steps of %d lessons passed: image names, a private registry, pull secrets, service accounts and what the CKS asks around them.\n\nGo back to any step with l, try one again after r, or quit with q.", len(m.steps), len(m.opts.Curriculum.Lessons))
		return box.Render(st.Passed.Render("★ You finished imagelab!") + "\n\n" + wrap(body, inner) + "\n\n" + st.Dim.Render("any key closes this"))
	}
	return ""
}

// button draws a dialog button; the chosen one carries a marker too, so it
// stands out without colour.
func (m *Model) button(label string, chosen bool) string {
	if chosen {
		return m.c.styles.ButtonActive.Render("▸ " + label)
	}
	return m.c.styles.Button.Render("  " + label)
}

// placeOver draws box centred over base (w×h).
func placeOver(base, box string, w, h int) string {
	x := max(0, (w-lipgloss.Width(box))/2)
	y := max(0, (h-lipgloss.Height(box))/2)
	c := lipgloss.NewCanvas(w, h)
	c.Compose(lipgloss.NewCompositor(lipgloss.NewLayer(base), lipgloss.NewLayer(box).X(x).Y(y).Z(1)))
	return c.Render()
}

// wrap wraps text to w columns.
func wrap(s string, w int) string {
	if w <= 0 {
		return s
	}
	return lipgloss.NewStyle().Width(w).Render(s)
}

// hang wraps plain text s to w columns and indents its continuation lines
// by pad.
func hang(s string, w, pad int) string {
	return strings.ReplaceAll(wordWrap(s, max(10, w)), "\n", "\n"+strings.Repeat(" ", pad))
}

// wordWrap wraps plain text at spaces only: commands in findings keep
// their flags whole (--docker-server=…), unlike a wrap at hyphens.
func wordWrap(s string, w int) string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case lipgloss.Width(line)+1+lipgloss.Width(word) <= w:
				line += " " + word
			default:
				out = append(out, line)
				line = word
			}
			for lipgloss.Width(line) > w { // a word longer than the line
				out = append(out, ansi.Truncate(line, w, ""))
				line = ansi.TruncateLeft(line, w, "")
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}
