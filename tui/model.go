package tui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
)

// common is the state every component reads: size, styles, keys, clock.
type common struct {
	width, height int
	dark          bool
	styles        Styles
	keys          KeyMap
	now           func() time.Time
}

// restyle rebuilds the styles for the background. Without colour
// (NO_COLOR) the same styles are used: the renderer drops the colours and
// keeps bold and underline, which read better than raw markdown.
func (c *common) restyle() { c.styles = DefaultStyles(c.dark) }

// sandboxState is where the sandbox is.
type sandboxState int

const (
	sandboxStarting sandboxState = iota
	sandboxReady
	sandboxFailed
)

// sandboxStatus is what the app knows of the sandbox.
type sandboxStatus struct {
	state   sandboxState
	attempt int
	started time.Time
	phase   sandbox.Phase
	message string
	sb      *sandbox.Sandbox
	env     *check.Env
	vals    lessons.Values
	err     error
}

// outcomeOf is a step's latest check.
type outcomeOf struct {
	result check.Result
	err    error
	at     time.Time
}

// focus is which component gets the keys.
type focus int

const (
	focusContent focus = iota
	focusSidebar
	focusAnswer
)

// overlay is a dialog or screen drawn over the app.
type overlay int

const (
	overlayNone overlay = iota
	overlayHelp
	overlayConfirm
	overlayQuit
	overlayFinish
)

// confirmKind is what a yes/no dialog is about.
type confirmKind int

const (
	confirmSolution confirmKind = iota
	confirmReset
)

// Model is the root model: it owns the components and the shared state,
// routes keys to the focused component and runs all I/O in Cmds.
type Model struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	c      *common

	steps []*lessons.Step
	idx   int
	store *progress.Store

	sb sandboxStatus
	// starting counts sandbox starts still running, so quitting can wait
	// for a cancelled creation to clean up after itself.
	starting *sync.WaitGroup
	bus      chan tea.Msg
	changes  *changeSet

	results  map[string]outcomeOf
	running  map[string]bool
	again    map[string]bool
	solution map[string]bool
	debounce int

	// Watching and polling.
	watching bool
	failing  map[string]string
	polling  bool
	pollSeq  int

	// Step text.
	content  viewport.Model
	rendered renderKey
	pending  renderKey
	hasText  bool
	toBottom bool

	panel   viewport.Model
	answer  textinput.Model
	help    help.Model
	spinner spinner.Model
	spin    bool

	sidebar sidebar
	focus   focus
	overlay overlay
	confirm confirmKind
	quitSel int // 0 keep, 1 remove

	warning  string
	flash    string
	flashSeq int

	saver   *saver
	saveSeq int
	saveErr error

	removing  bool
	removed   bool
	removeErr error
	lay       layout
}

// New builds the app. Nothing slow happens here or in Init: the sandbox
// starts and the markdown renders in Cmds after the first frame.
func New(ctx context.Context, opts Options) *Model {
	ctx, cancel := context.WithCancel(ctx)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.EnvCommand == "" {
		opts.EnvCommand = `eval "$(imagelab env)"`
	}
	if opts.UpCommand == "" {
		opts.UpCommand = "imagelab up"
	}
	c := &common{dark: true, keys: DefaultKeyMap(), now: now}
	c.restyle()
	m := &Model{
		opts: opts, ctx: ctx, cancel: cancel, c: c,
		steps:    opts.Curriculum.Steps(),
		store:    opts.Progress,
		bus:      make(chan tea.Msg, 64),
		starting: &sync.WaitGroup{},
		changes:  newChangeSet(),
		results:  map[string]outcomeOf{},
		running:  map[string]bool{},
		again:    map[string]bool{},
		solution: map[string]bool{},
		failing:  map[string]string{},
		saver:    &saver{},
		help:     help.New(),
		spinner:  spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		content:  viewport.New(),
		panel:    viewport.New(),
	}
	if m.store == nil {
		m.store = &progress.Store{State: progress.State{Steps: map[string]*progress.Step{}}}
	}
	if opts.ProgressWarning != nil {
		m.warning = opts.ProgressWarning.Error()
	}
	m.content.KeyMap = viewport.KeyMap{} // the root maps keys; h and l mean other things here
	m.panel.KeyMap = viewport.KeyMap{}
	m.answer = textinput.New()
	m.answer.Prompt = "› "
	m.answer.Placeholder = "type your answer"
	m.answer.CharLimit = 200
	m.sidebar = sidebar{c: c, cur: opts.Curriculum, store: m.store}
	m.idx = m.resumeIndex()
	m.sidebar.cursorTo(m.step())
	m.sb = sandboxStatus{state: sandboxStarting, attempt: 1, started: now(), vals: lessons.Placeholder()}
	m.restyle()
	return m
}

