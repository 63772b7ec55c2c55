package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/fsutil"
	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/tui"
)

// examSession is an exam on the sandbox: the state dir the attempts are
// kept in, the curriculum they are drawn from, and the sandbox as the
// exam package sees it.
type examSession struct {
	stateDir string
	cur      *lessons.Curriculum
	sb       *sandbox.Sandbox
	env      *check.Env // the sandbox's own, in its namespace
	box      exam.Sandbox
	// report is where the scored report goes as JSON too (--report).
	report string
	now    func() time.Time
}

// openExamSession finds the sandbox as imagelab check does: the cluster
// the flags name, else the one saved in the state dir.
func openExamSession(ctx context.Context, g *globalFlags, flags *sandboxFlags) (*examSession, error) {
	stateDir, err := g.resolveStateDir()
	if err != nil {
		return nil, err
	}
	cur, err := curriculumIn(g.language())
	if err != nil {
		return nil, err
	}
	sb, err := flags.resolve(ctx, stateDir)
	if err != nil {
		return nil, g.p.Errorf("the exam needs the sandbox: %w", err)
	}
	s, err := newExamSession(stateDir, cur, sb)
	if err != nil {
		return nil, err
	}
	s.env.Printer = g.p // the findings that explain a miss, in the learner's language
	return s, nil
}

// newExamSession is an exam session on sb.
func newExamSession(stateDir string, cur *lessons.Curriculum, sb *sandbox.Sandbox) (*examSession, error) {
	env, err := checkEnv(sb)
	if err != nil {
		return nil, err
	}
	s := &examSession{stateDir: stateDir, cur: cur, sb: sb, env: env, now: time.Now}
	s.box = exam.Sandbox{
		Values: values(sb),
		Env:    s.taskEnv,
		EnsureNamespace: func(ctx context.Context, ns string) error {
			_, err := sandbox.EnsureNamespace(ctx, env.Kube, ns, sb)
			return err
		},
		DeleteNamespace: s.deleteNamespace,
	}
	return s, nil
}

// taskEnv is what a task's check sees: the sandbox, working in the task's
// namespace. The learner's own namespace is where an object put in the
// wrong place (forgetting -n) is looked for.
func (s *examSession) taskEnv(ns string) *check.Env {
	e := *s.env
	e.Namespace = ns
	e.StrayNamespaces = nil
	for _, other := range append([]string{s.sb.Namespace}, s.env.StrayNamespaces...) {
		if other != ns && !slices.Contains(e.StrayNamespaces, other) {
			e.StrayNamespaces = append(e.StrayNamespaces, other)
		}
	}
	return &e
}

// deleteNamespace deletes an exam namespace, which imagelab made and
// labelled; it does not wait for the namespace to go.
func (s *examSession) deleteNamespace(ctx context.Context, name string) error {
	ns, err := s.env.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Labels[sandbox.LabelManagedBy] != sandbox.ManagedBy {
		return fmt.Errorf("namespace %s was not made by imagelab, so imagelab leaves it", name)
	}
	err = s.env.Kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// eligible says which steps can be tasks here: those on the control-plane
// node only where imagelab reaches it.
func (s *examSession) eligible(step *lessons.Step) bool {
	return !step.Needs().Has(check.NeedsNode) || s.env.Node != nil
}

// open is the attempt to work on: the one in progress (prepared again if
// a crash came before its clock started), else a new one drawn with o's
// settings and prepared. The clock starts once every task is prepared.
func (s *examSession) open(ctx context.Context, o *examOptions, report func(exam.Progress)) (*exam.Exam, error) {
	x, err := exam.Current(s.stateDir, s.cur)
	if err != nil {
		return nil, err
	}
	if x != nil && !x.Started.IsZero() {
		return x, nil
	}
	if x == nil {
		if x, err = exam.Draw(s.cur, exam.Options{Seed: o.seed, Tasks: o.tasks, Duration: o.duration, Eligible: s.eligible}); err != nil {
			return nil, err
		}
		// Saved before anything is made, so a crash leaves an attempt
		// whose namespaces the next start finds (and prepares again).
		if err := x.Save(s.stateDir); err != nil {
			return nil, err
		}
	}
	if s.env.Node != nil {
		if err := backUpNode(ctx, s.sb); err != nil {
			return nil, err
		}
	}
	if err := x.Prepare(ctx, s.box, report); err != nil {
		return nil, err
	}
	x.Start(s.now())
	return x, x.Save(s.stateDir)
}

// submit scores the attempt, cleans up after it and saves it (and the
// report, when --report names a file).
func (s *examSession) submit(ctx context.Context, x *exam.Exam, ending exam.Ending) (*exam.Report, error) {
	r, err := x.Score(ctx, s.box, s.now(), ending)
	if err != nil {
		return nil, err
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	if err := x.Cleanup(cleanup, s.box); err != nil {
		x.Notes = append(x.Notes, exam.Note{Text: exam.NoteNoCleanup + err.Error()})
	}
	for _, t := range x.Tasks {
		_ = os.Remove(s.taskKubeconfig(x, t))
	}
	if err := x.Save(s.stateDir); err != nil {
		return r, err
	}
	if s.report != "" {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return r, err
		}
		if err := fsutil.WriteFileAtomic(s.report, append(data, '\n'), 0o644); err != nil {
			return r, fmt.Errorf("writing the report: %w", err)
		}
	}
	return r, nil
}

// drop cleans up after an attempt that never started and forgets it.
func (s *examSession) drop(ctx context.Context, x *exam.Exam) error {
	if err := x.Cleanup(ctx, s.box); err != nil {
		return fmt.Errorf("cleaning up after the exam being prepared: %w", err)
	}
	return x.Remove(s.stateDir)
}

// taskKubeconfig is the kubeconfig of a task's shell: the sandbox's, with
// the task's namespace as its default.
func (s *examSession) taskKubeconfig(x *exam.Exam, t *exam.Task) string {
	return filepath.Join(exam.Dir(s.stateDir), fmt.Sprintf("%s-task%d.kubeconfig", x.ID, t.Number))
}

// taskShellEnv are the variables that put a shell into a task: the
// sandbox shell's, with kubectl in the task's namespace.
func (s *examSession) taskShellEnv(x *exam.Exam, t *exam.Task) ([]string, error) {
	path := s.taskKubeconfig(x, t)
	if err := writeNamespacedKubeconfig(s.sb, t.Namespace, path); err != nil {
		return nil, err
	}
	return append(s.sb.ShellEnv(os.Environ()), "KUBECONFIG="+path), nil
}

// writeNamespacedKubeconfig writes the sandbox's kubeconfig with ns as
// its context's namespace.
func writeNamespacedKubeconfig(sb *sandbox.Sandbox, ns, path string) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if sb.Kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: sb.Kubeconfig}
	}
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: sb.Context}).RawConfig()
	if err != nil {
		return fmt.Errorf("reading the sandbox kubeconfig: %w", err)
	}
	name := sb.Context
	if name == "" {
		name = raw.CurrentContext
	}
	kctx, ok := raw.Contexts[name]
	if !ok {
		return fmt.Errorf("the sandbox kubeconfig has no context %q", name)
	}
	kctx.Namespace = ns
	raw.CurrentContext = name
	data, err := clientcmd.Write(raw)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data, 0o600)
}

