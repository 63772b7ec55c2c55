package tui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/lessons"
)

// ExamRunner is what the exam screen asks of imagelab; internal/app
// implements it. Every method is called from a tea.Cmd, never from Update,
// and gets an exam of its own (a Clone) to read or change.
type ExamRunner interface {
	// Open returns the attempt in progress, else draws and prepares a new
	// one; report says what is being prepared (from any goroutine).
	Open(ctx context.Context, report func(string)) (*exam.Exam, error)
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
	examProgressMsg struct{ line string }
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

	phase   examPhase
	opening time.Time
	line    string // what is being prepared
	err     error  // why it could not open, or be scored
	ending  exam.Ending

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
	c := &common{dark: true, keys: DefaultKeyMap(), now: now}
	c.restyle()
	score := viewport.New()
	score.KeyMap = viewport.KeyMap{}
	m := &examModel{
		ctx: ctx, cancel: cancel, c: c, bus: make(chan tea.Msg, 64), runner: opts.Runner, hasNode: opts.HasNode,
		keys: defaultExamKeyMap(), phase: examOpening, opening: now(),
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
		x, err := runner.Open(ctx, func(line string) { post(ctx, bus, examProgressMsg{line}) })
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
		m.line = msg.line
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
			cmd = m.setFlash("cannot open the shell: " + msg.err.Error())
		} else {
			cmd = tea.ExecProcess(msg.cmd, func(err error) tea.Msg { return shellDoneMsg{err} })
		}
	case shellDoneMsg:
		var exit *exec.ExitError
		if msg.err != nil && !errors.As(msg.err, &exit) { // the shell's last status is the learner's business
			cmd = m.setFlash("the shell ended with: " + msg.err.Error())
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

func (m *examModel) onOpened(msg examOpenedMsg) tea.Cmd {
	if msg.err != nil {
		if m.ctx.Err() == nil {
			m.phase, m.err = examFailed, msg.err
		}
		return nil
	}
	m.x, m.phase, m.idx = msg.x, examRunning, 0
	now := m.c.now()
	m.entered, m.saved = now, now
	m.text = newStepText(m.c, m.task().StepOf())
	if m.x.Expired(now) {
		return m.submit(exam.Expired)
	}
	return nil
}

// onTick ends the exam when its time is up, and saves the time spent now
// and then.
func (m *examModel) onTick() tea.Cmd {
	if m.phase != examRunning {
		return nil
	}
	now := m.c.now()
	if m.x.Remaining(now) <= 0 {
		m.dialog.kind = dialogNone
		return m.submit(exam.TimeUp)
	}
	if now.Sub(m.saved) >= autosaveEvery {
		return m.save()
	}
	return nil
}

// account adds the time since the task came on screen to its time spent.
func (m *examModel) account() {
	now := m.c.now()
	if m.x != nil && !m.entered.IsZero() {
		t := m.task()
		t.Spent += exam.Seconds(now.Sub(m.entered))
	}
	m.entered = now
}

// save keeps the attempt, in a Cmd, from a copy.
func (m *examModel) save() tea.Cmd {
	m.account()
	m.saved = m.c.now()
	x, runner := m.x.Clone(), m.runner
	return func() tea.Msg { return examSavedMsg{runner.Save(x)} }
}

// submit checks every task once and scores the exam, in a Cmd.
func (m *examModel) submit(ending exam.Ending) tea.Cmd {
	m.account()
	m.phase, m.err, m.ending = examScoring, nil, ending
	ctx, x, runner := m.ctx, m.x.Clone(), m.runner
	return tea.Batch(m.spinner.Tick, func() tea.Msg {
		_, err := runner.Submit(ctx, x, ending)
		return examScoredMsg{x, err}
	})
}

func (m *examModel) onScored(msg examScoredMsg) tea.Cmd {
	if msg.err != nil {
		if m.ctx.Err() != nil {
			return nil
		}
		// Not scored: back to the tasks while there is time; S tries again.
		m.phase, m.err = examRunning, msg.err
		if m.x.Remaining(m.c.now()) <= 0 {
			m.phase = examUnscored
		}
		m.entered = m.c.now()
		return nil
	}
	m.x, m.phase = msg.x, examScored
	return nil
}

func (m *examModel) onConfirmed(msg confirmedMsg) tea.Cmd {
	switch {
	case msg.kind == confirmSubmit && m.phase == examRunning:
		return m.submit(m.x.EndingAt(m.c.now()))
	case msg.kind == confirmLeave:
		return tea.Quit
	}
	return nil
}

// askLeave asks before leaving a running exam: its clock goes on.
func (m *examModel) askLeave() tea.Cmd {
	if m.phase != examRunning {
		return tea.Quit
	}
	left := formatClock(m.x.Remaining(m.c.now()))
	m.dialog.ask(confirmLeave, "", "Leave the exam?",
		fmt.Sprintf("The clock keeps running: %s left. imagelab exam brings you back to it, and when the time is up it is scored the next time you start imagelab exam.", left))
	return nil
}

// askSubmit asks before the end: nothing can change after it.
func (m *examModel) askSubmit() {
	var flagged []string
	for _, t := range m.x.Tasks {
		if t.Flagged {
			flagged = append(flagged, fmt.Sprint(t.Number))
		}
	}
	body := fmt.Sprintf("Every task is checked once and scored; then the exam's namespaces are deleted. %s left.", formatClock(m.x.Remaining(m.c.now())))
	if len(flagged) > 0 {
		body += fmt.Sprintf(" Flagged for review: task %s.", strings.Join(flagged, ", "))
	}
	m.dialog.ask(confirmSubmit, "", "Submit the exam?", body)
}

// goTo shows task i.
func (m *examModel) goTo(i int) tea.Cmd {
	if i < 0 || i >= len(m.x.Tasks) || i == m.idx {
		return nil
	}
	m.account()
	m.idx = i
	m.text.setStep(m.task().StepOf())
	return m.save()
}

func (m *examModel) setFlash(s string) tea.Cmd {
	m.flash = s
	m.flashSeq++
	seq := m.flashSeq
	return tea.Tick(flashFor, func(time.Time) tea.Msg { return examFlashDoneMsg{seq} })
}

// onKey routes a key: an open dialog takes them all, then the phase's
// keys; what is left scrolls.
func (m *examModel) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.ForceQuit):
		return tea.Quit // a running exam is saved, its clock goes on
	case m.dialog.open():
		return m.dialog.Update(msg)
	case key.Matches(msg, k.Quit):
		return m.askLeave()
	case key.Matches(msg, k.Help):
		m.dialog.showHelp(m.fullHelp())
		return nil
	}
	switch m.phase {
	case examScored:
		scroll(&m.score, m.c.keys, msg)
		return nil
	case examUnscored:
		if key.Matches(msg, k.Submit) {
			return m.submit(m.ending)
		}
		return nil
	case examRunning:
	default:
		return nil
	}
	switch {
	case key.Matches(msg, k.Next):
		return m.goTo(m.idx + 1)
	case key.Matches(msg, k.Prev):
		return m.goTo(m.idx - 1)
	case key.Matches(msg, k.Jump):
		return m.goTo(int(msg.Code - '1'))
	case key.Matches(msg, k.Flag):
		t := m.task()
		t.Flagged = !t.Flagged
		return m.save()
	case key.Matches(msg, k.Shell):
		x, runner := m.x.Clone(), m.runner
		t := x.Tasks[m.idx]
		return func() tea.Msg {
			cmd, err := runner.Shell(x, t)
			return shellReadyMsg{cmd: cmd, err: err}
		}
	case key.Matches(msg, k.NodeShell):
		if !m.hasNode {
			return nil
		}
		runner := m.runner
		return func() tea.Msg {
			cmd, err := runner.NodeShell()
			return shellReadyMsg{cmd: cmd, err: err}
		}
	case key.Matches(msg, k.Submit):
		m.askSubmit()
		return nil
	}
	return m.text.Update(msg)
}

func (m *examModel) onWheel(msg tea.MouseWheelMsg) tea.Cmd {
	switch {
	case m.dialog.open():
	case m.phase == examScored:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.score.ScrollUp(3)
		case tea.MouseWheelDown:
			m.score.ScrollDown(3)
		}
	case m.phase == examRunning:
		return m.text.Update(msg)
	}
	return nil
}

// scroll moves a viewport by the app's scrolling keys.
func scroll(vp *viewport.Model, k KeyMap, msg tea.KeyPressMsg) {
	switch {
	case key.Matches(msg, k.Up):
		vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		vp.PageUp()
	case key.Matches(msg, k.PageDown):
		vp.PageDown()
	case key.Matches(msg, k.Top):
		vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		vp.GotoBottom()
	}
}

// formatClock is a countdown, in whole seconds up: 1:02:03, 24:13, 0:09
// (0:00 only when the time is up).
func formatClock(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