// resumeIndex is where the learner left off, else the first step not passed.
func (m *Model) resumeIndex() int {
	for i, s := range m.steps {
		if s.Ref() == m.store.State.Current {
			return i
		}
	}
	for i, s := range m.steps {
		if !m.store.Passed(s.Ref()) {
			return i
		}
	}
	return 0
}

func (m *Model) step() *lessons.Step { return m.steps[m.idx] }

// Init starts the sandbox and the listeners; it returns at once.
func (m *Model) Init() tea.Cmd {
	m.spin = true
	cmds := []tea.Cmd{
		startSandboxCmd(m.ctx, m.opts, m.sb.attempt, m.bus, m.starting),
		listenBus(m.ctx, m.bus),
		listenChanges(m.ctx, m.changes),
		tea.RequestBackgroundColor,
		m.spinner.Tick,
	}
	if m.allPassed() {
		m.overlay = overlayFinish
	}
	if s := m.step(); s.IsQuiz() && m.store.Step(s.Ref()).Answer != "" {
		cmds = append(cmds, m.runCheck())
	}
	return tea.Batch(cmds...)
}

// Update handles one message. It never blocks: I/O goes out as Cmds.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.width, m.c.height = msg.Width, msg.Height
	case tea.BackgroundColorMsg:
		if m.c.dark != msg.IsDark() {
			m.c.dark = msg.IsDark()
			m.restyle()
		}
	case busMsg:
		cmds = append(cmds, listenBus(m.ctx, m.bus))
		_, cmd := m.Update(msg.msg)
		return m, tea.Batch(append(cmds, cmd)...)
	case sandboxEventMsg:
		m.onSandboxEvent(msg)
	case sandboxDoneMsg:
		cmds = append(cmds, m.onSandboxDone(msg))
	case changeMsg:
		cmds = append(cmds, listenChanges(m.ctx, m.changes))
		if m.sb.state == sandboxReady && m.watchesAny(m.changes.take()) {
			m.debounce++
			seq := m.debounce
			cmds = append(cmds, tea.Tick(debounceDelay, func(time.Time) tea.Msg { return debounceMsg{seq} }))
		}
	case debounceMsg:
		if msg.seq == m.debounce {
			cmds = append(cmds, m.runCheck())
		}
	case pollMsg:
		cmds = append(cmds, m.onPoll(msg))
	case watchStatusMsg:
		if msg.err != nil {
			m.failing[msg.source] = msg.err.Error()
		} else {
			delete(m.failing, msg.source)
		}
	case checkedMsg:
		cmds = append(cmds, m.onChecked(msg))
	case renderedMsg:
		m.onRendered(msg)
	case savedMsg:
		m.saveErr = msg.err
	case resetMsg:
		cmds = append(cmds, m.onReset(msg))
	case shellReadyMsg:
		if msg.err != nil {
			cmds = append(cmds, m.setFlash("cannot open the sandbox shell: "+msg.err.Error()))
		} else {
			cmds = append(cmds, tea.ExecProcess(msg.cmd, func(err error) tea.Msg { return shellDoneMsg{err} }))
		}
	case shellDoneMsg:
		var exit *exec.ExitError
		if msg.err != nil && !errors.As(msg.err, &exit) { // the shell's last status is the learner's business
			cmds = append(cmds, m.setFlash("the shell ended with: "+msg.err.Error()))
		}
		cmds = append(cmds, m.runCheck()) // the learner probably did something
	case removedMsg:
		m.removing, m.removed, m.removeErr = false, msg.err == nil, msg.err
		return m, tea.Quit
	case flashDoneMsg:
		if msg.seq == m.flashSeq {
			m.flash = ""
		}
	case spinner.TickMsg:
		if m.busy() {
			var cmd tea.Cmd
			m.spinner, cmd = m.spinner.Update(msg)
			cmds = append(cmds, cmd)
		} else {
			m.spin = false // let the tick chain end while idle
		}
	case tea.MouseWheelMsg:
		m.onWheel(msg)
	case tea.KeyPressMsg:
		cmds = append(cmds, m.onKey(msg))
	default:
		if m.focus == focusAnswer { // the cursor's blink
			var cmd tea.Cmd
			m.answer, cmd = m.answer.Update(msg)
			cmds = append(cmds, cmd)
		}
	}
	cmds = append(cmds, m.refresh())
	return m, tea.Batch(cmds...)
}