// examRunner is the exam as the app's exam screen uses it (tui.ExamRunner).
type examRunner struct {
	s *examSession
	o *examOptions
	p *i18n.Printer // the shells' notes
}

var _ tui.ExamRunner = examRunner{}

func (r examRunner) Open(ctx context.Context, report func(exam.Progress)) (*exam.Exam, error) {
	return r.s.open(ctx, r.o, report)
}

func (r examRunner) Values(x *exam.Exam, t *exam.Task) lessons.Values {
	return x.Values(r.s.box.Values, t)
}

func (r examRunner) Save(x *exam.Exam) error { return x.Save(r.s.stateDir) }

func (r examRunner) Submit(ctx context.Context, x *exam.Exam, ending exam.Ending) (*exam.Report, error) {
	return r.s.submit(ctx, x, ending)
}

func (r examRunner) Shell(x *exam.Exam, t *exam.Task) (*exec.Cmd, error) {
	sh, err := r.s.sb.ShellCommand(r.s.stateDir, os.Environ())
	if err != nil {
		return nil, err
	}
	env, err := r.s.taskShellEnv(x, t)
	if err != nil {
		return nil, err
	}
	sh.Env = append(sh.Env, env...) // the last KUBECONFIG is the one used
	note := r.p.T("imagelab exam, task %d: kubectl works in namespace %s, docker uses the sandbox's registry %s.\nType exit to go back to the exam (the clock keeps running).", t.Number, t.Namespace, r.s.sb.Registry.Host)
	return shellWithNote(sh, note), nil
}

func (r examRunner) NodeShell() (*exec.Cmd, error) {
	n, err := r.s.sb.ControlPlane()
	if err != nil {
		return nil, err
	}
	note := r.p.T("imagelab exam: a root shell on %s, the control-plane node.\nType exit to go back to the exam (the clock keeps running).", n.Name())
	return shellWithNote(n.ShellCommand(), note), nil
}

// errExamRunning refuses settings for a new exam while one runs.
func errExamRunning(p *i18n.Printer, x *exam.Exam, now time.Time, stateDir string) error {
	if x.Started.IsZero() {
		return &exitError{code: 2, err: p.Errorf("an exam (seed %d) was being prepared when imagelab stopped: imagelab exam%s prepares and starts it, imagelab exam submit%s drops it; then --seed, --tasks and --duration start a new one", x.Seed, stateDir, stateDir)}
	}
	return &exitError{code: 2, err: p.Errorf("an exam is in progress (seed %d, started %s, %s left): imagelab exam%s resumes it, imagelab exam submit%s ends it; then --seed, --tasks and --duration start a new one",
		x.Seed, x.Started.Local().Format("15:04"), x.Remaining(now).Round(time.Second), stateDir, stateDir)}
}
