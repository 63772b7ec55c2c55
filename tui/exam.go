package tui

import (
	"context"
	"errors"
	"os/exec"
	"time"

	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
)

// ExamRunner is what the exam screen asks of imagelab; internal/app
// implements it. Every method is called from a tea.Cmd, never from Update,
// and gets an exam of its own (a Clone) to read or change.
type ExamRunner interface {
	// Open returns the attempt in progress, else draws and prepares a new
	// one; report says what is being prepared (from any goroutine).
	Open(ctx context.Context, report func(exam.Progress)) (*exam.Exam, error)
	// Values are what a task's text is rendered with.
	Values(x *exam.Exam, t *exam.Task) lessons.Values
	// Save keeps the attempt (flags, time spent).
	Save(x *exam.Exam) error
	// Submit checks every task once, scores the exam, cleans up and saves it.
	Submit(ctx context.Context, x *exam.Exam, ending exam.Ending) (*exam.Report, error)
	// Shell is the learner's shell, working in the task's namespace.
	Shell(x *exam.Exam, t *exam.Task) (*exec.Cmd, error)
	// NodeShell is a root shell on the control-plane node.
	NodeShell() (*exec.Cmd, error)
}

// ExamOptions is everything the exam screen gets from its caller.
type ExamOptions struct {
	Runner ExamRunner
	// HasNode says the sandbox has a control-plane node to open a shell on.
	HasNode bool
	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
	// Lang is the language of the screen's own texts; the runner's exam
	// (its tasks' titles and texts) is in it too.
	Lang i18n.Lang
}

// ExamOutcome is the exam as the screen left it: scored, or still running.
type ExamOutcome struct {
	Exam *exam.Exam
}

// RunExam runs the exam screen until the learner leaves it; a running
// exam is saved as it was left (the clock goes on).
func RunExam(ctx context.Context, opts ExamOptions, progOpts ...tea.ProgramOption) (ExamOutcome, error) {
	m := newExamModel(ctx, opts)
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, progOpts...)...)
	final, err := p.Run()
	m.cancel() // stop a preparation or a scoring still running
	if fm, ok := final.(*examModel); ok {
		m = fm
	}
	if m.phase == examRunning {
		m.account()
		if serr := m.runner.Save(m.x); serr != nil && err == nil {
			err = serr
		}
	}
	if err != nil && (errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, tea.ErrInterrupted)) && ctx.Err() != nil {
		err = nil // a signal ended the app: not an error
	}
	return ExamOutcome{Exam: m.x}, err
}

// examPhase is where the exam is.
type examPhase int

const (
	examOpening examPhase = iota // drawing and preparing, before the clock
	examRunning
	examScoring
	examScored
	examUnscored // the time is up but the sandbox did not answer: S tries again
	examFailed   // it could not be opened
)

// The exam's confirm dialogs (the dialogs component asks, the model acts).
const (
	confirmSubmit confirmKind = iota + 100
	confirmLeave
)

// Messages of the exam screen.
type (
	examOpenedMsg struct {
		x   *exam.Exam
		err error
	}
	examProgressMsg struct{ progress exam.Progress }
	examTickMsg     struct{}
	examSavedMsg    struct{ err error }
	examScoredMsg   struct {
		x   *exam.Exam
		err error
	}
	examFlashDoneMsg struct{ seq int }
)

// autosaveEvery is how often the time spent is saved while nothing else is.
const autosaveEvery = 30 * time.Second

// examModel is the exam screen: the tasks, the countdown, the task's text
// and, once scored, the score.
type examModel struct {
	ctx     context.Context
	cancel  context.CancelFunc
	c       *common
	bus     chan tea.Msg
	runner  ExamRunner
	hasNode bool
	keys    examKeyMap

	phase    examPhase
	opening  time.Time
	progress exam.Progress // what is being prepared
	err      error         // why it could not open, or be scored
	ending   exam.Ending

	x       *exam.Exam
	idx     int
	entered time.Time // when the current task came on screen
	saved   time.Time

	text    stepText
	score   viewport.Model
	dialog  dialogs
	spinner spinner.Model

	flash    string
	flashSeq int
	saveErr  error
	lay      examLayout
	scored   scoreKey
}