// busy says something is in progress that the spinner shows.
func (m *Model) busy() bool {
	return m.sb.state == sandboxStarting || m.running[m.step().Ref()] || m.removing
}

func (m *Model) onSandboxEvent(msg sandboxEventMsg) {
	if msg.attempt != m.sb.attempt || m.sb.state != sandboxStarting || msg.event.Log {
		return
	}
	m.sb.phase, m.sb.message = msg.event.Phase, msg.event.Message
}

func (m *Model) onSandboxDone(msg sandboxDoneMsg) tea.Cmd {
	if msg.attempt != m.sb.attempt {
		return nil
	}
	if msg.err != nil {
		if m.ctx.Err() != nil {
			return nil
		}
		m.sb.state, m.sb.err = sandboxFailed, msg.err
		return nil
	}
	m.sb.state, m.sb.sb, m.sb.env, m.sb.vals, m.sb.err = sandboxReady, msg.sb, msg.env, msg.vals, nil
	var cmds []tea.Cmd
	if !m.opts.DisableWatch && !m.watching {
		m.watching = true
		cmds = append(cmds, m.startWatch(msg.env))
	}
	cmds = append(cmds, m.enterStep()...)
	return tea.Batch(cmds...)
}

// startWatch starts the watchers in the background, on everything the
// curriculum's checks watch; they post changes and failures to the app
// until it ends.
func (m *Model) startWatch(env *check.Env) tea.Cmd {
	ctx, bus, changes := m.ctx, m.bus, m.changes
	defs := make([]check.Definition, len(m.steps))
	for i, s := range m.steps {
		defs[i] = s.Definition()
	}
	subjects := check.WatchedBy(defs...)
	return func() tea.Msg {
		check.Watch(ctx, env, subjects,
			func(c check.Change) { changes.add(c.Kind) },
			func(source string, err error) { post(ctx, bus, watchStatusMsg{source: source, err: err}) })
		return nil
	}
}

// needsSandbox says the current step's check talks to the sandbox.
func (m *Model) needsSandbox() bool { return m.step().Needs().Sandbox() }

// watchesAny says the current step's verdict depends on one of kinds.
func (m *Model) watchesAny(kinds map[string]bool) bool {
	def := m.step().Definition()
	for k := range kinds {
		if def.Watching(k) {
			return true
		}
	}
	return false
}

// watchFailing says a watch the current step depends on is failing.
func (m *Model) watchFailing() bool {
	def := m.step().Definition()
	for src := range m.failing {
		if def.Watching(src) {
			return true
		}
	}
	return false
}

// pollWanted says the current step needs a poll: its verdict depends on
// something no watch sees (an image pushed to the registry), or a watch
// it depends on failed.
func (m *Model) pollWanted() bool {
	if m.sb.state != sandboxReady || !m.needsSandbox() || m.opts.DisableWatch {
		return false
	}
	return m.step().Definition().Polls() || m.watchFailing()
}

// pollEvery is how often the current step is polled, when it is.
func (m *Model) pollEvery() time.Duration {
	if m.watchFailing() {
		return check.WatchFailedPollInterval
	}
	return check.RegistryPollInterval
}

