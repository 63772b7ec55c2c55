package app

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/tui"
)

type examOptions struct {
	sandbox  sandboxFlags
	duration time.Duration
	tasks    int
	seed     int64
	report   string
	json     bool
}

func newExamCommand(g *globalFlags, streams Streams) *cobra.Command {
	o := &examOptions{}
	cmd := &cobra.Command{
		Use:   "exam",
		Short: g.p.T("A timed mock exam on the sandbox: weighted tasks, no hints, scored per criterion"),
		Long: g.p.T(`exam is a timed mock exam on the sandbox, as the CKS times its tasks.

The rules:
  - The tasks are the lessons' steps (never a quiz), drawn by a seed, each
    with object names of its own and a namespace of its own: nothing can be
    typed from memory. --seed S draws the same exam again.
  - No hints, no solutions, no live green ticks: nothing is checked until
    the exam ends.
  - Each task has a weight, and partial credit: it earns its weight x the
    criteria of its check met / the criteria declared (those already met
    before the clock started, such as a troubleshooting task's pod, count
    neither way). The exam passes at %d%% of the points.
  - The clock is wall time. It starts once every task is prepared, and goes
    on when you leave the app (q) or the computer sleeps: imagelab exam
    resumes the attempt. When the time is up every task is checked once —
    at once if the app is open, else the next time you run imagelab exam
    (the attempt is then reported as expired).
  - The end (S in the app, imagelab exam submit, or the time) shows your
    score: per task its points and each criterion met or missed, and for
    each one missed the finding that explains it. Then the exam's
    namespaces are deleted and what its tasks made outside them (the
    docker login, pushed repositories, the control-plane node's files,
    cluster-wide policies) is reset — as it was reset before the clock
    started, so earlier work in the lessons earns nothing.

In the app: n/p or 1-9 move between tasks, f flags one for review, t opens
a shell in the task's namespace, T a root shell on the control-plane node
(as imagelab node-shell), S submits, q leaves (the clock keeps running).

Without a terminal, or with --json, imagelab exam prints the attempt (its
tasks, their texts with the exam's names, the deadline) as JSON instead,
starting one if none runs. Attempts are kept in the state dir, under exams/.`, exam.PassMark),
		Example: g.p.T(`  imagelab exam                          # start an exam, or resume the one running
  imagelab exam --tasks 8 --duration 45m
  imagelab exam --seed 4242              # the exam of seed 4242 again
  imagelab exam --json                   # the attempt as JSON (tasks, texts, deadline)
  imagelab exam submit --report out.json # end it now: score, report, clean up
  imagelab exam history`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExam(cmd, g, o, streams)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", exam.DefaultDuration, g.p.T("the time the exam gives"))
	f.IntVar(&o.tasks, "tasks", exam.DefaultTasks, g.p.T("how many tasks to draw (at most every step that can be one)"))
	f.Int64Var(&o.seed, "seed", 0, g.p.T("draw the exam of this seed (default: a new one)"))
	f.BoolVar(&o.json, "json", false, g.p.T("print the attempt as JSON instead of opening the app"))
	cmd.PersistentFlags().StringVar(&o.report, "report", "", g.p.T("also write the scored report to this file, as JSON"))
	o.sandbox.add(cmd.PersistentFlags(), g.p)
	cmd.AddCommand(newExamSubmitCommand(g, o, streams), newExamHistoryCommand(g, streams))
	return cmd
}

func runExam(cmd *cobra.Command, g *globalFlags, o *examOptions, streams Streams) error {
	if o.duration <= 0 || o.tasks <= 0 {
		return &exitError{code: 2, err: g.p.Errorf("--duration and --tasks must be positive")}
	}
	ctx := cmd.Context()
	s, err := openExamSession(ctx, g, &o.sandbox)
	if err != nil {
		return err
	}
	s.report = o.report
	running, err := exam.Current(s.stateDir, s.cur)
	if err != nil {
		return err
	}
	fl := cmd.Flags()
	if running != nil && (fl.Changed("seed") || fl.Changed("tasks") || fl.Changed("duration")) {
		return errExamRunning(g.p, running, s.now(), stateDirFlag(g))
	}
	if !fl.Changed("seed") {
		o.seed = rand.Int64N(1_000_000) + 1 // short enough to type again
	}
	if o.json || !isTerminal(streams.In) || !isTerminal(streams.Out) {
		return printAttempt(ctx, s, o, streams)
	}

	quietLibraries() // nothing may print while Bubble Tea owns the terminal
	out, err := tui.RunExam(ctx, tui.ExamOptions{
		Runner:  examRunner{s: s, o: o, p: g.p},
		HasNode: s.env.Node != nil,
		Lang:    g.language(),
	}, tea.WithInput(streams.In), tea.WithOutput(streams.Out))
	if err != nil {
		return err
	}
	switch x := out.Exam; {
	case x == nil:
	case x.Report != nil:
		printExamReport(streams.Out, g.p, x)
	default:
		g.p.Fprintf(streams.Out, "The exam goes on: %s left (until %s). imagelab exam%s resumes it, imagelab exam submit%s ends it.\n",
			x.Remaining(s.now()).Round(time.Second), x.Deadline().Local().Format("15:04:05"), stateDirFlag(g), stateDirFlag(g))
	}
	return nil
}

// attemptJSON is the attempt as imagelab exam --json prints it.
type attemptJSON struct {
	ID               string       `json:"id"`
	Seed             int64        `json:"seed"`
	State            string       `json:"state"`
	Started          time.Time    `json:"started"`
	Deadline         time.Time    `json:"deadline"`
	DurationSeconds  int64        `json:"durationSeconds"`
	RemainingSeconds int64        `json:"remainingSeconds"`
	MaxPoints        int          `json:"maxPoints"`
	PassMark         int          `json:"passMark"`
	Tasks            []taskJSON   `json:"tasks"`
	Notes            []exam.Note  `json:"notes,omitempty"`
	Report           *exam.Report `json:"report,omitempty"`
}

type taskJSON struct {
	Number    int    `json:"number"`
	Step      string `json:"step"`
	Title     string `json:"title"`
	Weight    int    `json:"weight"`
	Namespace string `json:"namespace"`
	Flagged   bool   `json:"flagged,omitempty"`
	// Text is the task's markdown, with the exam's names.
	Text string `json:"text"`
}

// printAttempt prints the attempt in progress as JSON, starting one if
// none runs; one whose time ran out is scored first.
func printAttempt(ctx context.Context, s *examSession, o *examOptions, streams Streams) error {
	x, err := s.open(ctx, o, func(exam.Progress) {})
	if err != nil {
		return err
	}
	if x.Expired(s.now()) {
		if _, err := s.submit(ctx, x, exam.Expired); err != nil {
			return err
		}
	}
	v := attemptJSON{
		ID: x.ID, Seed: x.Seed, State: "running", Started: x.Started, Deadline: x.Deadline(),
		DurationSeconds: int64(x.Duration.D() / time.Second), RemainingSeconds: int64(x.Remaining(s.now()) / time.Second),
		MaxPoints: x.MaxPoints(), PassMark: exam.PassMark, Notes: x.Notes, Report: x.Report,
	}
	if x.Report != nil {
		v.State, v.RemainingSeconds = "scored", 0
	}
	for _, t := range x.Tasks {
		st := t.StepOf()
		v.Tasks = append(v.Tasks, taskJSON{Number: t.Number, Step: t.Step, Title: st.Title, Weight: t.Weight,
			Namespace: t.Namespace, Flagged: t.Flagged, Text: st.Body(x.Values(s.box.Values, t))})
	}
	return writeJSON(streams.Out, v)
}

func newExamSubmitCommand(g *globalFlags, o *examOptions, streams Streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "submit",
		Short: g.p.T("End the exam now: check every task once, print the score, clean up"),
		Long: g.p.T(`submit ends the exam in progress: every task is checked once and scored
(weight x criteria met / criteria), the exam's namespaces are deleted and
what its tasks made outside them is reset. It prints the score, each task's
criteria, and for each one missed the finding that explains it.

Exit status: 0 when the exam passed (%d%% of the points), 1 when it did not,
2 when it could not be scored (no exam in progress, the sandbox does not
answer: submit again once it does).`, exam.PassMark),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := openExamSession(ctx, g, &o.sandbox)
			if err != nil {
				return err
			}
			s.report = o.report
			x, err := exam.Current(s.stateDir, s.cur)
			if err != nil {
				return err
			}
			if x == nil {
				return &exitError{code: 2, err: g.p.Errorf("no exam in progress (imagelab exam%s starts one)", stateDirFlag(g))}
			}
			if x.Started.IsZero() {
				// Stopped while being prepared: there is nothing to score.
				if err := s.drop(ctx, x); err != nil {
					return err
				}
				g.p.Fprintf(streams.Out, "The exam being prepared (seed %d) was dropped; imagelab exam%s starts a new one.\n", x.Seed, stateDirFlag(g))
				return nil
			}
			r, err := s.submit(ctx, x, x.EndingAt(s.now()))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if asJSON {
				if err := writeJSON(streams.Out, r); err != nil {
					return err
				}
			} else {
				printExamReport(streams.Out, g.p, x)
			}
			if !r.Passed {
				return errNotPassed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, g.p.T("print the report as JSON"))
	return cmd
}

func newExamHistoryCommand(g *globalFlags, streams Streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: g.p.T("List past exams: date, seed, score, passed"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, err := g.resolveStateDir()
			if err != nil {
				return err
			}
			hist, err := exam.History(stateDir, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(streams.Out, map[string]any{"attempts": hist})
			}
			printHistory(streams.Out, g.p, hist)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, g.p.T("print as JSON"))
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // findings quote shell commands with &&
	return enc.Encode(v)
}
