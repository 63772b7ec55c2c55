package app

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"charm.land/lipgloss/v2/table"
	"github.com/charmbracelet/x/ansi"
	"golang.org/x/term"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/workshop"
)

// boardStyle is how the board draws, as data.
type boardStyle struct {
	Title, Dim, Header, Border  lipgloss.Style
	Done, Working, Stuck, New   lipgloss.Style
	Code, FindingCount, Warning lipgloss.Style
}

// boardStyles are the board's styles; plain ones carry no colour (a
// file, a pipe, NO_COLOR).
func boardStyles(color bool) boardStyle {
	if !color {
		p := lipgloss.NewStyle()
		return boardStyle{Title: p, Dim: p, Header: p, Border: p, Done: p, Working: p, Stuck: p, New: p, Code: p, FindingCount: p, Warning: p}
	}
	return boardStyle{
		Title:        lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		Dim:          lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		Header:       lipgloss.NewStyle().Bold(true),
		Border:       lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		Done:         lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		Working:      lipgloss.NewStyle(),
		Stuck:        lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("1")),
		New:          lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		Code:         lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		FindingCount: lipgloss.NewStyle().Bold(true),
		Warning:      lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
	}
}

// boardOrder puts who needs the instructor first: the stuck (longest
// first), then those working and new (least done first), then those done
// with their step.
func boardOrder(list []workshop.AttendeeStatus) []workshop.AttendeeStatus {
	rank := map[string]int{workshop.StateStuck: 0, workshop.StateWorking: 1, workshop.StateNew: 2, workshop.StateDone: 3}
	out := append([]workshop.AttendeeStatus(nil), list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank[a.State] != rank[b.State] {
			return rank[a.State] < rank[b.State]
		}
		if a.State == workshop.StateStuck && a.StuckFor != b.StuckFor {
			return a.StuckFor > b.StuckFor
		}
		if a.Done != b.Done {
			return a.Done < b.Done
		}
		return a.Name < b.Name
	})
	return out
}