func (m *Model) ensurePolling() tea.Cmd {
	if m.polling || !m.pollWanted() {
		return nil
	}
	m.polling = true
	m.pollSeq++
	seq := m.pollSeq
	return tea.Tick(m.pollEvery(), func(time.Time) tea.Msg { return pollMsg{seq} })
}

func (m *Model) onPoll(msg pollMsg) tea.Cmd {
	if msg.seq != m.pollSeq {
		return nil
	}
	m.polling = false
	if !m.pollWanted() {
		return nil
	}
	return tea.Batch(m.runCheck(), m.ensurePolling())
}

// runCheck checks the current step, unless it can't run yet. A check
// asked for while one runs is run again once it ends.
func (m *Model) runCheck() tea.Cmd {
	s := m.step()
	ref := s.Ref()
	answer := ""
	if s.IsQuiz() {
		answer = m.store.Step(ref).Answer
		if answer == "" {
			return nil
		}
	} else if m.sb.state != sandboxReady {
		return nil
	}
	if m.running[ref] {
		m.again[ref] = true
		return nil
	}
	m.running[ref] = true
	return tea.Batch(checkCmd(m.ctx, s, m.sb.env, m.sb.vals, answer), m.startSpinner())
}

func (m *Model) startSpinner() tea.Cmd {
	if m.spin {
		return nil
	}
	m.spin = true
	return m.spinner.Tick
}

func (m *Model) onChecked(msg checkedMsg) tea.Cmd {
	m.running[msg.ref] = false
	if m.ctx.Err() != nil {
		return nil
	}
	m.results[msg.ref] = outcomeOf{result: msg.result, err: msg.err, at: m.c.now()}
	var cmds []tea.Cmd
	if msg.err == nil && msg.result.Passed && !m.store.Passed(msg.ref) {
		m.store.MarkPassed(msg.ref, m.c.now())
		cmds = append(cmds, m.save())
		if m.allPassed() {
			m.overlay = overlayFinish
		}
	}
	if m.again[msg.ref] {
		m.again[msg.ref] = false
		if msg.ref == m.step().Ref() {
			cmds = append(cmds, m.runCheck())
		}
	}
	return tea.Batch(cmds...)
}

func (m *Model) onReset(msg resetMsg) tea.Cmd {
	m.store.Reset(msg.ref)
	delete(m.results, msg.ref)
	delete(m.solution, msg.ref)
	if msg.ref == m.step().Ref() {
		m.answer.SetValue("")
	}
	cmds := []tea.Cmd{m.save()}
	if msg.err != nil {
		cmds = append(cmds, m.setFlash("reset: "+msg.err.Error()))
	} else if m.opts.ResetStep == nil || m.sb.sb == nil {
		cmds = append(cmds, m.setFlash("progress reset (what you made in the sandbox is left as it is)"))
	} else {
		cmds = append(cmds, m.setFlash("step reset"))
	}
	if msg.ref == m.step().Ref() {
		m.toBottom = false
		m.content.GotoTop()
		cmds = append(cmds, m.runCheck())
	}
	return tea.Batch(cmds...)
}

// save writes a snapshot of the progress in a Cmd.
func (m *Model) save() tea.Cmd {
	m.saveSeq++
	return m.saver.saveCmd(m.saveSeq, m.store.Clone())
}

// flush saves the progress once more after the program ended: a save
// still running in a Cmd when the learner quit is not lost.
func (m *Model) flush() error {
	m.saveSeq++
	if msg, ok := m.saver.saveCmd(m.saveSeq, m.store.Clone())().(savedMsg); ok {
		return msg.err
	}
	return nil
}

func (m *Model) allPassed() bool {
	for _, s := range m.steps {
		if !m.store.Passed(s.Ref()) {
			return false
		}
	}
	return len(m.steps) > 0
}

func (m *Model) setFlash(s string) tea.Cmd {
	m.flash = s
	m.flashSeq++
	return flashCmd(m.flashSeq)
}

