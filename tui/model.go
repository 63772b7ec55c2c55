package tui

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
)

// Model is the root model. It owns the components and the shared state,
// routes each message to the component it is for (keys to the focused
// one), turns the components' requests into actions on the course, and
// composes their views.
type Model struct {
	ctx    context.Context
	cancel context.CancelFunc
	c      *common
	course *course
	bus    chan tea.Msg
	envCmd string
	// curricula gives the lessons in another language (Options.Curricula).
	curricula func(i18n.Lang) (*lessons.Curriculum, error)

	sandbox sandboxTracker
	checks  checkScheduler
	text    stepText
	panel   resultPanel
	answer  answerField
	sidebar sidebar
	dialog  dialogs

	spinner spinner.Model
	spin    bool

	warning   string
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
	p := i18n.For(opts.Lang)
	c := &common{dark: true, keys: KeyMapIn(p), p: p, now: now}
	c.restyle()
	bus := make(chan tea.Msg, 64)
	co := newCourse(opts.Curriculum, opts.Progress)
	m := &Model{
		ctx: ctx, cancel: cancel, c: c, course: co, bus: bus, envCmd: opts.EnvCommand, curricula: opts.Curricula,
		sandbox: newSandboxTracker(ctx, c, opts.Sandbox, bus, opts.UpCommand),
		checks:  newCheckScheduler(ctx, c, bus, opts.DisableWatch),
		text:    newStepText(c, co.step()),
		panel:   newResultPanel(c),
		answer:  newAnswerField(c, co.store, co.step()),
		sidebar: newSidebar(c, opts.Curriculum, co.store, co.step()),
		dialog:  newDialogs(c),
		spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
	}
	c.frame = m.spinner.View()
	if opts.ProgressWarning != nil {
		m.warning = opts.ProgressWarning.Error()
	}
	return m
}

// Init starts the sandbox and the listeners; it returns at once.
func (m *Model) Init() tea.Cmd {
	m.spin = true
	cmds := []tea.Cmd{
		m.sandbox.Init(),
		listenBus(m.ctx, m.bus),
		m.checks.Init(),
		tea.RequestBackgroundColor,
		m.spinner.Tick,
	}
	if m.course.allPassed() {
		m.dialog.showFinish(len(m.course.steps), len(m.course.cur.Lessons))
	}
	if m.course.step().IsQuiz() && m.course.answer() != "" {
		cmds = append(cmds, m.checks.run(m.target()))
	}
	return tea.Batch(cmds...)
}

// Update routes one message. It never blocks: I/O goes out as Cmds.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.width, m.c.height = msg.Width, msg.Height
	case tea.BackgroundColorMsg:
		if m.c.dark != msg.IsDark() {
			m.c.dark = msg.IsDark()
			m.restyle()
		}
	case busMsg:
		_, cmd = m.Update(msg.msg)
		return m, tea.Batch(listenBus(m.ctx, m.bus), cmd)
	case sandboxEventMsg:
		cmd = m.sandbox.Update(msg)
	case sandboxDoneMsg:
		was := m.sandbox.ready()
		cmd = m.sandbox.Update(msg)
		if !was && m.sandbox.ready() {
			cmd = tea.Batch(cmd, m.checks.watch(m.sandbox.env, m.course.steps), m.checks.enter(m.target()), m.setUpIfNew())
		}
	case changeMsg, debounceMsg, pollMsg, watchStatusMsg:
		cmd = m.checks.Update(msg, m.target())
	case checkedMsg:
		cmd = m.onChecked(msg)
	case renderedMsg:
		cmd = m.text.Update(msg)
	case savedMsg:
		m.course.saveErr = msg.err
	case resetMsg:
		cmd = m.onReset(msg)
	case shellReadyMsg:
		if msg.err != nil {
			cmd = m.panel.setFlash(m.c.p.T("cannot open the sandbox shell: %v", msg.err))
		} else {
			cmd = tea.ExecProcess(msg.cmd, func(err error) tea.Msg { return shellDoneMsg{err} })
		}
	case shellDoneMsg:
		var exit *exec.ExitError
		if msg.err != nil && !errors.As(msg.err, &exit) { // the shell's last status is the learner's business
			cmd = m.panel.setFlash(m.c.p.T("the shell ended with: %v", msg.err))
		}
		cmd = tea.Batch(cmd, m.checks.run(m.target())) // the learner probably did something
	case removedMsg:
		m.dialog.removing, m.removed, m.removeErr = false, msg.err == nil, msg.err
		return m, tea.Quit
	case flashDoneMsg:
		cmd = m.panel.Update(msg)
	case retryTickMsg:
		cmd = m.answer.Update(msg)
	case openStepMsg:
		cmd = m.goTo(m.course.indexOf(msg.step))
	case answerMsg:
		cmd = m.onAnswer(msg)
	case confirmedMsg:
		cmd = m.onConfirmed(msg)
	case askQuitMsg:
		cmd = m.askQuit()
	case removeSandboxMsg:
		m.cancel() // stop watching what is about to go
		cmd = m.sandbox.removeCmd()
	case spinner.TickMsg:
		if m.busy() {
			m.spinner, cmd = m.spinner.Update(msg)
			m.c.frame = m.spinner.View()
		} else {
			m.spin = false // let the tick chain end while idle
		}
	case tea.MouseWheelMsg:
		cmd = m.onWheel(msg)
	case tea.KeyPressMsg:
		cmd = m.onKey(msg)
	default:
		cmd = m.answer.Update(msg) // the cursor's blink
	}
	return m, tea.Batch(cmd, m.refresh())
}

