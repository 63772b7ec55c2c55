package tui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// sandboxState is where the sandbox is.
type sandboxState int

const (
	sandboxStarting sandboxState = iota
	sandboxReady
	sandboxFailed
)

// Messages of the sandbox's life.
type (
	// sandboxEventMsg is a progress report from Sandbox.Start.
	sandboxEventMsg struct {
		attempt int
		event   sandbox.Event
	}
	// sandboxDoneMsg ends Sandbox.Start: a sandbox and what checks see of it, or why not.
	sandboxDoneMsg struct {
		attempt int
		sb      *sandbox.Sandbox
		env     *check.Env
		vals    lessons.Values
		err     error
	}
	// resetMsg ends a step reset (setup: the first set-up of a step that
	// starts from something imagelab makes).
	resetMsg struct {
		setup bool
		ref   string
		err   error
	}
	// shellReadyMsg carries the shell command, ready to run.
	shellReadyMsg struct {
		cmd *exec.Cmd
		err error
	}
	// shellDoneMsg is sent when the learner leaves the sandbox shell.
	shellDoneMsg struct{ err error }
	// removedMsg ends removing the sandbox on quit.
	removedMsg struct{ err error }
)

// Times the sandbox's jobs get.
const (
	resetTimeout  = 30 * time.Second
	removeTimeout = 3 * time.Minute
)

// sandboxTracker follows the sandbox's life — starting (with its phase and
// the time it takes), ready, or failed and waiting for a retry — and runs
// everything the app asks of the Sandbox, each in a Cmd.
type sandboxTracker struct {
	c     *common
	ctx   context.Context
	box   Sandbox // nil: there is none
	bus   chan<- tea.Msg
	upCmd string

	state   sandboxState
	attempt int
	started time.Time
	phase   sandbox.Event // the phase being worked on, while starting (Task empty: none yet)
	sb      *sandbox.Sandbox
	env     *check.Env
	vals    lessons.Values
	err     error
	// inflight counts starts still running, so quitting can wait for a
	// cancelled creation to clean up after itself.
	inflight *sync.WaitGroup
}

func newSandboxTracker(ctx context.Context, c *common, box Sandbox, bus chan<- tea.Msg, upCmd string) sandboxTracker {
	return sandboxTracker{
		c: c, ctx: ctx, box: box, bus: bus, upCmd: upCmd,
		state: sandboxStarting, attempt: 1, started: c.now(), vals: lessons.Placeholder(),
		inflight: &sync.WaitGroup{},
	}
}

func (t *sandboxTracker) ready() bool { return t.state == sandboxReady }

// Init starts the first attempt.
func (t *sandboxTracker) Init() tea.Cmd { return t.startCmd() }

// Update follows the start's reports; the root sees the change of state.
func (t *sandboxTracker) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case sandboxEventMsg:
		if msg.attempt == t.attempt && t.state == sandboxStarting && !msg.event.Log {
			t.phase = msg.event
		}
	case sandboxDoneMsg:
		if msg.attempt != t.attempt {
			return nil
		}
		if msg.err != nil {
			if t.ctx.Err() == nil {
				t.state, t.err = sandboxFailed, msg.err
			}
			return nil
		}
		t.state, t.sb, t.env, t.vals, t.err = sandboxReady, msg.sb, msg.env, msg.vals, nil
	}
	return nil
}

// retry starts again after a failure.
func (t *sandboxTracker) retry() tea.Cmd {
	if t.state != sandboxFailed {
		return nil
	}
	t.state, t.attempt, t.started, t.phase, t.err = sandboxStarting, t.attempt+1, t.c.now(), sandbox.Event{}, nil
	return t.startCmd()
}

// View is the header's badge: the sandbox's state in a few words, with
// the phase and the time it has taken while starting.
func (t *sandboxTracker) View() string {
	st := t.c.styles
	switch t.state {
	case sandboxReady:
		return st.Ready.Render(t.c.p.T("● sandbox ready"))
	case sandboxFailed:
		return st.Failed.Render(t.c.p.T("✗ no sandbox"))
	}
	msg := ""
	if t.phase != (sandbox.Event{}) {
		msg = EventText(t.c.p, t.phase)
	}
	if msg == "" {
		msg = t.c.p.T("starting the sandbox")
	}
	msg = ansi.Truncate(msg, max(12, t.c.width/3), "…")
	elapsed := t.c.now().Sub(t.started).Seconds()
	return st.Busy.Render(fmt.Sprintf("%s %s %.1fs", t.c.frame, msg, elapsed))
}