// goTo moves to step i and saves where the learner is.
func (m *Model) goTo(i int) tea.Cmd {
	if i < 0 || i >= len(m.steps) || i == m.idx {
		return nil
	}
	if m.focus == focusAnswer {
		m.answer.Blur()
	}
	m.focus = focusContent
	m.idx = i
	m.sidebar.cursorTo(m.step())
	m.hasText = false
	m.toBottom = false
	m.content.SetContent("")
	m.content.GotoTop()
	m.panel.GotoTop()
	m.answer.SetValue(m.store.Step(m.step().Ref()).Answer)
	m.store.State.Current = m.step().Ref()
	return tea.Batch(append(m.enterStep(), m.save())...)
}

// enterStep starts what a step needs when it becomes current (or when the
// sandbox becomes ready under it): a first check and the slow poll.
func (m *Model) enterStep() []tea.Cmd {
	cmds := []tea.Cmd{m.ensurePolling()}
	if m.needsSandbox() || m.store.Step(m.step().Ref()).Answer != "" {
		cmds = append(cmds, m.runCheck())
	}
	return cmds
}

func (m *Model) restyle() {
	m.c.restyle()
	m.help.Styles = m.c.styles.Help
	st := textinput.DefaultStyles(m.c.dark)
	m.answer.SetStyles(st)
}

// wantRender is the rendering the step text should have now.
func (m *Model) wantRender() renderKey {
	s := m.step()
	return renderKey{
		ref: s.Ref(), width: m.lay.textWidth, style: m.c.styles.Glamour, vals: m.sb.vals,
		hints: m.hintsShown(), solution: m.solution[s.Ref()],
	}
}

func (m *Model) hintsShown() int {
	return min(m.store.Step(m.step().Ref()).Hints, len(m.step().Hints))
}

func (m *Model) onRendered(msg renderedMsg) {
	if msg.key == m.pending {
		m.pending = renderKey{}
	}
	if msg.key != m.wantRender() {
		return // stale: the step, size or style changed meanwhile
	}
	out := msg.out
	if msg.err != nil {
		out = m.step().Body(m.sb.vals) // raw markdown beats no text
	}
	sameStep := m.rendered.ref == msg.key.ref && m.hasText
	offset := m.content.YOffset()
	m.content.SetContent(out)
	m.rendered, m.hasText = msg.key, true
	switch {
	case m.toBottom:
		m.content.GotoBottom()
		m.toBottom = false
	case sameStep:
		m.content.SetYOffset(offset)
	default:
		m.content.GotoTop()
	}
}

// refresh brings derived state up to date after every message: the layout,
// the keys that apply, the result panel, and a new rendering when needed.
func (m *Model) refresh() tea.Cmd {
	m.updateKeys()
	m.layout()
	var cmds []tea.Cmd
	if m.lay.textWidth > 0 {
		want := m.wantRender()
		if want != m.rendered && want != m.pending {
			m.pending = want
			s := m.step()
			cmds = append(cmds, renderCmd(want, stepMarkdown(s, want.vals, want.hints, want.solution)))
		}
	}
	if m.busy() {
		cmds = append(cmds, m.startSpinner())
	}
	return tea.Batch(cmds...)
}

// updateKeys enables the bindings that do something now, so the help bar
// shows only those.
func (m *Model) updateKeys() {
	k := &m.c.keys
	s := m.step()
	quiz := s.IsQuiz()
	k.Next.SetEnabled(m.idx < len(m.steps)-1)
	k.Prev.SetEnabled(m.idx > 0)
	// h stays on when every hint is shown, to say there are no more.
	k.Hint.SetEnabled(len(s.Hints) > 0)

	k.Solution.SetEnabled(!m.solution[s.Ref()])
	k.Answer.SetEnabled(quiz)
	k.Check.SetEnabled(!quiz && m.sb.state == sandboxReady)
	k.Shell.SetEnabled(m.sb.state == sandboxReady && m.opts.ShellCommand != nil)
	k.Retry.SetEnabled(m.sb.state == sandboxFailed)
	k.JumpLesson.SetEnabled(len(m.opts.Curriculum.Lessons) > 1)
}

