package exam

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// Sandbox is the sandbox as an exam uses it. The caller builds it; the
// exam package does not know how a sandbox is made.
type Sandbox struct {
	// Values are the sandbox's facts (registry, credentials, node paths);
	// the exam puts in its own names and each task's namespace.
	Values lessons.Values
	// Env is what the checks see, working in namespace.
	Env func(namespace string) *check.Env
	// EnsureNamespace creates namespace, labelled as the sandbox's, unless
	// it is there, with its default service account (as
	// sandbox.EnsureNamespace does).
	EnsureNamespace func(ctx context.Context, namespace string) error
	// DeleteNamespace deletes a namespace the exam made.
	DeleteNamespace func(ctx context.Context, namespace string) error
}

// CheckTimeout is how long one task's check may take when scored.
const CheckTimeout = 30 * time.Second

// Stage is a step of Prepare, reported so that a UI can say it in its own
// words and language.
type Stage string

// Prepare's stages.
const (
	StageNamespaces Stage = "namespaces" // Creating Total namespaces
	StageCleanup    Stage = "cleanup"    // Cleaning up outside them
	StageTasks      Stage = "tasks"      // Prepared Done of Total tasks
)

// The notes imagelab keeps on an exam, in English (the attempt's file
// keeps them so); a UI says them in its language by these texts. A note
// that starts with a prefix (…: ) goes on with an error.
const (
	NoteLeftover   = "Left from earlier work, which imagelab could not reset: "
	NoteDoneBefore = "This task was done before the exam started (what it asks for is there already, perhaps from the lessons, outside its namespace): it counts for nothing."
	NoteNoCleanup  = "After the exam, imagelab could not clean up everything: "
)

// Progress is where Prepare is.
type Progress struct {
	Stage       Stage
	Done, Total int
}

// String is the progress in English.
func (p Progress) String() string {
	switch p.Stage {
	case StageNamespaces:
		return fmt.Sprintf("Creating %d namespaces", p.Total)
	case StageCleanup:
		return "Cleaning up what earlier work left outside the namespaces"
	case StageTasks:
		return fmt.Sprintf("Prepared %d of %d tasks", p.Done, p.Total)
	}
	return ""
}

// Prepare makes every task stand alone before the clock starts: its
// namespace, nothing left over outside it from an earlier attempt or the
// lessons (a docker login, a pushed repository, an edited node file), and
// what the step builds on and starts from. Then each task's check runs
// once: the criteria it finds met already (a troubleshooting task starts
// with its pod) are the task's Given, which score neither way. report
// says what is being done; it may be called from several goroutines.
// Preparing again (after a crash) makes the same state. What imagelab
// could not clean up is kept in x.Notes: the exam goes on, and the
// learner is told.
func (x *Exam) Prepare(ctx context.Context, sb Sandbox, report func(Progress)) error {
	if report == nil {
		report = func(Progress) {}
	}
	report(Progress{Stage: StageNamespaces, Total: len(x.Tasks)})
	if err := x.eachTask(func(t *Task) error {
		if err := sb.EnsureNamespace(ctx, t.Namespace); err != nil {
			return fmt.Errorf("task %d: %w", t.Number, err)
		}
		return nil
	}); err != nil {
		return err
	}

	// Outside the namespaces, one after another: these are shared.
	report(Progress{Stage: StageCleanup, Total: len(x.Tasks)})
	x.Notes = nil
	for _, t := range x.Tasks {
		if err := x.resetShared(ctx, sb, t); err != nil {
			x.Notes = append(x.Notes, Note{Task: t.Number, Text: NoteLeftover + err.Error()})
		}
	}

	var mu sync.Mutex
	done := 0
	err := x.eachTask(func(t *Task) error {
		env, vals := sb.Env(t.Namespace), x.Values(sb.Values, t)
		if err := x.cur.Prepare(ctx, t.step, env, vals); err != nil {
			return fmt.Errorf("preparing task %d (%s): %w", t.Number, t.Step, err)
		}
		if err := t.baseline(ctx, env, vals); err != nil {
			return fmt.Errorf("checking task %d (%s) before the start: %w", t.Number, t.Step, err)
		}
		mu.Lock()
		done++
		report(Progress{Stage: StageTasks, Done: done, Total: len(x.Tasks)})
		mu.Unlock()
		return nil
	})
	for _, t := range x.Tasks {
		if len(t.Given) > 0 && len(t.Given) == len(t.step.Definition().Criteria) {
			x.Notes = append(x.Notes, Note{Task: t.Number, Text: NoteDoneBefore})
		}
	}
	return err
}

