package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"

	tea "charm.land/bubbletea/v2"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/tui"
)

// tuiOptions are the root command's flags: the tutorial can be pointed at
// an existing cluster and registry as imagelab up can.
type tuiOptions struct {
	sandbox   sandboxFlags
	seedImage string
}

func runTUI(ctx context.Context, g *globalFlags, o *tuiOptions, streams Streams) error {
	stateDir, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	cur, err := lessons.Default()
	if err != nil {
		return err
	}
	store, warning, err := progress.Open(stateDir)
	if err != nil {
		return err
	}
	quietLibraries() // nothing may print while Bubble Tea owns the terminal

	opts := tui.Options{
		Curriculum:      cur,
		Progress:        store,
		ProgressWarning: warning,
		StartSandbox: func(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error) {
			return startSandbox(ctx, &o.sandbox, o.seedImage, stateDir, report)
		},
		CheckEnv:     checkEnv,
		Values:       values,
		ShellCommand: sandboxShell(stateDir),
		RemoveSandbox: func(ctx context.Context, sb *sandbox.Sandbox) error {
			return sandbox.Remove(ctx, sb, stateDir, sandbox.NoReport)
		},
		ResetStep:  resetStep,
		EnvCommand: fmt.Sprintf(`eval "$(imagelab env%s)"`, stateDirFlag(g)),
		UpCommand:  "imagelab up" + stateDirFlag(g),
	}
	out, err := tui.Run(ctx, opts, tea.WithInput(streams.In), tea.WithOutput(streams.Out))
	if err != nil {
		return err
	}
	switch {
	case out.RemoveErr != nil:
		return fmt.Errorf("removing the sandbox: %w (imagelab down tries again)", out.RemoveErr)
	case out.Removed:
		fmt.Fprintln(streams.Out, "Sandbox removed. Your progress is kept in", store.Path())
	case out.Sandbox != nil:
		fmt.Fprintf(streams.Out, "The sandbox is still there for next time (imagelab down%s removes it).\n", stateDirFlag(g))
	}
	return nil
}

// stateDirFlag repeats --state-dir for the commands the app suggests.
func stateDirFlag(g *globalFlags) string {
	if g.stateDir == "" {
		return ""
	}
	return " --state-dir " + shellQuote(g.stateDir)
}

// startSandbox finds the sandbox the tutorial works in: the cluster the
// flags name (prepared as imagelab up does), else the one saved in the
// state dir, checked to answer. sandbox.ErrNoSandbox means there is none.
// The kind provider will create one here when none is saved.
func startSandbox(ctx context.Context, f *sandboxFlags, seedImage, stateDir string, report sandbox.Reporter) (*sandbox.Sandbox, error) {
	var sb *sandbox.Sandbox
	if f.namesCluster() {
		opts := f.existingOptions(stateDir)
		opts.Seed.Source = seedImage
		opts.Report = report
		var err error
		if sb, err = sandbox.UseExisting(ctx, opts); err != nil {
			return nil, err
		}
	} else {
		var err error
		if sb, err = sandbox.Load(stateDir); err != nil {
			return nil, err
		}
		report(sandbox.Event{Phase: sandbox.PhaseConnect, Message: "Connecting to the sandbox"})
		if h := sandbox.Check(ctx, sb); !h.Ready() {
			if h.Cluster != "ready" {
				return nil, fmt.Errorf("the sandbox's cluster does not answer: %s", h.Cluster)
			}
			return nil, fmt.Errorf("the sandbox's registry %s does not answer: %s", sb.Registry.Host, h.Registry)
		}
		report(sandbox.Event{Phase: sandbox.PhaseReady, Message: "Sandbox ready", Done: true})
	}
	if f.dockerConfig != "" {
		sb.DockerConfigDir = f.dockerConfig
	}
	if f.workDir != "" {
		sb.WorkDir = f.workDir
	}
	return sb, nil
}

// sandboxShell is the learner's shell in the sandbox (as imagelab shell
// starts it), after a line saying how to get back to the lesson.
func sandboxShell(stateDir string) func(*sandbox.Sandbox) (*exec.Cmd, error) {
	return func(sb *sandbox.Sandbox) (*exec.Cmd, error) {
		sh, err := sb.ShellCommand(stateDir, os.Environ())
		if err != nil {
			return nil, err
		}
		note := fmt.Sprintf("imagelab sandbox shell: kubectl and docker use the sandbox (namespace %s, registry %s).\nType exit to go back to the lesson.", sb.Namespace, sb.Registry.Host)
		cmd := exec.Command("/bin/sh", append([]string{"-c", `printf '%s\n\n' "$0"; exec "$@"`, note}, sh.Args...)...)
		cmd.Env, cmd.Dir = sh.Env, sh.Dir
		return cmd, nil
	}
}

// quietLibraries stops client-go from writing warnings and retries to
// stderr, which would tear the TUI's screen.
func quietLibraries() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
}