// onKey routes a key: overlays first, then the focused component, then
// the app's own keys.
func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	if key.Matches(msg, k.ForceQuit) {
		return tea.Quit // keeps the sandbox, no questions
	}
	switch m.overlay {
	case overlayHelp:
		if key.Matches(msg, k.Quit) {
			return m.askQuit()
		}
		m.overlay = overlayNone
		return nil
	case overlayFinish:
		if key.Matches(msg, k.Quit) {
			return m.askQuit()
		}
		m.overlay = overlayNone
		return nil
	case overlayConfirm:
		return m.onConfirmKey(msg)
	case overlayQuit:
		return m.onQuitKey(msg)
	}
	switch m.focus {
	case focusAnswer:
		return m.onAnswerKey(msg)
	case focusSidebar:
		if cmd, ok := m.onSidebarKey(msg); ok {
			return cmd
		}
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.askQuit()
	case key.Matches(msg, k.Help):
		m.overlay = overlayHelp
	case key.Matches(msg, k.Next):
		return m.goTo(m.idx + 1)
	case key.Matches(msg, k.Prev):
		return m.goTo(m.idx - 1)
	case key.Matches(msg, k.Lessons):
		m.focus = focusSidebar
		m.sidebar.cursorTo(m.step())
	case key.Matches(msg, k.JumpLesson):
		return m.jumpLesson(int(msg.Code - '1'))
	case key.Matches(msg, k.Hint):
		return m.showHint()
	case key.Matches(msg, k.Solution):
		if !m.solution[m.step().Ref()] {
			m.overlay, m.confirm = overlayConfirm, confirmSolution
		}
	case key.Matches(msg, k.Reset):
		m.overlay, m.confirm = overlayConfirm, confirmReset
	case key.Matches(msg, k.Answer):
		if m.step().IsQuiz() {
			m.focus = focusAnswer
			return m.answer.Focus()
		}
	case key.Matches(msg, k.Check):
		if m.sb.state == sandboxReady && !m.step().IsQuiz() {
			return tea.Batch(m.runCheck(), m.setFlash("checking now"))
		}
	case key.Matches(msg, k.Shell):
		return m.openShell()
	case key.Matches(msg, k.Retry):
		return m.retrySandbox()
	case key.Matches(msg, k.Up):
		m.content.ScrollUp(1)
	case key.Matches(msg, k.Down):
		m.content.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		m.content.PageUp()
	case key.Matches(msg, k.PageDown):
		m.content.PageDown()
	case key.Matches(msg, k.Top):
		m.content.GotoTop()
	case key.Matches(msg, k.Bottom):
		m.content.GotoBottom()
	case key.Matches(msg, k.MoreUp):
		m.panel.ScrollUp(2)
	case key.Matches(msg, k.MoreDown):
		m.panel.ScrollDown(2)
	}
	return nil
}

func (m *Model) jumpLesson(i int) tea.Cmd {
	ls := m.opts.Curriculum.Lessons
	if i < 0 || i >= len(ls) {
		return nil
	}
	target := ls[i].Steps[0]
	for _, s := range ls[i].Steps {
		if !m.store.Passed(s.Ref()) {
			target = s
			break
		}
	}
	return m.goTo(m.indexOf(target))
}

func (m *Model) indexOf(s *lessons.Step) int {
	for i, x := range m.steps {
		if x == s {
			return i
		}
	}
	return m.idx
}

func (m *Model) showHint() tea.Cmd {
	s := m.step()
	rec := m.store.Step(s.Ref())
	if rec.Hints >= len(s.Hints) {
		if len(s.Hints) == 0 {
			return m.setFlash("this step has no hints — s shows the solution")
		}
		return m.setFlash("no more hints — s shows the solution")
	}
	rec.Hints++
	m.toBottom = true
	return m.save()
}

func (m *Model) onConfirmKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	switch {
	case key.Matches(msg, k.Yes):
		m.overlay = overlayNone
		s := m.step()
		switch m.confirm {
		case confirmSolution:
			m.solution[s.Ref()] = true
			m.toBottom = true
		case confirmReset:
			return resetCmd(m.ctx, m.opts, m.sb.sb, s)
		}
	case key.Matches(msg, k.No), key.Matches(msg, k.Quit):
		m.overlay = overlayNone
	}
	return nil
}