// target is the current step as the checks see it.
func (m *Model) target() checkTarget {
	s := m.course.step()
	t := checkTarget{step: s, ready: m.sandbox.ready(), env: m.sandbox.env, vals: m.sandbox.vals, p: m.c.p}
	if s.IsQuiz() {
		t.answer = m.course.answer()
	}
	return t
}

// busy says something is in progress that the spinner shows.
func (m *Model) busy() bool {
	return m.sandbox.state == sandboxStarting || m.checks.running[m.course.step().Ref()] || m.dialog.removing
}

func (m *Model) startSpinner() tea.Cmd {
	if m.spin {
		return nil
	}
	m.spin = true
	return m.spinner.Tick
}

func (m *Model) restyle() {
	m.c.restyle()
	m.dialog.restyle()
	m.answer.restyle()
}

// refresh brings derived state up to date after every message: the keys
// that apply, the layout, a new rendering of the text when needed, and
// the tickers of what is busy.
func (m *Model) refresh() tea.Cmd {
	m.enableKeys()
	m.layout()
	var spin tea.Cmd
	if m.busy() {
		spin = m.startSpinner()
	}
	return tea.Batch(m.text.sync(m.sandbox.vals, m.course.hintsShown()), spin, m.answer.tick())
}

// onKey routes a key: an open dialog takes them all, then the focused
// component, then the app's own keys; what is left scrolls the step.
func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	switch {
	case key.Matches(msg, k.ForceQuit):
		return tea.Quit // keeps the sandbox, no questions
	case m.dialog.open():
		return m.dialog.Update(msg)
	case m.answer.focused():
		return m.answer.Update(msg)
	case m.sidebar.handles(msg):
		return m.sidebar.Update(msg)
	}
	s := m.course.step()
	switch {
	case key.Matches(msg, k.Quit):
		return m.askQuit()
	case key.Matches(msg, k.Help):
		m.dialog.showHelp(m.FullHelp())
	case key.Matches(msg, k.Lang):
		return m.switchLang(m.c.p.Lang().Next())
	case key.Matches(msg, k.Next):
		return m.goTo(m.course.idx + 1)
	case key.Matches(msg, k.Prev):
		return m.goTo(m.course.idx - 1)
	case key.Matches(msg, k.Lessons):
		m.sidebar.focus()
	case key.Matches(msg, k.JumpLesson):
		if target, ok := m.course.lessonTarget(int(msg.Code - '1')); ok {
			return m.goTo(m.course.indexOf(target))
		}
	case key.Matches(msg, k.Hint):
		return m.showHint()
	case key.Matches(msg, k.Solution):
		m.dialog.ask(confirmSolution, s.Ref(), m.c.p.T("Show the solution?"), m.c.p.T("You learn more by trying: a hint (h) may be all you need."))
	case key.Matches(msg, k.Reset):
		body := m.c.p.T("This forgets the step's progress, answer and hints.")
		if m.sandbox.canReset(s) {
			body = m.c.p.T("This deletes what the step made in the sandbox (%s) and forgets its progress, answer and hints.", strings.Join(s.ResetItems(m.sandbox.vals), ", "))
		}
		m.dialog.ask(confirmReset, s.Ref(), m.c.p.T("Reset this step?"), body)
	case key.Matches(msg, k.Answer):
		return m.answer.focus()
	case key.Matches(msg, k.Check):
		return tea.Batch(m.checks.run(m.target()), m.panel.setFlash(m.c.p.T("checking now")))
	case key.Matches(msg, k.Shell):
		return m.sandbox.shellCmd(false)
	case key.Matches(msg, k.NodeShell):
		return m.sandbox.shellCmd(true)
	case key.Matches(msg, k.Retry):
		return m.sandbox.retry()
	default:
		return tea.Batch(m.text.Update(msg), m.panel.Update(msg))
	}
	return nil
}

// onWheel scrolls the pane under the pointer.
func (m *Model) onWheel(msg tea.MouseWheelMsg) tea.Cmd {
	switch {
	case m.dialog.open():
		return nil
	case msg.X < m.lay.sidebarW:
		return m.sidebar.Update(msg)
	case msg.Y >= m.lay.panelY:
		return m.panel.Update(msg)
	}
	return m.text.Update(msg)
}

// outcome is what Run reports.
func (m *Model) outcome() Outcome {
	return Outcome{
		Sandbox: m.sandbox.sb, Removed: m.removed, RemoveErr: m.removeErr,
		Starting: m.sandbox.state == sandboxStarting, starting: m.sandbox.inflight,
		Lang: m.c.p.Lang(),
	}
}
