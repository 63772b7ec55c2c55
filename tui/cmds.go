package tui

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
)

// Messages: each background job reports back with one of these.
type (
	// sandboxEventMsg is a progress report from StartSandbox.
	sandboxEventMsg struct {
		attempt int
		event   sandbox.Event
	}
	// sandboxDoneMsg ends StartSandbox: a sandbox and what checks see of it, or why not.
	sandboxDoneMsg struct {
		attempt int
		sb      *sandbox.Sandbox
		env     *check.Env
		vals    lessons.Values
		err     error
	}
	// checkedMsg is a check's verdict on one step.
	checkedMsg struct {
		ref    string
		result check.Result
		err    error
		took   time.Duration
	}
	// changeMsg says the learner changed something in the sandbox; the
	// changeSet says what.
	changeMsg struct{}
	// debounceMsg fires when changes have settled.
	debounceMsg struct{ seq int }
	// pollMsg is the slow poll's tick.
	pollMsg struct{ seq int }
	// watchStatusMsg says a watch failed (err set) or works again.
	watchStatusMsg struct {
		source string
		err    error
	}
	// savedMsg ends a progress save.
	savedMsg struct{ err error }
	// resetMsg ends a step reset.
	resetMsg struct {
		ref string
		err error
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
	// flashDoneMsg clears a passing note.
	flashDoneMsg struct{ seq int }
	// busMsg carries a message posted by a background goroutine.
	busMsg struct{ msg tea.Msg }
)

// Times the app waits for.
const (
	debounceDelay = 150 * time.Millisecond
	checkTimeout  = 30 * time.Second
	flashFor      = 4 * time.Second
	removeTimeout = 3 * time.Minute
)

// post hands a message from a goroutine to the program's bus; it gives up
// when the app is ending.
func post(ctx context.Context, bus chan<- tea.Msg, msg tea.Msg) {
	select {
	case bus <- msg:
	case <-ctx.Done():
	}
}

// listenBus waits for the next message a goroutine posted.
func listenBus(ctx context.Context, bus <-chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		select {
		case msg := <-bus:
			return busMsg{msg}
		case <-ctx.Done():
			return nil
		}
	}
}

// changeSet gathers the kinds of subject that changed since the app last
// looked: the watchers add to it from their goroutines and ping; the app
// takes the whole set on the ping. Changes made while a ping waits merge
// into it, and none is lost.
type changeSet struct {
	mu    sync.Mutex
	kinds map[string]bool
	ping  chan struct{}
}

func newChangeSet() *changeSet {
	return &changeSet{kinds: map[string]bool{}, ping: make(chan struct{}, 1)}
}

func (c *changeSet) add(kind string) {
	c.mu.Lock()
	c.kinds[kind] = true
	c.mu.Unlock()
	select {
	case c.ping <- struct{}{}:
	default: // a ping is already waiting
	}
}

// take returns the kinds that changed and empties the set.
func (c *changeSet) take() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.kinds
	c.kinds = map[string]bool{}
	return out
}

// listenChanges waits for the watchers' next ping.
func listenChanges(ctx context.Context, c *changeSet) tea.Cmd {
	return func() tea.Msg {
		select {
		case <-c.ping:
			return changeMsg{}
		case <-ctx.Done():
			return nil
		}
	}
}

// startSandboxCmd runs StartSandbox and builds the check environment.
func startSandboxCmd(ctx context.Context, opts Options, attempt int, bus chan<- tea.Msg, inflight *sync.WaitGroup) tea.Cmd {
	inflight.Add(1)
	return func() tea.Msg {
		defer inflight.Done()
		if opts.StartSandbox == nil {
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
		sb, err := opts.StartSandbox(ctx, report)
		if err == nil && sb == nil {
			err = sandbox.ErrNoSandbox
		}
		if err != nil {
			return sandboxDoneMsg{attempt: attempt, err: err}
		}
		env, err := opts.CheckEnv(sb)
		if err != nil {
			return sandboxDoneMsg{attempt: attempt, err: err}
		}
		vals := lessons.Placeholder()
		if opts.Values != nil {
			vals = opts.Values(sb)
		}
		return sandboxDoneMsg{attempt: attempt, sb: sb, env: env, vals: vals}
	}
}

// checkCmd runs a step's check.
func checkCmd(ctx context.Context, step *lessons.Step, env *check.Env, vals lessons.Values, answer string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		start := time.Now()
		res, err := step.Run(ctx, env, vals, answer)
		return checkedMsg{ref: step.Ref(), result: res, err: err, took: time.Since(start)}
	}
}

// saver writes progress snapshots in the order they were taken, even when
// two saves run at once.
type saver struct {
	mu      sync.Mutex
	written int
}

func (s *saver) saveCmd(seq int, snapshot *progress.Store) tea.Cmd {
	return func() tea.Msg {
		s.mu.Lock()
		defer s.mu.Unlock()
		if seq <= s.written {
			return nil // a newer snapshot is already on disk
		}
		s.written = seq
		return savedMsg{err: snapshot.Save()}
	}
}

// resetCmd deletes what the step made (when the caller can) in the sandbox.
func resetCmd(ctx context.Context, opts Options, sb *sandbox.Sandbox, step *lessons.Step) tea.Cmd {
	return func() tea.Msg {
		if opts.ResetStep == nil || sb == nil {
			return resetMsg{ref: step.Ref()}
		}
		ctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		return resetMsg{ref: step.Ref(), err: opts.ResetStep(ctx, sb, step)}
	}
}

// removeCmd removes the sandbox; it gets its own deadline because the app's
// context ends as the app quits.
func removeCmd(opts Options, sb *sandbox.Sandbox) tea.Cmd {
	return func() tea.Msg {
		if opts.RemoveSandbox == nil {
			return removedMsg{err: errors.New("this build cannot remove the sandbox: run imagelab down")}
		}
		ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
		defer cancel()
		return removedMsg{err: opts.RemoveSandbox(ctx, sb)}
	}
}

// shellCmd prepares the sandbox shell.
func shellCmd(opts Options, sb *sandbox.Sandbox) tea.Cmd {
	return func() tea.Msg {
		cmd, err := opts.ShellCommand(sb)
		return shellReadyMsg{cmd: cmd, err: err}
	}
}

func flashCmd(seq int) tea.Cmd {
	return tea.Tick(flashFor, func(time.Time) tea.Msg { return flashDoneMsg{seq} })
}