// askQuit opens the quit dialog when there is a sandbox to keep or
// remove; otherwise it quits.
func (m *Model) askQuit() tea.Cmd {
	if m.sb.state != sandboxReady || m.opts.RemoveSandbox == nil {
		return tea.Quit
	}
	m.overlay, m.quitSel = overlayQuit, 0
	return nil
}

func (m *Model) onQuitKey(msg tea.KeyPressMsg) tea.Cmd {
	if m.removing {
		return nil
	}
	k := m.c.keys
	switch {
	case key.Matches(msg, k.Keep):
		return tea.Quit
	case key.Matches(msg, k.Remove):
		return m.remove()
	case key.Matches(msg, k.Toggle):
		m.quitSel = 1 - m.quitSel
	case msg.String() == "enter":
		if m.quitSel == 1 {
			return m.remove()
		}
		return tea.Quit
	case msg.String() == "esc":
		m.overlay = overlayNone
	}
	return nil
}

func (m *Model) remove() tea.Cmd {
	m.removing = true
	m.cancel() // stop watching what is about to go
	return tea.Batch(removeCmd(m.opts, m.sb.sb), m.startSpinner())
}

func (m *Model) onAnswerKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	switch {
	case key.Matches(msg, k.Cancel):
		m.focus = focusContent
		m.answer.Blur()
		return nil
	case key.Matches(msg, k.Submit):
		s := m.step()
		ans := m.answer.Value()
		if ans == "" {
			return nil
		}
		m.store.Step(s.Ref()).Answer = ans
		delete(m.results, s.Ref())
		return tea.Batch(m.save(), m.runCheck())
	}
	var cmd tea.Cmd
	m.answer, cmd = m.answer.Update(msg)
	return cmd
}

func (m *Model) openShell() tea.Cmd {
	if m.sb.state != sandboxReady || m.opts.ShellCommand == nil {
		return m.setFlash("the sandbox shell opens once the sandbox is ready")
	}
	return shellCmd(m.opts, m.sb.sb)
}

func (m *Model) retrySandbox() tea.Cmd {
	if m.sb.state != sandboxFailed {
		return nil
	}
	m.sb = sandboxStatus{state: sandboxStarting, attempt: m.sb.attempt + 1, started: m.c.now(), vals: m.sb.vals}
	return startSandboxCmd(m.ctx, m.opts, m.sb.attempt, m.bus, m.starting)
}

func (m *Model) onWheel(msg tea.MouseWheelMsg) {
	if m.overlay != overlayNone {
		return
	}
	vp := &m.content
	switch {
	case msg.X < m.lay.sidebarW:
		if msg.Button == tea.MouseWheelUp {
			m.sidebar.scroll(-3)
		} else if msg.Button == tea.MouseWheelDown {
			m.sidebar.scroll(3)
		}
		return
	case msg.Y >= m.lay.panelY:
		vp = &m.panel
	}
	switch msg.Button {
	case tea.MouseWheelUp:
		vp.ScrollUp(3)
	case tea.MouseWheelDown:
		vp.ScrollDown(3)
	}
}

// outcome is what Run reports.
func (m *Model) outcome() Outcome {
	return Outcome{Sandbox: m.sb.sb, Removed: m.removed, RemoveErr: m.removeErr, Starting: m.sb.state == sandboxStarting, starting: m.starting}
}

// sandboxProblem is the banner's text for a failed sandbox: what happened
// and what to do.
func (m *Model) sandboxProblem() (title, body string) {
	err := m.sb.err
	if errors.Is(err, sandbox.ErrNoSandbox) {
		return "No sandbox yet.", fmt.Sprintf("Run %s in another terminal, then press u. Steps that need no cluster work meanwhile.", m.opts.UpCommand)
	}
	return "The sandbox could not start.", fmt.Sprintf("%v. Fix that (imagelab status shows what is there), then press u to try again. Steps that need no cluster still work.", err)
}