// baseline runs the task's check before the clock starts and keeps the
// criteria already met: those the learner did not have to meet.
func (t *Task) baseline(ctx context.Context, env *check.Env, vals lessons.Values) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	res, err := t.step.Run(ctx, env, vals, "")
	if err != nil {
		return err
	}
	t.Given = nil
	for _, c := range res.Criteria {
		if c.Met {
			t.Given = append(t.Given, c.Name)
		}
	}
	return nil
}

// resetShared resets what task t's step makes outside its namespace; the
// namespace itself is the exam's and goes whole.
func (x *Exam) resetShared(ctx context.Context, sb Sandbox, t *Task) error {
	err := t.step.ResetIn(ctx, sb.Env(t.Namespace), x.Values(sb.Values, t), false)
	return withoutNamespaced(err)
}

// withoutNamespaced drops the refusals to reset objects in a namespace
// ResetIn was told is not its own: here, those go with the namespace.
func withoutNamespaced(err error) error {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var keep []error
	for _, e := range errs {
		if !errors.Is(e, lessons.ErrNotOurNamespace) {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}

// Ending says how an exam came to be scored.
type Ending string

const (
	// Submitted: the learner submitted before the time was up.
	Submitted Ending = "submitted"
	// TimeUp: the time ran out while the exam was on screen.
	TimeUp Ending = "time-up"
	// Expired: the deadline passed while imagelab was not running; the
	// exam was scored the next time it started.
	Expired Ending = "expired"
)

// EndingAt is how an exam scored at now, other than by the app's own
// clock running out, ended.
func (x *Exam) EndingAt(now time.Time) Ending {
	if x.Expired(now) {
		return Expired
	}
	return Submitted
}

// ErrCannotScore means a check could not reach the sandbox: the exam is
// not scored, and scoring again later may work.
var ErrCannotScore = errors.New("the sandbox did not answer, so the exam was not scored")

// Score checks every task once, all at the same time, and scores it:
// each task earns its weight × the criteria met / the criteria its check
// declares (leaving out those met before the clock started). The exam
// is then submitted, with its report. When the sandbox does not answer
// (or a check runs out of time), nothing is scored (ErrCannotScore);
// when ctx ends, nothing is either; a check that fails for another
// reason scores its task nothing and says why.
func (x *Exam) Score(ctx context.Context, sb Sandbox, now time.Time, ending Ending) (*Report, error) {
	results := make([]taskResult, len(x.Tasks))
	_ = x.eachTask(func(t *Task) error {
		ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
		res, err := t.step.Run(ctx, sb.Env(t.Namespace), x.Values(sb.Values, t), "")
		results[t.Number-1] = taskResult{res, err}
		return nil
	})
	if err := ctx.Err(); err != nil {
		return nil, err // stopped: nothing is scored
	}
	var unreachable []error
	for i, r := range results {
		if errors.Is(r.err, check.ErrUnreachable) || errors.Is(r.err, check.ErrNoSandbox) || errors.Is(r.err, context.DeadlineExceeded) {
			unreachable = append(unreachable, fmt.Errorf("task %d: %w", i+1, r.err))
		}
	}
	if len(unreachable) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrCannotScore, errors.Join(unreachable...))
	}
	x.Submitted = now.UTC().Truncate(time.Second)
	x.Report = x.report(results, ending)
	return x.Report, nil
}

type taskResult struct {
	res check.Result
	err error
}

// Cleanup puts the sandbox back: what the tasks made outside their
// namespaces is reset (the docker login, pushed repositories, node
// files, cluster-wide policies), then the namespaces are deleted. It
// reports what it could not do.
func (x *Exam) Cleanup(ctx context.Context, sb Sandbox) error {
	var errs []error
	for _, t := range x.Tasks {
		if err := x.resetShared(ctx, sb, t); err != nil {
			errs = append(errs, fmt.Errorf("task %d: %w", t.Number, err))
		}
	}
	for _, t := range x.Tasks {
		if err := sb.DeleteNamespace(ctx, t.Namespace); err != nil {
			errs = append(errs, fmt.Errorf("task %d: deleting namespace %s: %w", t.Number, t.Namespace, err))
		}
	}
	return errors.Join(errs...)
}

// eachTask runs fn for every task at once (they live in namespaces of
// their own) and returns the errors.
func (x *Exam) eachTask(fn func(t *Task) error) error {
	errs := make([]error, len(x.Tasks))
	var wg sync.WaitGroup
	for i, t := range x.Tasks {
		wg.Go(func() { errs[i] = fn(t) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
