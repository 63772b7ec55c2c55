// Package tui is imagelab's terminal app: a Bubble Tea root model that
// routes messages to its components (step text, result panel, answer
// field, lesson sidebar, dialogs, sandbox tracker, check scheduler) and
// composes their views. It gets the curriculum, the progress file and the
// sandbox through Options and never touches the cluster, the registry or
// files in Update: all of that runs in tea.Cmds and comes back as typed
// messages, so the app stays responsive while the sandbox starts.
package tui

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
)

// Sandbox is what the app asks of the sandbox; internal/app implements it.
// Every method is called from a tea.Cmd, never from Update.
type Sandbox interface {
	// Start creates or reuses the sandbox, reporting phases through
	// report. It is called once at start-up and again on retry.
	// sandbox.ErrNoSandbox means there is none to use yet.
	Start(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error)
	// CheckEnv is what the checks see of the sandbox.
	CheckEnv(sb *sandbox.Sandbox) (*check.Env, error)
	// Values are the sandbox's facts the lesson texts use.
	Values(sb *sandbox.Sandbox) lessons.Values
	// Shell is the learner's shell inside the sandbox, for key t (it may
	// write rc files).
	Shell(sb *sandbox.Sandbox) (*exec.Cmd, error)
	// NodeShell is a root shell on the control-plane node, for key T; an
	// error says why there is none (a cluster imagelab did not make).
	NodeShell(sb *sandbox.Sandbox) (*exec.Cmd, error)
	// Remove removes the sandbox when the learner quits with "remove".
	Remove(ctx context.Context, sb *sandbox.Sandbox) error
	// ResetStep deletes what a step made in the sandbox.
	ResetStep(ctx context.Context, sb *sandbox.Sandbox, step *lessons.Step) error
}

// SandboxIn is what a Sandbox whose shells print a note (where the shell
// is, how to get back) may implement: the same sandbox, its notes in l.
// The app asks at each shell, in the language the learner speaks by then.
type SandboxIn interface {
	In(l i18n.Lang) Sandbox
}

// Options is everything the app gets from its caller.
type Options struct {
	Curriculum *lessons.Curriculum
	// Progress is saved after every change.
	Progress *progress.Store
	// ProgressWarning is shown once: the progress file was damaged and moved aside.
	ProgressWarning error

	// Sandbox is the sandbox the steps are done in; nil means there is
	// none (only the steps that need no cluster work).
	Sandbox Sandbox

	// EnvCommand is the line that puts another terminal in the sandbox,
	// shown for split-screen use (default: eval "$(imagelab env)").
	EnvCommand string
	// UpCommand is what to run when there is no sandbox yet (default: imagelab up).
	UpCommand string

	// Lang is the language of the app's own texts (Curriculum is in it).
	Lang i18n.Lang
	// Curricula gives the curriculum in another language, when the learner
	// switches with the language key; nil leaves the lessons as they are
	// and switches the app's own texts alone.
	Curricula func(i18n.Lang) (*lessons.Curriculum, error)

	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
	// DisableWatch turns the live watches off (tests drive checks by hand).
	DisableWatch bool
}

// Outcome is what happened when the app ended, for the caller to report
// once the terminal is its own again.
type Outcome struct {
	// Sandbox is the sandbox that was in use, if any.
	Sandbox *sandbox.Sandbox
	// Removed says the learner chose to remove the sandbox on quit.
	Removed bool
	// RemoveErr is why removing it failed.
	RemoveErr error
	// Starting says the learner quit while the sandbox was being made: its
	// creation was cancelled and is cleaning up; WaitStarting waits for it.
	Starting bool
	starting *sync.WaitGroup
	// Lang is the language the app was left in (the language key may
	// have changed it): the caller's last lines speak it.
	Lang i18n.Lang
}

// WaitStarting waits up to limit for a cancelled sandbox start to finish
// cleaning up, and reports whether it did.
func (o Outcome) WaitStarting(limit time.Duration) bool {
	if o.starting == nil {
		return true
	}
	done := make(chan struct{})
	go func() { o.starting.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// Run runs the app until the learner quits.
func Run(ctx context.Context, opts Options, progOpts ...tea.ProgramOption) (Outcome, error) {
	m := New(ctx, opts)
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, progOpts...)...)
	final, err := p.Run()
	m.cancel() // stop watches and a sandbox still starting
	if fm, ok := final.(*Model); ok {
		m = fm
	}
	if serr := m.course.flush(); serr != nil && err == nil {
		err = serr
	}
	if err != nil && (errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, tea.ErrInterrupted)) && ctx.Err() != nil {
		err = nil // a signal ended the app: not an error
	}
	return m.outcome(), err
}