func newExamModel(ctx context.Context, opts ExamOptions) *examModel {
	ctx, cancel := context.WithCancel(ctx)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	p := i18n.For(opts.Lang)
	c := &common{dark: true, keys: KeyMapIn(p), p: p, now: now}
	c.restyle()
	score := viewport.New()
	score.KeyMap = viewport.KeyMap{}
	m := &examModel{
		ctx: ctx, cancel: cancel, c: c, bus: make(chan tea.Msg, 64), runner: opts.Runner, hasNode: opts.HasNode,
		keys: examKeyMapIn(p), phase: examOpening, opening: now(),
		score: score, dialog: newDialogs(c), spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
	}
	c.frame = m.spinner.View()
	return m
}

// Init opens the exam in a Cmd; the first frame says it is being prepared.
func (m *examModel) Init() tea.Cmd {
	return tea.Batch(m.openCmd(), listenBus(m.ctx, m.bus), tea.RequestBackgroundColor, m.spinner.Tick, m.tick())
}

func (m *examModel) openCmd() tea.Cmd {
	ctx, runner, bus := m.ctx, m.runner, m.bus
	return func() tea.Msg {
		x, err := runner.Open(ctx, func(p exam.Progress) { post(ctx, bus, examProgressMsg{p}) })
		return examOpenedMsg{x, err}
	}
}

// tick is the countdown's second, on the wall clock's second.
func (m *examModel) tick() tea.Cmd {
	return tea.Every(time.Second, func(time.Time) tea.Msg { return examTickMsg{} })
}

// Update routes one message. It never blocks: I/O goes out as Cmds.
func (m *examModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.width, m.c.height = msg.Width, msg.Height
	case tea.BackgroundColorMsg:
		if m.c.dark != msg.IsDark() {
			m.c.dark = msg.IsDark()
			m.c.restyle()
			m.dialog.restyle()
		}
	case busMsg:
		_, cmd = m.Update(msg.msg)
		return m, tea.Batch(listenBus(m.ctx, m.bus), cmd)
	case examProgressMsg:
		m.progress = msg.progress
	case examOpenedMsg:
		cmd = m.onOpened(msg)
	case examTickMsg:
		cmd = tea.Batch(m.tick(), m.onTick())
	case examSavedMsg:
		m.saveErr = msg.err
	case examScoredMsg:
		cmd = m.onScored(msg)
	case renderedMsg:
		cmd = m.text.Update(msg)
	case confirmedMsg:
		cmd = m.onConfirmed(msg)
	case askQuitMsg:
		cmd = m.askLeave()
	case shellReadyMsg:
		if msg.err != nil {
			cmd = m.setFlash(m.c.p.T("cannot open the shell: %v", msg.err))
		} else {
			cmd = tea.ExecProcess(msg.cmd, func(err error) tea.Msg { return shellDoneMsg{err} })
		}
	case shellDoneMsg:
		var exit *exec.ExitError
		if msg.err != nil && !errors.As(msg.err, &exit) { // the shell's last status is the learner's business
			cmd = m.setFlash(m.c.p.T("the shell ended with: %v", msg.err))
		}
	case examFlashDoneMsg:
		if msg.seq == m.flashSeq {
			m.flash = ""
		}
	case spinner.TickMsg:
		if m.phase == examOpening || m.phase == examScoring {
			m.spinner, cmd = m.spinner.Update(msg)
			m.c.frame = m.spinner.View()
		}
	case tea.MouseWheelMsg:
		cmd = m.onWheel(msg)
	case tea.KeyPressMsg:
		cmd = m.onKey(msg)
	}
	return m, tea.Batch(cmd, m.refresh())
}

// refresh brings derived state up to date: keys, sizes, the text's rendering.
func (m *examModel) refresh() tea.Cmd {
	m.enableKeys()
	m.layout()
	if m.phase != examRunning {
		return nil
	}
	return m.text.sync(m.runner.Values(m.x, m.task()), 0)
}

func (m *examModel) task() *exam.Task { return m.x.Tasks[m.idx] }
