package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/tui"
)

// Step statuses in reports.
const (
	statusPassed    = "passed"
	statusNotPassed = "not-passed"
	statusError     = "error"
	// statusUnavailable: the step cannot run on this sandbox (its
	// control-plane node is out of reach); not a failure.
	statusUnavailable = "unavailable"
)

// stepReport is one step's outcome, as printed and as JSON.
type stepReport struct {
	Step     string          `json:"step"`
	Position string          `json:"position"`
	Title    string          `json:"title"`
	Status   string          `json:"status"`
	Summary  string          `json:"summary,omitempty"`
	Findings []check.Finding `json:"findings,omitempty"`
	Error    string          `json:"error,omitempty"`
	Millis   int64           `json:"ms"`
}

type checkReport struct {
	Results []stepReport `json:"results"`
	Passed  int          `json:"passed"`
	Failed  int          `json:"notPassed"`
	Errors  int          `json:"errors"`
	// Unavailable counts steps this sandbox cannot run; they fail nothing.
	Unavailable int `json:"unavailable"`
}

type checkOptions struct {
	sandbox sandboxFlags
	json    bool
	answer  string
}

func newCheckCommand(g *globalFlags, streams Streams) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check [STEP]",
		Short: g.p.T("Check one step (lesson/step, step id or 2.3) or every step, and print what is missing"),
		Long: g.p.T(`Check runs a step's check against the sandbox and prints every finding:
what is wrong, what was expected, and what to try.

Exit status: 0 when every checked step passed, 1 when some did not,
2 when a check could not run (no sandbox, API server down).`),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			return runCheck(cmd.Context(), g, o, ref, streams.Out)
		},
	}
	o.sandbox.add(cmd.Flags(), g.p)
	cmd.Flags().BoolVar(&o.json, "json", false, g.p.T("print the results as JSON"))
	cmd.Flags().StringVar(&o.answer, "answer", "", g.p.T("your answer to a quiz step (saved as your answer)"))
	return cmd
}

func runCheck(ctx context.Context, g *globalFlags, o *checkOptions, ref string, out io.Writer) error {
	ss, err := g.session()
	if err != nil {
		return err
	}
	cur, store := ss.cur, ss.store
	steps := cur.Steps()
	if ref != "" {
		s, err := cur.Find(ref)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		steps = []*lessons.Step{s}
	}
	if o.answer != "" && (len(steps) != 1 || !steps[0].IsQuiz()) {
		return &exitError{code: 2, err: g.p.Errorf("--answer goes with one quiz step, e.g. imagelab check image-names/full-name --answer …")}
	}

	lazy := &lazyEnv{flags: &o.sandbox, stateDir: ss.stateDir, p: g.p}
	report := checkReport{}
	for _, s := range steps {
		answer := o.answer
		var r stepReport
		switch {
		case answer == "":
			answer = store.Answer(s.Ref())
			r = runStep(ctx, s, cur, lazy, answer)
		case s.Definition().Choice:
			r = pickChoice(ctx, s, cur, lazy, store, answer, time.Now())
		default:
			store.Step(s.Ref()).Answer = answer
			r = runStep(ctx, s, cur, lazy, answer)
		}
		switch r.Status {
		case statusPassed:
			report.Passed++
			store.MarkPassed(s.Ref(), time.Now())
		case statusNotPassed:
			report.Failed++
		case statusUnavailable:
			report.Unavailable++
		default:
			report.Errors++
		}
		report.Results = append(report.Results, r)
	}
	if err := store.Save(); err != nil {
		return err
	}

	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // findings quote shell commands with &&
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		printReport(out, g.p, report)
	}
	switch {
	case report.Errors > 0:
		return &exitError{code: 2, err: g.p.Errorf("%d step(s) could not be checked", report.Errors)}
	case report.Failed > 0:
		return errNotPassed
	}
	return nil
}

// pickChoice answers a choice quiz: a wrong pick is explained and starts
// a retry delay, during which another pick is not taken.
func pickChoice(ctx context.Context, s *lessons.Step, cur *lessons.Curriculum, lazy *lazyEnv, store *progress.Store, answer string, now time.Time) stepReport {
	if wait := store.RetryIn(s.Ref(), now); wait > 0 {
		return stepReport{Step: s.Ref(), Position: s.Position(), Title: s.Title, Status: statusNotPassed,
			Findings: []check.Finding{{Code: "quiz-retry-later", Severity: check.Problem, Criterion: "answer",
				Problem: lazy.p.T("Your last pick was wrong; this quiz takes a new answer in %s.", wait),
				Try:     lazy.p.T("Read why that pick was wrong (imagelab check %s shows it again), and the step's text.", s.Ref())}}}
	}
	r, res := runStepResult(ctx, s, cur, lazy, answer)
	if r.Status != statusError && check.Picked(res) {
		store.Pick(s.Ref(), answer, r.Status == statusPassed, now)
	}
	return r
}