// problem is the banner's text for a failed sandbox: what happened and
// what to do; ok is false when there is nothing to say.
func (t *sandboxTracker) problem() (title, body string, ok bool) {
	if t.state != sandboxFailed {
		return "", "", false
	}
	if errors.Is(t.err, sandbox.ErrNoSandbox) {
		return t.c.p.T("No sandbox yet."), t.c.p.T("Run %s in another terminal, then press u. Steps that need no cluster work meanwhile.", t.upCmd), true
	}
	return t.c.p.T("The sandbox could not start."), t.c.p.T("%v. Fix that (imagelab status shows what is there), then press u to try again. Steps that need no cluster still work.", SandboxError(t.c.p, t.err)), true
}

// startCmd runs Sandbox.Start and builds the check environment.
func (t *sandboxTracker) startCmd() tea.Cmd {
	ctx, box, bus, attempt := t.ctx, t.box, t.bus, t.attempt
	t.inflight.Add(1)
	inflight := t.inflight
	return func() tea.Msg {
		defer inflight.Done()
		if box == nil {
			return sandboxDoneMsg{attempt: attempt, err: sandbox.ErrNoSandbox}
		}
		report := func(e sandbox.Event) {
			msg := sandboxEventMsg{attempt: attempt, event: e}
			if e.Log {
				select { // detail lines may be dropped, never block the provider
				case bus <- msg:
				default:
				}
				return
			}
			post(ctx, bus, msg)
		}
		sb, err := box.Start(ctx, report)
		if err == nil && sb == nil {
			err = sandbox.ErrNoSandbox
		}
		if err != nil {
			return sandboxDoneMsg{attempt: attempt, err: err}
		}
		env, err := box.CheckEnv(sb)
		if err != nil {
			return sandboxDoneMsg{attempt: attempt, err: err}
		}
		return sandboxDoneMsg{attempt: attempt, sb: sb, env: env, vals: box.Values(sb)}
	}
}

// canReset says a reset deletes what the step made, not only its progress.
func (t *sandboxTracker) canReset(step *lessons.Step) bool {
	return t.sb != nil && step.Resets()
}

// resetCmd deletes what the step made in the sandbox, when there is one.
func (t *sandboxTracker) resetCmd(step *lessons.Step) tea.Cmd { return t.resetOrSetUp(step, false) }

// setUpCmd makes what a step starts from, the first time the learner
// comes to it: a reset, which deletes what is there and makes it anew.
func (t *sandboxTracker) setUpCmd(step *lessons.Step) tea.Cmd { return t.resetOrSetUp(step, true) }

func (t *sandboxTracker) resetOrSetUp(step *lessons.Step, setup bool) tea.Cmd {
	ctx, box, sb := t.ctx, t.box, t.sb
	return func() tea.Msg {
		if sb == nil {
			return resetMsg{ref: step.Ref(), setup: setup}
		}
		ctx, cancel := context.WithTimeout(ctx, resetTimeout)
		defer cancel()
		return resetMsg{ref: step.Ref(), setup: setup, err: box.ResetStep(ctx, sb, step)}
	}
}

// shellCmd prepares the sandbox shell, or a root shell on the
// control-plane node.
func (t *sandboxTracker) shellCmd(node bool) tea.Cmd {
	box, sb := t.box, t.sb
	if in, ok := box.(SandboxIn); ok {
		box = in.In(t.c.p.Lang()) // the shell's note in the language spoken now
	}
	return func() tea.Msg {
		if node {
			cmd, err := box.NodeShell(sb)
			return shellReadyMsg{cmd: cmd, err: err}
		}
		cmd, err := box.Shell(sb)
		return shellReadyMsg{cmd: cmd, err: err}
	}
}

// removeCmd removes the sandbox; it gets its own deadline because the
// app's context ends as the app quits.
func (t *sandboxTracker) removeCmd() tea.Cmd {
	box, sb := t.box, t.sb
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
		defer cancel()
		return removedMsg{err: box.Remove(ctx, sb)}
	}
}
