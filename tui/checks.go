package tui

import (
	"context"
	"errors"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// Messages of checking.
type (
	// checkedMsg is a check's verdict on one step, for the answer it was given.
	checkedMsg struct {
		ref    string
		answer string
		result check.Result
		err    error
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
)

// Times checking waits for.
const (
	debounceDelay = 150 * time.Millisecond
	checkTimeout  = 30 * time.Second
)

// outcomeOf is a step's latest check.
type outcomeOf struct {
	result check.Result
	err    error
	at     time.Time
}

// checkTarget is what checking the current step takes.
type checkTarget struct {
	step   *lessons.Step
	answer string // the quiz answer given, if any
	ready  bool   // the sandbox is ready
	env    *check.Env
	vals   lessons.Values
	p      *i18n.Printer // the findings' language
}

// checkScheduler decides when the current step is checked: on entering
// it, when something it watches changes (debounced), on a poll while its
// verdict depends on what no watch sees or a watch it depends on fails,
// and on request. One check per step runs at a time; one asked for
// meanwhile runs once it ends. What to watch and whether to poll come
// from the step's check definition, never from a list of its own.
type checkScheduler struct {
	c        *common
	ctx      context.Context
	bus      chan<- tea.Msg
	changes  *changeSet
	disabled bool // no watches and no polls: tests check by hand

	results  map[string]outcomeOf
	running  map[string]bool
	again    map[string]bool
	debounce int

	watching bool
	failing  map[string]string // watch source → its error
	polling  bool
	pollSeq  int
}

func newCheckScheduler(ctx context.Context, c *common, bus chan<- tea.Msg, disabled bool) checkScheduler {
	return checkScheduler{
		c: c, ctx: ctx, bus: bus, changes: newChangeSet(), disabled: disabled,
		results: map[string]outcomeOf{}, running: map[string]bool{}, again: map[string]bool{}, failing: map[string]string{},
	}
}

// Init listens for the watchers' changes.
func (s *checkScheduler) Init() tea.Cmd { return listenChanges(s.ctx, s.changes) }

// Update handles the scheduler's messages for the current step t.
func (s *checkScheduler) Update(msg tea.Msg, t checkTarget) tea.Cmd {
	switch msg := msg.(type) {
	case changeMsg:
		cmd := listenChanges(s.ctx, s.changes)
		if t.ready && watchesAny(t.step.Definition(), s.changes.take()) {
			s.debounce++
			seq := s.debounce
			cmd = tea.Batch(cmd, tea.Tick(debounceDelay, func(time.Time) tea.Msg { return debounceMsg{seq} }))
		}
		return cmd
	case debounceMsg:
		if msg.seq == s.debounce {
			return s.run(t)
		}
	case pollMsg:
		if msg.seq != s.pollSeq {
			return nil
		}
		s.polling = false
		if !s.pollWanted(t) {
			return nil
		}
		return tea.Batch(s.run(t), s.ensurePolling(t))
	case watchStatusMsg:
		if msg.err != nil {
			s.failing[msg.source] = msg.err.Error()
		} else {
			delete(s.failing, msg.source)
		}
	case checkedMsg:
		s.running[msg.ref] = false
		if s.ctx.Err() != nil {
			return nil
		}
		s.results[msg.ref] = outcomeOf{result: msg.result, err: msg.err, at: s.c.now()}
		if s.again[msg.ref] {
			s.again[msg.ref] = false
			if msg.ref == t.step.Ref() {
				return s.run(t)
			}
		}
		if msg.ref == t.step.Ref() {
			// An API server restarting after a manifest edit: keep asking.
			return s.ensurePolling(t)
		}
	}
	return nil
}

// unreachable says the step's last check could not reach the cluster or
// the registry (an API server restarting, say): it is tried again.
func (s *checkScheduler) unreachable(ref string) bool {
	o, ok := s.results[ref]
	return ok && errors.Is(o.err, check.ErrUnreachable)
}

// run checks the step, unless it can't run yet.
func (s *checkScheduler) run(t checkTarget) tea.Cmd {
	ref := t.step.Ref()
	if t.step.IsQuiz() {
		if t.answer == "" {
			return nil
		}
	} else if !t.ready {
		return nil
	}
	if s.running[ref] {
		s.again[ref] = true
		return nil
	}
	s.running[ref] = true
	return checkCmd(s.ctx, t.step, withPrinter(t.env, t.p), t.vals, t.answer)
}

// enter starts what a step needs when it becomes current (or when the
// sandbox becomes ready under it): a first check and the slow poll.
func (s *checkScheduler) enter(t checkTarget) tea.Cmd {
	cmds := []tea.Cmd{s.ensurePolling(t)}
	if t.step.Needs().Sandbox() || t.answer != "" {
		cmds = append(cmds, s.run(t))
	}
	return tea.Batch(cmds...)
}

// forget drops a step's verdict (its answer changed, or it was reset).
func (s *checkScheduler) forget(ref string) { delete(s.results, ref) }

func (s *checkScheduler) result(ref string) (outcomeOf, bool) {
	out, ok := s.results[ref]
	return out, ok
}

// watch starts the watchers once, in the background, on everything the
// curriculum's checks watch; they post changes and failures to the app
// until it ends.
func (s *checkScheduler) watch(env *check.Env, steps []*lessons.Step) tea.Cmd {
	if s.disabled || s.watching {
		return nil
	}
	s.watching = true
	ctx, bus, changes := s.ctx, s.bus, s.changes
	defs := make([]check.Definition, len(steps))
	for i, st := range steps {
		defs[i] = st.Definition()
	}
	subjects := check.WatchedBy(defs...)
	return func() tea.Msg {
		check.Watch(ctx, env, subjects,
			func(c check.Change) { changes.add(c.Kind) },
			func(source string, err error) { post(ctx, bus, watchStatusMsg{source: source, err: err}) })
		return nil
	}
}

// watchesAny says a definition's verdict depends on one of kinds.
func watchesAny(def check.Definition, kinds map[string]bool) bool {
	for k := range kinds {
		if def.Watching(k) {
			return true
		}
	}
	return false
}

// watchFailing says a watch the definition depends on is failing.
func (s *checkScheduler) watchFailing(def check.Definition) bool {
	for src := range s.failing {
		if def.Watching(src) {
			return true
		}
	}
	return false
}

// pollWanted says the step needs a poll: its verdict depends on something
// no watch sees (an image pushed to the registry), or a watch it depends
// on failed.
func (s *checkScheduler) pollWanted(t checkTarget) bool {
	if !t.ready || !t.step.Needs().Sandbox() || s.disabled {
		return false
	}
	if s.unavailable(t.step.Ref()) {
		return false // nothing will change that by asking again
	}
	def := t.step.Definition()
	return def.Polls() || s.watchFailing(def) || s.unreachable(t.step.Ref())
}

// unavailable says the step cannot run on this sandbox at all.
func (s *checkScheduler) unavailable(ref string) bool {
	o, ok := s.results[ref]
	return ok && errors.Is(o.err, check.ErrUnavailable)
}

// pollEvery is how often a step is polled, when it is.
func (s *checkScheduler) pollEvery(def check.Definition) time.Duration {
	if s.watchFailing(def) {
		return check.WatchFailedPollInterval
	}
	return check.RegistryPollInterval
}

// polledWhat names what polling a step asks, for the status line.
func polledWhat(p *i18n.Printer, def check.Definition) string {
	switch {
	case def.Watching(check.RegistryRepository.Kind):
		return p.T("the registry")
	case def.Watching(check.KubeletConfig.Kind):
		return p.T("the kubelet")
	case def.Watching(check.APIServerManifest.Kind):
		return p.T("the API server")
	}
	return p.T("the sandbox")
}

func (s *checkScheduler) ensurePolling(t checkTarget) tea.Cmd {
	if s.polling || !s.pollWanted(t) {
		return nil
	}
	s.polling = true
	s.pollSeq++
	seq := s.pollSeq
	return tea.Tick(s.pollEvery(t.step.Definition()), func(time.Time) tea.Msg { return pollMsg{seq} })
}

// status says how the step is kept up to date, for the result panel.
func (s *checkScheduler) status(t checkTarget) string {
	p := s.c.p
	def := t.step.Definition()
	switch {
	case s.disabled:
		return p.T("press c to check")
	case s.unavailable(t.step.Ref()):
		return p.T("the lessons go on without this step; its check is skipped here")
	case s.unreachable(t.step.Ref()):
		return p.T("not answering (restarting?): checking again every %s; c checks now", s.pollEvery(def))
	case s.watchFailing(def):
		return p.T("watching failed (%s): checking every %s; c checks now", s.failingSummary(p), s.pollEvery(def))
	case s.pollWanted(t):
		return p.T("checking %s every %s; c checks now", polledWhat(p, def), s.pollEvery(def))
	}
	return p.T("watching namespace %s and your docker login · c checks now", t.vals.Namespace)
}

func (s *checkScheduler) failingSummary(p *i18n.Printer) string {
	var out []string
	for src, err := range s.failing {
		out = append(out, src+": "+err)
	}
	if len(out) == 1 {
		return ansi.Truncate(out[0], 60, "…")
	}
	return p.T("%d sources", len(out))
}

// withPrinter is env for a check whose findings are in p's language: a
// copy, since checks already running still read the old one.
func withPrinter(env *check.Env, p *i18n.Printer) *check.Env {
	if env == nil {
		return &check.Env{Printer: p}
	}
	e := *env
	e.Printer = p
	return &e
}

// checkCmd runs a step's check.
func checkCmd(ctx context.Context, step *lessons.Step, env *check.Env, vals lessons.Values, answer string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		res, err := step.Run(ctx, env, vals, answer)
		return checkedMsg{ref: step.Ref(), answer: answer, result: res, err: err}
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
