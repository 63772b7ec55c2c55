package app

import (
	"fmt"

	"github.com/charmbracelet/x/ansi"
	"io"
	"strings"
	"time"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/tui"
)

// printExamReport prints a scored exam: the total against the pass mark,
// then per task its points, each criterion, and what explains a miss.
func printExamReport(w io.Writer, p *i18n.Printer, x *exam.Exam) {
	r := x.Report
	verdict := p.T("NOT PASSED")
	if r.Passed {
		verdict = p.T("PASSED")
	}
	p.Fprintf(w, "%s: %.2f of %d points, %.1f%% (pass mark %d%%)\n", verdict, r.Points, r.MaxPoints, r.Percent, r.PassMark)
	p.Fprintf(w, "exam %s, seed %d: %s\n\n", r.ID, r.Seed, endingLine(p, r))
	for _, t := range r.Tasks {
		flag := ""
		if t.Flagged {
			flag = p.T("  (flagged)")
		}
		p.Fprintf(w, "Task %d  %s %5.2f / %d%s\n", t.Number, padRight(t.Title, 44), t.Points, t.Weight, flag)
		fmt.Fprintf(w, "        %s · %s · %s\n", t.Step, t.Namespace, spentText(p, t.Spent.D()))
		if t.Error != "" {
			p.Fprintf(w, "        ! could not check: %s\n", t.Error)
		}
		for _, c := range t.Criteria {
			fmt.Fprintf(w, "        %s %s\n", criterionMark(c), c.Name)
			for _, f := range c.Findings {
				fmt.Fprintf(w, "            %s\n", indent(f.Problem, "            "))
				if f.Try != "" {
					fmt.Fprintf(w, "            %s %s\n", p.T("try:"), indent(f.Try, hangPad(12, p.T("try:"))))
				}
				if f.Evidence != "" {
					fmt.Fprintf(w, "            %s %s\n", p.T("said:"), indent(f.Evidence, hangPad(12, p.T("said:"))))
				}
			}
		}
	}
	p.Fprintln(w, "\n✓ met · ✗ missed · – not judged: a criterion before it was missed · ○ met before the clock started (counts neither way)")
	for _, n := range x.Notes {
		if n.Task > 0 {
			p.Fprintf(w, "note on task %d: %s\n", n.Task, tui.NoteText(p, n.Text))
		} else {
			fmt.Fprintln(w, p.T("note:"), tui.NoteText(p, n.Text))
		}
	}
}

// endingLine says how the exam ended and how long it took.
func endingLine(p *i18n.Printer, r *exam.Report) string {
	took := r.Submitted.Sub(r.Started).Round(time.Second)
	switch r.Ending {
	case exam.Expired:
		return p.T("the time ran out at %s while imagelab was not running; checked at %s", r.Deadline.Local().Format("15:04:05"), r.Submitted.Local().Format("Jan 2 15:04:05"))
	case exam.TimeUp:
		return p.T("the time ran out; checked at %s", r.Submitted.Local().Format("15:04:05"))
	}
	return p.T("submitted after %s of %s", took, r.Deadline.Sub(r.Started).Round(time.Second))
}

func criterionMark(c exam.CriterionReport) string {
	switch {
	case c.Given && c.Met:
		return "○"
	case c.Met:
		return "✓"
	case !c.Judged:
		return "–"
	}
	return "✗"
}

func spentText(p *i18n.Printer, d time.Duration) string {
	if d <= 0 {
		return p.T("not opened")
	}
	return p.T("%s on it", d.Round(time.Second).String())
}

func printHistory(w io.Writer, p *i18n.Printer, hist []exam.Attempt) {
	if len(hist) == 0 {
		p.Fprintln(w, "No exams yet: imagelab exam starts one.")
		return
	}
	fmt.Fprintf(w, "%s  %s  %s  %s  %s\n", padRight(p.T("date"), 17), padRight("id", 6), padRight(p.T("seed"), 7), padLeft(p.T("tasks"), 5), p.T("score"))
	for _, a := range hist {
		date := "-"
		if !a.Created.IsZero() {
			date = a.Created.Local().Format("2006-01-02 15:04")
		}
		score, how := "", a.State
		switch a.State {
		case "scored":
			score = fmt.Sprintf("%.1f%% (%.2f/%d)", a.Percent, a.Points, a.Max)
			how = p.T("not passed")
			if a.Passed {
				how = p.T("passed")
			}
			if a.Ending != exam.Submitted {
				how += ", " + endingWord(p, a.Ending)
			}
		case "damaged":
			how = p.T("damaged: %s", a.Error)
		case "running":
			how = p.T("running")
		case "preparing":
			how = p.T("preparing")
		case "expired":
			how = p.T("expired")
		}
		fmt.Fprintf(w, "%-17s  %-6s  %-7d  %5d  %-20s  %s\n", date, a.ID, a.Seed, a.Tasks, score, strings.TrimSpace(how))
	}
}

// padLeft pads s on the left to n terminal columns.
func padLeft(s string, n int) string {
	return strings.Repeat(" ", max(0, n-ansi.StringWidth(s))) + s
}

// endingWord is how a scored exam ended, in a word or two.
func endingWord(p *i18n.Printer, e exam.Ending) string {
	switch e {
	case exam.TimeUp:
		return p.T("time-up")
	case exam.Expired:
		return p.T("expired")
	}
	return string(e)
}

// hangPad is the indent of a labelled text's next lines: under the text,
// after left columns and the label (Hangul takes two columns).
func hangPad(left int, label string) string {
	return strings.Repeat(" ", left+ansi.StringWidth(label)+1)
}
