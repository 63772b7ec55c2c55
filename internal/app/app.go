// Package app is imagelab's command line: cobra commands over the lesson
// engine, the sandbox and the TUI. Main is the only place that picks an
// exit code.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/tui"
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// exitError carries an exit code other than 1 (2: could not check).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errNotPassed is returned when checked steps did not all pass: exit 1,
// with the report already printed.
var errNotPassed = errors.New("not every checked step passed")

// Main runs imagelab with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := Run(ctx, Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:])
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errNotPassed):
		return 1
	case errors.As(err, &ee):
		fmt.Fprintln(os.Stderr, "imagelab:", ee.err)
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "imagelab:", err)
	return 2
}

// globalFlags are the flags every command takes.
type globalFlags struct {
	stateDir string
	// lang is --lang; the language itself is p's, resolved once per
	// command before it runs (resolveLang).
	lang string
	p    *i18n.Printer
	// getenv reads the environment (IMAGELAB_LANG, the locale); tests
	// replace it.
	getenv func(string) string
	// stderr is where the command-line commands print notes.
	stderr io.Writer
}

// resolveLang picks the command's language: --lang, else IMAGELAB_LANG,
// else the language the learner last chose in the app (remembered in the
// progress file), else the locale, else English.
func (g *globalFlags) resolveLang() error {
	getenv := g.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	l, ok, err := i18n.Explicit(g.lang, getenv)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if !ok {
		l = i18n.FromLocale(getenv)
		if dir, err := g.resolveStateDir(); err == nil {
			if saved, err := i18n.Parse(progress.SavedLang(dir)); err == nil {
				l = saved
			}
		}
	}
	g.p = i18n.For(l)
	return nil
}

// curriculumIn is the curriculum in l: the same steps in every language.
func curriculumIn(l i18n.Lang) (*lessons.Curriculum, error) {
	return lessons.DefaultIn(l)
}

// language is the command's language.
func (g *globalFlags) language() i18n.Lang { return g.p.Lang() }

// session is what the lesson commands start from: the state dir, the
// curriculum and the learner's progress.
type session struct {
	stateDir string
	cur      *lessons.Curriculum
	store    *progress.Store
	// warning says the progress file was damaged and moved aside. Only the
	// app's session carries it (its header shows it); session has printed
	// it for a command-line command.
	warning error
}

// session opens the state dir for a command-line command. A damaged
// progress file is moved aside, and stderr says so once: what was wrong
// and where the old file is.
func (g *globalFlags) session() (*session, error) {
	ss, err := g.appSession()
	if err != nil {
		return nil, err
	}
	if ss.warning != nil && g.stderr != nil {
		fmt.Fprintln(g.stderr, g.p.T("warning:"), ss.warning)
		ss.warning = nil
	}
	return ss, nil
}

// appSession opens the state dir for the app, which shows a damaged
// progress file's warning in its header: nothing may print under Bubble Tea.
func (g *globalFlags) appSession() (*session, error) {
	stateDir, err := g.resolveStateDir()
	if err != nil {
		return nil, err
	}
	cur, err := curriculumIn(g.language())
	if err != nil {
		return nil, err
	}
	store, warning, err := progress.Open(stateDir)
	if err != nil {
		return nil, err
	}
	mirrorProgress(stateDir, store)
	return &session{stateDir: stateDir, cur: cur, store: store, warning: warning}, nil
}

// savedSandbox is the state dir and the sandbox saved in it.
func (g *globalFlags) savedSandbox() (string, *sandbox.Sandbox, error) {
	stateDir, err := g.resolveStateDir()
	if err != nil {
		return "", nil, err
	}
	sb, err := sandbox.Load(stateDir)
	return stateDir, sb, err
}

func (g *globalFlags) resolveStateDir() (string, error) {
	if g.stateDir != "" {
		return g.stateDir, nil
	}
	return sandbox.StateDir()
}

// Run runs imagelab with args.
func Run(ctx context.Context, streams Streams, args []string) error {
	cmd, g := newRoot(streams, args)
	cmd.SetArgs(args)
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.Err)
	localizeHelp(cmd, g.p)
	return g.say(cmd.ExecuteContext(ctx))
}

// say is the command's error with the sandbox's own errors in it said in
// the command's language; the exit code and errors.Is stay.
func (g *globalFlags) say(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		ee.err = tui.SandboxError(g.p, ee.err)
		return err
	}
	return tui.SandboxError(g.p, err)
}

// newRoot builds the command tree, its help in the language args ask for
// (helpLang).
func newRoot(streams Streams, args []string) (*cobra.Command, *globalFlags) {
	g := &globalFlags{stderr: streams.Err}
	g.helpLang(args)
	o := &upOptions{}
	root := &cobra.Command{
		Use:   "imagelab",
		Short: g.p.T("Learn container image security on Kubernetes, checked live against a real sandbox"),
		Long: g.p.T(`imagelab walks you through image names, docker login to a private registry,
the regcred pull secret and imagePullSecrets — and what the CKS asks around
them — and checks your real work against a sandbox cluster and registry.`),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		// --version prints what imagelab version prints.
		Version:           currentVersion().String(),
		PersistentPreRunE: func(*cobra.Command, []string) error { return g.resolveLang() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTUI(cmd.Context(), g, o, streams)
		},
	}
	root.SetVersionTemplate("{{.Version}}")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", "", g.p.T("where imagelab keeps progress and the sandbox's files (default $IMAGELAB_HOME or ~/.local/state/imagelab)"))
	root.PersistentFlags().StringVar(&g.lang, "lang", "", g.p.T("the language of imagelab's texts: en or ko (default $IMAGELAB_LANG, else the language last chosen in the app, else the locale)"))
	// The tutorial starts the sandbox as imagelab up does, and takes its flags.
	o.addFlags(root.Flags(), g.p)
	root.AddCommand(
		newLessonsCommand(g, streams),
		newCheckCommand(g, streams),
		newExamCommand(g, streams),
		newVersionCommand(g.p, streams),
		newToolsCommand(g, streams),
		newWorkshopCommand(g, streams),
		newJoinCommand(g, streams),
	)
	addSandboxCommands(root, g, streams)
	return root, g
}