// renderBoard lays the board out for a width × height terminal: a title,
// a table of attendees (as many as fit, who needs help first), and the
// room's most frequent findings. At 80 columns a row names the step by
// place and id and the first finding by code; from 110 it adds the step's
// title and the finding's text.
func renderBoard(p *i18n.Printer, st workshop.Status, width, height int, s boardStyle) string {
	width, height = max(width, 60), max(height, 16)
	wide := width >= 110
	counts := map[string]int{}
	for _, a := range st.Attendees {
		counts[a.State]++
	}
	var b strings.Builder
	title := p.T("imagelab workshop %s · %d attendees · %d steps", st.Workshop, len(st.Attendees), st.Steps)
	clock := st.At.Local().Format("15:04:05")
	b.WriteString(s.Title.Render(title) + strings.Repeat(" ", max(1, width-ansi.StringWidth(title)-len(clock))) + s.Dim.Render(clock) + "\n")
	summary := fmt.Sprintf("%s · %s · %s · %s", s.Stuck.Render(p.T("stuck %d", counts[workshop.StateStuck])),
		p.T("working %d", counts[workshop.StateWorking]), s.Done.Render(p.T("current step done %d", counts[workshop.StateDone])),
		s.New.Render(p.T("not started %d", counts[workshop.StateNew])))
	if st.Refresh.Count > 0 {
		summary += s.Dim.Render(p.T(" · refresh p95 %s", st.Refresh.P95.Round(10*time.Millisecond)))
	}
	b.WriteString(ansi.Truncate(summary, width, "…") + "\n")

	// Findings: at most 3 lines at 24 rows, 5 from 36.
	nFind := 3
	if height >= 36 {
		nFind = 5
	}
	nFind = min(nFind, len(st.Findings))
	findLines := 1 + max(nFind, 1)
	// Table: borders top, header, separator, bottom = 4 lines.
	rowsFit := height - 2 - 1 - 4 - 1 - findLines
	list := boardOrder(st.Attendees)
	more := 0
	if len(list) > rowsFit {
		more = len(list) - (rowsFit - 1)
		list = list[:rowsFit-1]
	}

	var headers []string
	if wide {
		headers = []string{p.T("attendee"), p.T("step"), p.T("done"), p.T("state"), p.T("finding now")}
	} else {
		headers = []string{p.T("attendee"), p.T("step"), p.T("done"), p.T("state"), p.T("finding")}
	}
	nameW, stepW, doneW, stateW := 8, 21, 5, 9
	if wide {
		nameW, stepW, stateW = 14, 34, 12
	}
	// Six borders and a space either side of each of five columns.
	findW := width - nameW - stepW - doneW - stateW - 6 - 10
	widths := []int{nameW, stepW, doneW, stateW, findW}
	cell := func(col int, s string) string {
		s = ansi.Truncate(s, widths[col], "…")
		return s + strings.Repeat(" ", widths[col]-ansi.StringWidth(s))
	}
	for i := range headers {
		headers[i] = cell(i, headers[i])
	}
	rows := make([][]string, 0, len(list)+1)
	for _, a := range list {
		name := a.Name
		if a.Display != "" && wide {
			name = a.Display
		}
		_, id, _ := strings.Cut(a.Current, "/")
		step := a.CurrentPosition + " " + id
		if wide {
			step = a.CurrentPosition + " " + a.CurrentTitle
		}
		state := a.State
		switch a.State {
		case workshop.StateStuck:
			state = p.T("stuck %s", shortDuration(a.StuckFor))
		case workshop.StateWorking:
			state = p.T("working")
			if !a.Since.IsZero() && wide {
				state = p.T("working %s", shortDuration(st.At.Sub(a.Since)))
			}
		case workshop.StateDone:
			state = p.T("done")
		case workshop.StateNew:
			state = p.T("new")
			if wide {
				state = p.T("not started")
			}
		}
		finding := ""
		switch {
		case a.State == workshop.StateDone, a.State == workshop.StateNew:
		case len(a.Problems) > 0 && wide && a.Problem != "":
			finding = a.Problems[0] + ": " + a.Problem
		case len(a.Problems) > 0:
			finding = a.Problems[0]
			if len(a.Problems) > 1 {
				finding += fmt.Sprintf(" +%d", len(a.Problems)-1)
			}
		case a.Verdict == workshop.StatusReported && wide:
			finding = p.T("(judged on their machine)")
		case a.Verdict == workshop.StatusReported:
			finding = p.T("(reported)")
		case a.Verdict == workshop.StatusError:
			finding = p.T("could not judge")
		}
		rows = append(rows, []string{cell(0, name), cell(1, step), cell(2, fmt.Sprintf("%d/%d", a.Done, st.Steps)), cell(3, state), cell(4, finding)})
	}
	if more > 0 {
		rows = append(rows, []string{cell(0, p.T("+%d more", more)), cell(1, p.T("(--json lists all)")), cell(2, ""), cell(3, ""), cell(4, "")})
	}
	stateOf := func(row int) string {
		if row < 0 || row >= len(list) {
			return ""
		}
		return list[row].State
	}
	t := table.New().Border(lipgloss.NormalBorder()).BorderStyle(s.Border).Headers(headers...).Rows(rows...).Wrap(false).
		StyleFunc(func(row, col int) lipgloss.Style {
			base := lipgloss.NewStyle().Padding(0, 1)
			if row == table.HeaderRow {
				return base.Inherit(s.Header)
			}
			switch {
			case col == 3 && stateOf(row) == workshop.StateStuck:
				return base.Inherit(s.Stuck)
			case col == 3 && stateOf(row) == workshop.StateDone:
				return base.Inherit(s.Done)
			case col == 3 && stateOf(row) == workshop.StateNew:
				return base.Inherit(s.New)
			case col == 4:
				return base.Inherit(s.Code)
			}
			return base
		})
	b.WriteString("\n" + t.Render() + "\n\n")

	b.WriteString(s.Header.Render(p.T("Most frequent findings now")) + "\n")
	if nFind == 0 {
		b.WriteString(s.Dim.Render(p.T("  none: every current step the board judges passes, or is on the attendees' machines")) + "\n")
	}
	for _, f := range st.Findings[:nFind] {
		line := fmt.Sprintf("  %s %s %s", s.FindingCount.Render(fmt.Sprintf("%2d×", f.Count)), s.Code.Render(f.Code), s.Dim.Render("("+f.Step+")"))
		if wide {
			line += " " + f.Example
		} else {
			line += " " + strings.Join(f.Attendees, " ")
		}
		b.WriteString(ansi.Truncate(line, width, "…") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// shortDuration is 45s, 14m, 1h05.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02d", int(d.Hours()), int(d.Minutes())%60)
}

// terminalSize is the terminal's size.
func terminalSize(f *os.File) (int, int, error) { return term.GetSize(int(f.Fd())) }

// boardModel is the --watch screen: the board, redrawn on each change
// and every second (for the times).
type boardModel struct {
	p             *i18n.Printer
	board         *workshop.Board
	status        workshop.Status
	width, height int
	styles        boardStyle
}

type boardTickMsg struct{}
type boardChangedMsg struct{}

func (m boardModel) Init() tea.Cmd { return tea.Batch(m.tick(), m.wait()) }

func (m boardModel) tick() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return boardTickMsg{} })
}

// wait turns the board's next change into a message.
func (m boardModel) wait() tea.Cmd {
	updates := m.board.Updates()
	return func() tea.Msg {
		<-updates
		return boardChangedMsg{}
	}
}

func (m boardModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyPressMsg:
		switch msg.String() {
		case "q", "ctrl+c", "esc":
			return m, tea.Quit
		}
	case boardTickMsg:
		m.status = m.board.Status()
		return m, m.tick()
	case boardChangedMsg:
		m.status = m.board.Status()
		return m, m.wait()
	}
	return m, nil
}

func (m boardModel) View() tea.View {
	keys := ansi.Truncate(m.p.T("q quits · the board judges cluster steps itself; quizzes and docker login are as each machine reports them"), max(m.width, 1), "…")
	v := tea.NewView(renderBoard(m.p, m.status, m.width, m.height-1, m.styles) + "\n" + m.styles.Dim.Render(keys))
	v.AltScreen = true
	return v
}

// watchBoard shows the board until q.
func watchBoard(ctx context.Context, p *i18n.Printer, b *workshop.Board, streams Streams) error {
	m := boardModel{p: p, board: b, status: b.Status(), width: 80, height: 24, styles: boardStyles(os.Getenv("NO_COLOR") == "")}
	_, err := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(streams.In), tea.WithOutput(streams.Out)).Run()
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}
