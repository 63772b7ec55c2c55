package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
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
	contentH      int
	panelY        int
	panelH        int
	envInRule     bool
}

// layout works out the layout and gives each component its size.
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
	l.envInRule = m.envFits(l.mainW)

	m.answer.SetSize(l.mainW, 1)
	need := m.panel.setContent(m.panelState(l.envInRule), l.mainW)
	l.panelH = min(need, max(3, l.bodyH*2/5))
	l.contentH = max(1, l.bodyH-l.panelH-1)
	l.panelY = l.bodyY + l.contentH + 1
	m.lay = l

	m.text.SetSize(l.mainW, l.contentH)
	m.panel.SetSize(l.mainW, l.panelH)
	m.dialog.SetSize(w, l.bodyH)
	if l.sidebarW > 0 {
		m.sidebar.SetSize(l.sidebarW-m.c.styles.Sidebar.GetHorizontalFrameSize()-1, l.bodyH)
	} else {
		m.sidebar.SetSize(l.mainW-2, l.bodyH) // folded: it opens in the main column
	}
}

// envFits says the split-screen line (eval "$(imagelab env)") goes in the
// rule above the result panel: for steps done in the sandbox, when it
// fits whole (a command to paste must never be cut).
func (m *Model) envFits(mainW int) bool {
	if m.course.step().IsQuiz() || !m.sandbox.ready() {
		return false
	}
	return 3+lipgloss.Width(m.c.p.T("your own terminal: "))+lipgloss.Width(m.envCmd)+1+12 <= mainW
}

// panelState gathers what the result panel shows.
func (m *Model) panelState(envInRule bool) panelState {
	t := m.target()
	ref := t.step.Ref()
	out, have := m.checks.result(ref)
	ps := panelState{
		quiz: t.step.IsQuiz(), answer: m.answer.View(), answered: m.course.answer() != "", retry: m.answer.countdown(),
		sandbox: m.sandbox.state, outcome: out, have: have, running: m.checks.running[ref],
		last: m.course.last(), status: m.checks.status(t),
	}
	if !envInRule {
		ps.envCommand = m.envCmd
	}
	return ps
}

// View composes the app: header, banner, body (with a dialog over it) and
// the help bar.
func (m *Model) View() tea.View {
	v := tea.NewView("")
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "imagelab — " + m.course.step().Title
	if m.lay.width <= 0 || m.lay.height <= 0 {
		return v
	}
	middle := m.bodyView()
	if m.lay.banner != "" {
		middle = m.lay.banner + "\n" + middle
	}
	// A dialog goes over the banner too: the help screen is taller than
	// the body under a long banner at 24 rows.
	if box := m.dialog.View(); box != "" {
		middle = placeOver(middle, box, m.lay.width, lipgloss.Height(middle))
	}
	parts := []string{m.headerView(), middle, m.footerView()}
	v.SetContent(strings.Join(parts, "\n"))
	return v
}

// headerView: the step on the left, the sandbox and progress on the right.
func (m *Model) headerView() string {
	st := m.c.styles
	w := m.lay.width
	s := m.course.step()
	right := m.sandbox.View() + st.HeaderDim.Render(fmt.Sprintf("  %d/%d ✓ ", m.course.passedCount(), len(m.course.steps)))
	logo := st.Logo.Render("imagelab")
	room := w - lipgloss.Width(logo) - lipgloss.Width(right) - 3 // keep a space before the badge
	stepText := ansi.Truncate(fmt.Sprintf("%s %s", s.Position(), s.Title), max(0, room), "…")
	left := logo + st.HeaderStep.Render(" "+stepText)
	if rest := room - lipgloss.Width(stepText) - 3; rest > 8 {
		left += st.HeaderDim.Render(" · " + ansi.Truncate(s.Lesson.Title, rest, "…"))
	}
	gap := max(0, w-lipgloss.Width(left)-lipgloss.Width(right))
	return left + st.Header.Render(strings.Repeat(" ", gap)) + right
}

// bannerView shows what needs the learner's attention across the top: a
// sandbox that could not start, a progress file that was damaged or
// cannot be saved.
func (m *Model) bannerView(w int) string {
	st := m.c.styles
	var out []string
	if title, body, ok := m.sandbox.problem(); ok {
		out = append(out, st.Banner.Width(w).Render(st.BannerTitle.Render(title)+" "+body))
	}
	if m.warning != "" {
		out = append(out, st.BannerWarn.Width(w).Render(st.BannerTitle.Render(m.c.p.T("Progress was reset."))+" "+m.warning))
	}
	if err := m.course.saveErr; err != nil {
		out = append(out, st.BannerWarn.Width(w).Render(st.BannerTitle.Render(m.c.p.T("Progress not saved:"))+" "+err.Error()))
	}
	return strings.Join(out, "\n")
}

// bodyView: the sidebar and the main column (step text, rule, result panel).
func (m *Model) bodyView() string {
	l := m.lay
	var main string
	if m.sidebar.focused && l.sidebarW == 0 {
		// Folded sidebar: the lesson list takes the main column.
		main = lipgloss.NewStyle().Width(l.mainW).Height(l.bodyH).Padding(0, 1).Render(m.sidebar.View())
	} else {
		main = lipgloss.JoinVertical(lipgloss.Left, m.text.View(), m.ruleView(l.mainW), m.panel.View())
	}
	if l.sidebarW == 0 {
		return main
	}
	sideStyle := m.c.styles.Sidebar
	if m.sidebar.focused {
		sideStyle = m.c.styles.SidebarFocused
	}
	side := sideStyle.Height(l.bodyH).Width(l.sidebarW).PaddingLeft(1).Render(m.sidebar.View())
	return lipgloss.JoinHorizontal(lipgloss.Top, side, main)
}

// ruleView separates the text from the result panel and says how far the
// text is scrolled.
func (m *Model) ruleView(w int) string {
	st := m.c.styles
	label := m.text.scrollLabel()
	left := ""
	if m.lay.envInRule {
		left = st.Rule.Render("── ") + st.RuleLabel.Render(m.c.p.T("your own terminal: ")) + st.Code.Render(m.envCmd) + " "
	}
	n := max(0, w-lipgloss.Width(left)-lipgloss.Width(label)-2)
	return left + st.Rule.Render(strings.Repeat("─", n)) + st.RuleLabel.Render(label) + st.Rule.Render("──")
}

// footerView is the help bar: the focused component's keys on the left,
// help and quit always on the right.
func (m *Model) footerView() string {
	k := m.c.keys
	tail := m.shortHelp([]key.Binding{k.Help, k.Quit}, m.lay.width)
	left := m.shortHelp(m.ShortHelp(), m.lay.width-lipgloss.Width(tail)-3)
	gap := max(1, m.lay.width-lipgloss.Width(left)-lipgloss.Width(tail)-1)
	return " " + left + strings.Repeat(" ", gap) + tail
}

// shortHelp is one line of enabled bindings that fits in w.
func (m *Model) shortHelp(bs []key.Binding, w int) string { return helpLine(m.c.styles.Help, bs, w) }

// helpLine is one line of enabled bindings that fits in w; bubbles' own
// ShortHelpView can overflow by an item when the ellipsis does not fit.
func helpLine(st help.Styles, bs []key.Binding, w int) string {
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
