package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/i18n"
)

// scoreView is the score screen's text at width w: the total against the
// pass mark, then per task its points and criteria, and for each criterion
// missed the finding that explains it (its problem and what to try).
// Marks carry the meaning, so it reads the same without colour.
func scoreView(st Styles, p *i18n.Printer, x *exam.Exam, w int) string {
	r := x.Report
	var b []string
	verdict := st.NotYet.Render(p.T("✗ Not passed"))
	if r.Passed {
		verdict = st.Passed.Render(p.T("✓ Passed"))
	}
	b = append(b, verdict+p.T("  %s of %d points · %.1f%% · pass mark %d%%", points(r.Points), r.MaxPoints, r.Percent, r.PassMark))
	b = append(b, st.Dim.Render(wordWrap(p.T("Exam %s, seed %d (imagelab exam --seed %d draws it again) · %s", r.ID, r.Seed, r.Seed, ending(p, r)), w)))
	for _, t := range r.Tasks {
		b = append(b, "", taskScoreLine(st, p, t, w))
		if t.Error != "" {
			label := p.T("! could not check: ")
			lw := lipgloss.Width(label)
			b = append(b, "  "+st.NotYet.Render(label)+hang(t.Error, w-lw-2, lw+2))
		}
		b = append(b, chips(st, t.Criteria, w))
		for _, c := range t.Criteria {
			for _, f := range c.Findings {
				b = append(b, "  "+st.Problem.Render("✗ "+c.Name+": ")+hang(f.Problem, w-6-lipgloss.Width(c.Name), 4))
				if f.Try != "" {
					label := p.T("try") + "  "
					lw := lipgloss.Width(label)
					b = append(b, "    "+st.Label.Render(label)+hang(f.Try, w-lw-4, lw+4))
				}
			}
			if !c.Met && c.Judged && len(c.Findings) == 0 {
				b = append(b, "  "+st.Problem.Render("✗ "+c.Name+": ")+hang(c.Doc, w-6-lipgloss.Width(c.Name), 4))
			}
		}
	}
	b = append(b, "", st.Dim.Render(wordWrap(p.T("✓ met · ✗ missed · – not judged: a criterion before it was missed · ○ met before the clock started (counts neither way). Points: weight × criteria met / criteria."), w)))
	for _, n := range x.Notes {
		text := NoteText(p, n.Text)
		if n.Task > 0 {
			text = p.T("Task %d: %s", n.Task, text)
		}
		b = append(b, st.Advice.Render("! ")+hang(text, w-2, 2))
	}
	return indent(strings.Join(b, "\n"), " ")
}

// taskScoreLine: the task and its title on the left; its points, time
// and flag on the right.
func taskScoreLine(st Styles, p *i18n.Printer, t exam.TaskReport, w int) string {
	right := fmt.Sprintf("%s / %d", points(t.Points), t.Weight)
	if t.Spent > 0 {
		right += " · " + t.Spent.D().Round(time.Second).String()
	}
	if t.Flagged {
		right += " ⚑"
	}
	head := p.T("Task %d", t.Number) + "  "
	title := ansi.Truncate(t.Title, max(4, w-lipgloss.Width(head)-lipgloss.Width(right)-2), "…")
	gap := max(1, w-lipgloss.Width(head)-lipgloss.Width(title)-lipgloss.Width(right))
	style := st.Passed
	switch {
	case t.Points == 0:
		style = st.NotYet
	case t.Points < float64(t.Weight):
		style = st.Advice
	}
	return st.StepCurrent.Render(head+title) + strings.Repeat(" ", gap) + style.Render(right)
}

// chips are a task's criteria, each with its mark, wrapped at w; a chip
// is never split.
func chips(st Styles, cs []exam.CriterionReport, w int) string {
	var lines []string
	line, width := "  ", 2
	for _, c := range cs {
		var chip string
		switch {
		case c.Given && c.Met:
			chip = st.Dim.Render("○ " + c.Name)
		case c.Met:
			chip = st.Passed.Render("✓") + " " + c.Name
		case !c.Judged:
			chip = st.Dim.Render("– " + c.Name)
		default:
			chip = st.Problem.Render("✗") + " " + c.Name
		}
		cw := lipgloss.Width(chip)
		if width > 2 && width+3+cw > w {
			lines = append(lines, line)
			line, width = "  ", 2
		}
		if width > 2 {
			line += "   "
			width += 3
		}
		line += chip
		width += cw
	}
	return strings.Join(append(lines, line), "\n")
}

// points reads as few digits as it needs: 4, 2.67, 0.
func points(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

// ending says how the exam ended and how long it took.
func ending(p *i18n.Printer, r *exam.Report) string {
	switch r.Ending {
	case exam.Expired:
		return p.T("the time ran out at %s while imagelab was not running, so it was checked at %s", r.Deadline.Local().Format("15:04"), r.Submitted.Local().Format("Jan 2 15:04"))
	case exam.TimeUp:
		return p.T("the time ran out; every task was checked then")
	}
	return p.T("submitted after %s of %s", r.Submitted.Sub(r.Started).Round(time.Second), r.Deadline.Sub(r.Started))
}
