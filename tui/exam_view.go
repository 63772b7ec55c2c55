package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/imagelab/imagelab/exam"
)

// examLayout is where everything goes, worked out after every message.
type examLayout struct {
	width, height int
	bodyH         int
	listW         int // 0: the tasks are a strip above the text
	mainW         int
	meta          string // the lines above the text: the task, its namespace, notes
	textH         int
}

// layout works out the layout and gives each part its size.
func (m *examModel) layout() {
	w, h := m.c.width, m.c.height
	l := examLayout{width: w, height: h, bodyH: max(3, h-2)}
	m.dialog.SetSize(w, l.bodyH)
	m.score.SetWidth(w)
	m.score.SetHeight(l.bodyH)
	if w >= wideWidth {
		l.listW = sidebarWidth // as the lessons' list; narrower, the tasks are one line
	}
	l.mainW = w - l.listW
	m.setScore()
	if m.phase == examRunning || m.phase == examUnscored {
		l.meta = m.metaView(l.mainW)
		strip := 0
		if l.listW == 0 {
			strip = 1
		}
		l.textH = max(1, l.bodyH-strip-lipgloss.Height(l.meta)-1)
		m.text.SetSize(l.mainW, l.textH)
	}
	m.lay = l
}

// View composes the screen: header, body (with a dialog over it), help bar.
func (m *examModel) View() tea.View {
	v := tea.NewView("")
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "imagelab exam"
	l := m.lay
	if l.width <= 0 || l.height <= 0 {
		return v
	}
	var body string
	switch m.phase {
	case examRunning:
		body = m.runningView()
	case examScored:
		body = m.score.View()
	default:
		body = m.messageView()
	}
	body = lipgloss.NewStyle().Width(l.width).Height(l.bodyH).MaxHeight(l.bodyH).Render(body)
	if box := m.dialog.View(); box != "" {
		body = placeOver(body, box, l.width, l.bodyH)
	}
	v.SetContent(strings.Join([]string{m.headerView(), body, m.footerView()}, "\n"))
	return v
}

// headerView: the exam and the task on the left, the clock (or the
// score) on the right.
func (m *examModel) headerView() string {
	st := m.c.styles
	w := m.lay.width
	logo := st.Logo.Render("imagelab exam")
	var left, right string
	switch {
	case m.phase == examScored && m.x.Report != nil:
		r := m.x.Report
		right = st.Failed.Render(m.c.p.T("✗ %.1f%% not passed ", r.Percent))
		if r.Passed {
			right = st.Ready.Render(m.c.p.T("✓ %.1f%% passed ", r.Percent))
		}
		left = m.c.p.T(" Score")
		if !m.score.AtBottom() {
			left += m.c.p.T(" · %d%% ↓ (space: more)", int(m.score.ScrollPercent()*100))
		}
	case m.x != nil:
		t := m.task()
		left = m.c.p.T(" Task %d of %d · %s", t.Number, len(m.x.Tasks), t.StepOf().Title)
		right = m.clockView()
	default:
		right = st.Busy.Render(m.c.p.T("%s preparing %.0fs ", m.c.frame, m.c.now().Sub(m.opening).Seconds()))
	}
	room := w - lipgloss.Width(logo) - lipgloss.Width(right) - 1
	left = st.HeaderStep.Render(ansi.Truncate(left, max(0, room), "…"))
	gap := max(0, w-lipgloss.Width(logo)-lipgloss.Width(left)-lipgloss.Width(right))
	return logo + left + st.Header.Render(strings.Repeat(" ", gap)) + right
}

// clockView is the countdown: calm, then amber under five minutes, red
// under one.
func (m *examModel) clockView() string {
	st := m.c.styles
	left := m.x.Remaining(m.c.now())
	text := m.c.p.T("%s left ", formatClock(left))
	switch {
	case m.phase == examScoring:
		return st.Busy.Render(m.c.frame + m.c.p.T(" checking every task "))
	case left <= 0:
		return st.Failed.Render(m.c.p.T("time is up "))
	case left < 60e9:
		return st.Failed.Render(text)
	case left < 300e9:
		return st.Busy.Render(text)
	}
	return st.HeaderStep.Render(text)
}

// runningView: the task list (or strip), the task's meta lines, its text
// and the rule under it.
func (m *examModel) runningView() string {
	l := m.lay
	parts := []string{}
	if l.listW == 0 {
		parts = append(parts, m.stripView(l.mainW))
	}
	parts = append(parts, l.meta, m.text.View(), m.ruleView(l.mainW))
	main := lipgloss.JoinVertical(lipgloss.Left, parts...)
	if l.listW == 0 {
		return main
	}
	side := m.c.styles.Sidebar.Height(l.bodyH).Width(l.listW).PaddingLeft(1).Render(m.listView(l.listW - 3))
	return lipgloss.JoinHorizontal(lipgloss.Top, side, main)
}

// listView is the task list: number, points, title, and the flag.
func (m *examModel) listView(w int) string {
	st := m.c.styles
	lines := []string{st.Lesson.Render(m.c.p.T("Tasks · %d points", m.x.MaxPoints())), ""}
	for i, t := range m.x.Tasks {
		mark, style := "  ", st.Step
		if i == m.idx {
			mark, style = st.MarkCurrent.Render("▸ "), st.StepCurrent
		}
		flag := "  "
		if t.Flagged {
			flag = st.Advice.Render(" ⚑")
		}
		head := m.c.p.T("%d  %d pt  ", t.Number, t.Weight)
		title := ansi.Truncate(t.StepOf().Title, max(4, w-2-lipgloss.Width(head)-2), "…")
		lines = append(lines, mark+style.Render(head+title)+flag)
	}
	lines = append(lines, "", st.Dim.Render(wordWrap(m.c.p.T("No hints, no checks until you submit (S). ⚑ marks a task to review."), w)))
	return strings.Join(lines, "\n")
}

