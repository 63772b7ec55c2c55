package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/go-logr/logr"
	"golang.org/x/term"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/tui"
)

// runTUI opens the tutorial; o says which sandbox to start in the
// background, as imagelab up would.
func runTUI(ctx context.Context, g *globalFlags, o *upOptions, streams Streams) error {
	if err := needTerminal(g.p, streams); err != nil {
		return err
	}
	ss, err := g.appSession()
	if err != nil {
		return err
	}
	stateDir, store := ss.stateDir, ss.store
	quietLibraries() // nothing may print while Bubble Tea owns the terminal

	opts := tui.Options{
		Curriculum:      ss.cur,
		Progress:        store,
		ProgressWarning: ss.warning,
		Sandbox:         tuiSandbox{up: o, stateDir: stateDir, p: g.p},
		Lang:            g.language(),
		Curricula:       curriculumIn,
		EnvCommand:      fmt.Sprintf(`eval "$(imagelab env%s)"`, stateDirFlag(g)),
		UpCommand:       "imagelab up" + stateDirFlag(g),
	}
	out, err := tui.Run(ctx, opts, tea.WithInput(streams.In), tea.WithOutput(streams.Out))
	if err != nil {
		return err
	}
	p := i18n.For(out.Lang)
	if out.Starting {
		p.Fprintln(streams.Err, "Stopping the sandbox's creation and removing what was made…")
		if !out.WaitStarting(3 * time.Minute) {
			return p.Errorf("the sandbox's creation is still stopping; imagelab down%s removes what is left", stateDirFlag(g))
		}
		return nil
	}
	switch {
	case out.RemoveErr != nil:
		return p.Errorf("removing the sandbox: %w (imagelab down tries again)", out.RemoveErr)
	case out.Removed:
		p.Fprintf(streams.Out, "Sandbox removed. Your progress is kept in %s\n", store.Path())
	case out.Sandbox != nil:
		p.Fprintf(streams.Out, "The sandbox is still there for next time (imagelab down%s removes it).\n", stateDirFlag(g))
	}
	return nil
}

// needTerminal refuses to start the app without a terminal to draw in and
// read keys from; Bubble Tea would fail with a message about readers.
func needTerminal(p *i18n.Printer, streams Streams) error {
	var not string
	switch in, out := isTerminal(streams.In), isTerminal(streams.Out); {
	case in && out:
		return nil
	case !in && !out:
		not = p.T("neither stdin nor stdout is one")
	case !in:
		not = p.T("stdin is not one")
	default:
		not = p.T("stdout is not one")
	}
	return &exitError{code: 2, err: p.Errorf("the tutorial needs a terminal, but %s.\n"+
		"For scripts: imagelab lessons --json lists the steps and your progress;\n"+
		"imagelab check STEP --json checks a step (exit 0 passed, 1 not yet, 2 could not check).", not)}
}

// isTerminal reports whether a stream is a terminal.
func isTerminal(stream any) bool {
	f, ok := stream.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// stateDirFlag repeats --state-dir for the commands the app suggests.
func stateDirFlag(g *globalFlags) string {
	if g.stateDir == "" {
		return ""
	}
	return " --state-dir " + shellQuote(g.stateDir)
}

// tuiSandbox is the sandbox as the tutorial uses it (tui.Sandbox): started
// as imagelab up would start it, with up's flags.
type tuiSandbox struct {
	up       *upOptions
	stateDir string
	// p says the shells' notes (In: the app's language at the time).
	p *i18n.Printer
}

var (
	_ tui.Sandbox   = tuiSandbox{}
	_ tui.SandboxIn = tuiSandbox{}
)

// In is the sandbox with its shells' notes in l.
func (t tuiSandbox) In(l i18n.Lang) tui.Sandbox {
	t.p = i18n.For(l)
	return t
}

func (t tuiSandbox) Start(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error) {
	return t.up.startSandbox(ctx, t.stateDir, report)
}

func (tuiSandbox) CheckEnv(sb *sandbox.Sandbox) (*check.Env, error) { return checkEnv(sb) }

func (tuiSandbox) Values(sb *sandbox.Sandbox) lessons.Values { return values(sb) }

func (t tuiSandbox) Shell(sb *sandbox.Sandbox) (*exec.Cmd, error) {
	return sandboxShell(t.p, t.stateDir)(sb)
}

func (t tuiSandbox) NodeShell(sb *sandbox.Sandbox) (*exec.Cmd, error) {
	n, err := sb.ControlPlane()
	if err != nil {
		return nil, err
	}
	sh := n.ShellCommand()
	note := t.p.T("imagelab: a root shell on %s, the control-plane node (the API server's manifest is in /etc/kubernetes/manifests, the kubelet's config is /var/lib/kubelet/config.yaml).\nType exit to go back to the lesson.", n.Name())
	return shellWithNote(sh, note), nil
}

func (t tuiSandbox) Remove(ctx context.Context, sb *sandbox.Sandbox) error {
	return sandbox.Remove(ctx, sb, t.stateDir, sandbox.NoReport)
}

func (tuiSandbox) ResetStep(ctx context.Context, sb *sandbox.Sandbox, s *lessons.Step) error {
	return resetStep(ctx, sb, s)
}

// sandboxShell is the learner's shell in the sandbox (as imagelab shell
// starts it), after a line saying how to get back to the lesson.
func sandboxShell(p *i18n.Printer, stateDir string) func(*sandbox.Sandbox) (*exec.Cmd, error) {
	return func(sb *sandbox.Sandbox) (*exec.Cmd, error) {
		sh, err := sb.ShellCommand(stateDir, os.Environ())
		if err != nil {
			return nil, err
		}
		note := p.T("imagelab sandbox shell: kubectl and docker use the sandbox (namespace %s, registry %s).\nType exit to go back to the lesson.", sb.Namespace, sb.Registry.Host)
		return shellWithNote(sh, note), nil
	}
}

// quietLibraries stops client-go from writing warnings and retries to
// stderr, which would tear the TUI's screen.
func quietLibraries() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	// Without a logger klog still writes errors to stderr (its
	// stderrthreshold): a watch cut short would print over the screen.
	klog.SetLogger(logr.Discard())
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
}

// shellWithNote runs sh after printing note: where the shell is and how
// to get back.
func shellWithNote(sh *exec.Cmd, note string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", append([]string{"-c", `printf '%s\n\n' "$0"; exec "$@"`, note}, sh.Args...)...)
	cmd.Env, cmd.Dir = sh.Env, sh.Dir
	return cmd
}
