package app

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/imagelab/imagelab/exam"
)

// printExamReport prints a scored exam: the total against the pass mark,
// then per task its points, each criterion, and what explains a miss.
func printExamReport(w io.Writer, x *exam.Exam) {
	r := x.Report
	verdict := "NOT PASSED"
	if r.Passed {
		verdict = "PASSED"
	}
	fmt.Fprintf(w, "%s: %.2f of %d points, %.1f%% (pass mark %d%%)\n", verdict, r.Points, r.MaxPoints, r.Percent, r.PassMark)
	fmt.Fprintf(w, "exam %s, seed %d: %s\n\n", r.ID, r.Seed, endingLine(r))
	for _, t := range r.Tasks {
		flag := ""
		if t.Flagged {
			flag = "  (flagged)"
		}
		fmt.Fprintf(w, "Task %d  %-44s %5.2f / %d%s\n", t.Number, t.Title, t.Points, t.Weight, flag)
		fmt.Fprintf(w, "        %s · %s · %s\n", t.Step, t.Namespace, spentText(t.Spent.D()))
		if t.Error != "" {
			fmt.Fprintf(w, "        ! could not check: %s\n", t.Error)
		}
		for _, c := range t.Criteria {
			fmt.Fprintf(w, "        %s %s\n", criterionMark(c), c.Name)
			for _, f := range c.Findings {
				fmt.Fprintf(w, "            %s\n", indent(f.Problem, "            "))
				if f.Try != "" {
					fmt.Fprintf(w, "            try: %s\n", indent(f.Try, "                 "))
				}
				if f.Evidence != "" {
					fmt.Fprintf(w, "            said: %s\n", indent(f.Evidence, "                  "))
				}
			}
		}
	}
	fmt.Fprintln(w, "\n✓ met · ✗ missed · – not judged: a criterion before it was missed · ○ met before the clock started (counts neither way)")
	for _, n := range x.Notes {
		if n.Task > 0 {
			fmt.Fprintf(w, "note on task %d: %s\n", n.Task, n.Text)
		} else {
			fmt.Fprintln(w, "note:", n.Text)
		}
	}
}

// endingLine says how the exam ended and how long it took.
func endingLine(r *exam.Report) string {
	took := r.Submitted.Sub(r.Started).Round(time.Second)
	switch r.Ending {
	case exam.Expired:
		return fmt.Sprintf("the time ran out at %s while imagelab was not running; checked at %s", r.Deadline.Local().Format("15:04:05"), r.Submitted.Local().Format("Jan 2 15:04:05"))
	case exam.TimeUp:
		return fmt.Sprintf("the time ran out; checked at %s", r.Submitted.Local().Format("15:04:05"))
	}
	return fmt.Sprintf("submitted after %s of %s", took, r.Deadline.Sub(r.Started).Round(time.Second))
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

func spentText(d time.Duration) string {
	if d <= 0 {
		return "not opened"
	}
	return d.Round(time.Second).String() + " on it"
}

func printHistory(w io.Writer, hist []exam.Attempt) {
	if len(hist) == 0 {
		fmt.Fprintln(w, "No exams yet: imagelab exam starts one.")
		return
	}
	fmt.Fprintf(w, "%-17s  %-6s  %-7s  %5s  %-20s  %s\n", "date", "id", "seed", "tasks", "score", "")
	for _, a := range hist {
		date := "-"
		if !a.Created.IsZero() {
			date = a.Created.Local().Format("2006-01-02 15:04")
		}
		score, how := "", a.State
		switch a.State {
		case "scored":
			score = fmt.Sprintf("%.1f%% (%.2f/%d)", a.Percent, a.Points, a.Max)
			how = "not passed"
			if a.Passed {
				how = "passed"
			}
			if a.Ending != exam.Submitted {
				how += ", " + string(a.Ending)
			}
		case "damaged":
			how = "damaged: " + a.Error
		}
		fmt.Fprintf(w, "%-17s  %-6s  %-7d  %5d  %-20s  %s\n", date, a.ID, a.Seed, a.Tasks, score, strings.TrimSpace(how))
	}
}