// stripView is the task list in one line, for narrow terminals.
func (m *examModel) stripView(w int) string {
	st := m.c.styles
	items := []string{}
	for i, t := range m.x.Tasks {
		item := m.c.p.T("%d·%dpt", t.Number, t.Weight)
		if t.Flagged {
			item += "⚑"
		}
		if i == m.idx {
			item = st.StepCurrent.Render("▸" + item)
		} else {
			item = st.Step.Render(" " + item)
		}
		items = append(items, item)
	}
	return ansi.Truncate(" "+strings.Join(items, " "), w, "…")
}

// metaView is what stands above the task's text: its weight, its
// namespace and how to work there, a flag, a passing note, and an exam
// that could not be scored.
func (m *examModel) metaView(w int) string {
	st := m.c.styles
	t := m.task()
	head := st.StepCurrent.Render(m.c.p.T("Task %d", t.Number)) + st.Dim.Render(m.c.p.T(" · %d points · namespace ", t.Weight)) + st.Code.Render(t.Namespace)
	if t.Flagged {
		head += st.Advice.Render(m.c.p.T("  ⚑ flagged"))
	}
	lines := []string{" " + head}
	where := m.c.p.T("t opens a shell there; elsewhere: kubectl -n %s", t.Namespace)
	if m.hasNode {
		where += m.c.p.T(" · T: node")
	}
	lines = append(lines, " "+st.Dim.Render(ansi.Truncate(where, max(10, w-2), "…")))
	for _, note := range append(m.x.NotesOf(0), m.x.NotesOf(t.Number)...) {
		lines = append(lines, " "+st.Advice.Render("! ")+hang(NoteText(m.c.p, note), w-3, 3))
	}
	if m.err != nil {
		label := m.c.p.T("✗ Not scored: ")
		lw := lipgloss.Width(label)
		lines = append(lines, " "+st.NotYet.Render(label)+hang(m.c.p.T("%v — S tries again.", m.err), w-lw-1, lw+1))
	}
	if m.saveErr != nil {
		label := m.c.p.T("! Not saved: ")
		lw := lipgloss.Width(label)
		lines = append(lines, " "+st.Advice.Render(label)+hang(m.saveErr.Error(), w-lw-1, lw+1))
	}
	if m.flash != "" {
		lines = append(lines, " "+st.Flash.Render("» "+m.flash))
	}
	return strings.Join(lines, "\n")
}

// ruleView separates the text from the help bar and says how far it is scrolled.
func (m *examModel) ruleView(w int) string {
	st := m.c.styles
	label := m.text.scrollLabel()
	n := max(0, w-lipgloss.Width(label)-2)
	return st.Rule.Render(strings.Repeat("─", n)) + st.RuleLabel.Render(label) + st.Rule.Render("──")
}

// messageView is the body while there is no task to show: the exam being
// prepared or checked, or why it could not be.
func (m *examModel) messageView() string {
	st := m.c.styles
	w := min(m.lay.width-4, 76)
	var title, body string
	switch m.phase {
	case examOpening:
		title = st.Checking.Render(m.c.frame + m.c.p.T(" Preparing your exam"))
		body = progressText(m.c.p, m.progress) + "\n\n" + m.c.p.T("The clock starts once every task is ready. The rules: no hints, no solutions, nothing checked until the end. Each task has a weight, and its check's criteria give partial credit; %d%% of the points pass. Leave with q: the clock keeps running.", exam.PassMark)
	case examScoring:
		title = st.Checking.Render(m.c.frame + m.c.p.T(" Checking every task once"))
		body = m.c.p.T("Then the exam's namespaces are deleted, and what its tasks made outside them is reset.")
	case examUnscored:
		title = st.NotYet.Render(m.c.p.T("✗ The time is up, but the exam could not be scored"))
		body = m.c.p.T("%v\n\nS tries again once the sandbox answers (imagelab status tells); q leaves, and imagelab exam scores it next time.", m.err)
	case examFailed:
		title = st.NotYet.Render(m.c.p.T("✗ The exam could not start"))
		body = m.c.p.T("%v\n\nq leaves. imagelab status shows the sandbox; imagelab up starts it.", m.err)
	}
	return lipgloss.NewStyle().Padding(1, 2).Render(title + "\n\n" + wordWrap(body, w))
}

// footerView is the help bar: the phase's keys on the left, help and
// leaving on the right.
func (m *examModel) footerView() string {
	k := m.keys
	tail := helpLine(m.c.styles.Help, []key.Binding{k.Help, k.Quit}, m.lay.width)
	left := helpLine(m.c.styles.Help, m.shortHelp(), m.lay.width-lipgloss.Width(tail)-3)
	gap := max(1, m.lay.width-lipgloss.Width(left)-lipgloss.Width(tail)-1)
	return " " + left + strings.Repeat(" ", gap) + tail
}

// setScore lays the scored report out for the score screen, again when
// the width or the colours change.
func (m *examModel) setScore() {
	if m.x == nil || m.x.Report == nil {
		return
	}
	k := scoreKey{m.c.width, m.c.dark}
	if k == m.scored {
		return
	}
	m.scored = k
	m.score.SetContent(scoreView(m.c.styles, m.c.p, m.x, max(20, m.c.width-2)))
}

// scoreKey is what the score screen's text was laid out for.
type scoreKey struct {
	width int
	dark  bool
}