// runStep runs one step's check with a time limit and turns its outcome into a report.
func runStep(ctx context.Context, s *lessons.Step, cur *lessons.Curriculum, lazy *lazyEnv, answer string) stepReport {
	r, _ := runStepResult(ctx, s, cur, lazy, answer)
	return r
}

// runStepResult is runStep with the check's result too.
func runStepResult(ctx context.Context, s *lessons.Step, cur *lessons.Curriculum, lazy *lazyEnv, answer string) (stepReport, check.Result) {
	r := stepReport{Step: s.Ref(), Position: s.Position(), Title: s.Title}
	start := time.Now()

	// A step without the sandbox gets an Env of its language alone.
	env := &check.Env{Printer: lazy.p}
	vals := lessons.Placeholder()
	if s.Needs().Sandbox() {
		sb, e, err := lazy.get(ctx)
		if err != nil {
			r.Status, r.Error = statusError, lazy.p.T("needs the sandbox: %v", tui.SandboxError(lazy.p, err))
			r.Millis = time.Since(start).Milliseconds()
			return r, check.Result{}
		}
		env, vals = e, values(sb)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := s.Run(ctx, env, vals, answer)
	r.Millis = time.Since(start).Milliseconds()
	switch {
	case errors.Is(err, check.ErrUnavailable):
		r.Status, r.Error = statusUnavailable, err.Error()
	case err != nil:
		r.Status, r.Error = statusError, err.Error()
	case res.Passed:
		r.Status, r.Summary, r.Findings = statusPassed, res.Summary, res.Findings
	default:
		r.Status, r.Findings = statusNotPassed, res.Findings
	}
	return r, res
}

func printReport(out io.Writer, p *i18n.Printer, rep checkReport) {
	labelW := 0
	for _, l := range []string{p.T("expected:"), p.T("try:"), p.T("said:")} {
		labelW = max(labelW, ansi.StringWidth(l))
	}
	for _, r := range rep.Results {
		mark := map[string]string{statusPassed: "✓", statusNotPassed: "✗", statusError: "!", statusUnavailable: "–"}[r.Status]
		fmt.Fprintf(out, "%s %-4s %-40s %s\n", mark, r.Position, r.Step, r.Title) // refs are ASCII; the title ends the line
		if r.Summary != "" {
			fmt.Fprintf(out, "       %s\n", r.Summary)
		}
		switch {
		case r.Status == statusUnavailable:
			p.Fprintf(out, "       not available here: %s\n", tui.UnavailableReason(p, errors.New(r.Error)))
		case r.Error != "":
			p.Fprintf(out, "       could not check: %s\n", r.Error)
		}
		for _, f := range r.Findings {
			bullet := "✗"
			if f.Severity == check.Advice {
				bullet = "·"
			}
			fmt.Fprintf(out, "       %s %s\n", bullet, f.Problem)
			// The labels line up by display width: a Korean label is
			// double-width.
			label := func(l string) string { return "         " + padRight(l, labelW) + " " }
			if f.Expected != "" {
				fmt.Fprintf(out, "%s%s\n", label(p.T("expected:")), f.Expected)
			}
			if f.Try != "" {
				fmt.Fprintf(out, "%s%s\n", label(p.T("try:")), indent(f.Try, strings.Repeat(" ", 10+labelW)))
			}
			if f.Evidence != "" {
				fmt.Fprintf(out, "%s%s\n", label(p.T("said:")), indent(f.Evidence, strings.Repeat(" ", 10+labelW)))
			}
		}
	}
	p.Fprintf(out, "\n%d passed, %d not yet", rep.Passed, rep.Failed)
	if rep.Errors > 0 {
		p.Fprintf(out, ", %d could not be checked", rep.Errors)
	}
	if rep.Unavailable > 0 {
		p.Fprintf(out, ", %d not available on this sandbox", rep.Unavailable)
	}
	fmt.Fprintln(out)
}

func indent(s, pad string) string { return strings.ReplaceAll(s, "\n", "\n"+pad) }

// padRight pads s with spaces to w terminal columns (Hangul takes two).
func padRight(s string, w int) string {
	if d := w - ansi.StringWidth(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}
