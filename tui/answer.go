package tui

import (
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
)

// Messages of the answer field.
type (
	// answerMsg submits a quiz answer.
	answerMsg struct {
		ref    string
		answer string
	}
	// retryTickMsg redraws a choice quiz's countdown.
	retryTickMsg struct{}
)

// answerField is a quiz's answer input. A wrong pick in a choice quiz
// (its check's Choice) costs a retry delay: until it has passed the field
// refuses answers and counts down, so options can't be tried in turn.
type answerField struct {
	c     *common
	store *progress.Store
	step  *lessons.Step
	input textinput.Model
	// submitted are answers sent for checking and not judged yet, by step.
	submitted map[string]submission
	ticking   bool
}

// submission is an answer waiting for its verdict.
type submission struct {
	step   *lessons.Step
	answer string
}

func newAnswerField(c *common, store *progress.Store, step *lessons.Step) answerField {
	in := textinput.New()
	in.Prompt = "› "
	in.Placeholder = c.p.T("type your answer")
	in.CharLimit = 200
	a := answerField{c: c, store: store, input: in, submitted: map[string]submission{}}
	a.setStep(step)
	a.restyle()
	return a
}

func (a *answerField) restyle() { a.input.SetStyles(textinput.DefaultStyles(a.c.dark)) }

// setStep shows the answer last given to step, not focused.
func (a *answerField) setStep(step *lessons.Step) {
	a.step = step
	a.input.Blur()
	a.input.SetValue(record(a.store, step.Ref()).Answer)
}

func (a *answerField) SetSize(w, _ int) { a.input.SetWidth(max(10, w-20)) }

func (a *answerField) focused() bool { return a.input.Focused() }

// focus opens the field for typing, unless the step is no quiz or its
// retry delay is running.
func (a *answerField) focus() tea.Cmd {
	if !a.step.IsQuiz() || a.retryIn() > 0 {
		return nil
	}
	return a.input.Focus()
}

// clear empties the field of a step that was reset.
func (a *answerField) clear(ref string) {
	delete(a.submitted, ref)
	if ref == a.step.Ref() {
		a.input.SetValue("")
	}
}

// retryIn is how long the current step refuses answers.
func (a *answerField) retryIn() time.Duration {
	if !a.step.Definition().Choice {
		return 0
	}
	return a.store.RetryIn(a.step.Ref(), a.c.now())
}

// Update edits the answer while focused, submits it, and ticks the
// countdown.
func (a *answerField) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case retryTickMsg:
		a.ticking = false
		return a.tick()
	case tea.KeyPressMsg:
		if !a.focused() {
			return nil
		}
		k := a.c.keys
		switch {
		case key.Matches(msg, k.Cancel):
			a.input.Blur()
			return nil
		case key.Matches(msg, k.Submit):
			ans := a.input.Value()
			if ans == "" || a.retryIn() > 0 {
				return nil
			}
			ref := a.step.Ref()
			a.submitted[ref] = submission{step: a.step, answer: ans}
			return send(answerMsg{ref: ref, answer: ans})
		}
	}
	if !a.focused() {
		return nil
	}
	var cmd tea.Cmd
	a.input, cmd = a.input.Update(msg) // keys, and the cursor's blink
	return cmd
}

// judged records the verdict on a submitted answer. For a choice quiz it
// is a pick: a wrong one starts the retry delay and closes the field.
// It reports whether the progress changed and needs saving.
func (a *answerField) judged(msg checkedMsg) bool {
	sub, ok := a.submitted[msg.ref]
	if !ok || sub.answer != msg.answer {
		return false // not an answer the learner just gave: a recheck
	}
	delete(a.submitted, msg.ref)
	if msg.err != nil || !sub.step.Definition().Choice || !check.Picked(msg.result) {
		return false
	}
	a.store.Pick(msg.ref, msg.answer, msg.result.Passed, a.c.now())
	if !msg.result.Passed && msg.ref == a.step.Ref() {
		a.input.Blur()
	}
	return true
}

// tick keeps the countdown moving while the retry delay runs.
func (a *answerField) tick() tea.Cmd {
	if a.ticking || a.retryIn() <= 0 {
		return nil
	}
	a.ticking = true
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return retryTickMsg{} })
}

// View is the answer line of the result panel.
func (a *answerField) View() string {
	st := a.c.styles
	answer := record(a.store, a.step.Ref()).Answer
	switch {
	case a.focused():
		return st.Label.Render(a.c.p.T("Your answer")+" ") + a.input.View()
	case answer != "" && a.retryIn() > 0:
		return st.Label.Render(a.c.p.T("Your answer:")+" ") + st.Code.Render(answer)
	case answer != "":
		return st.Label.Render(a.c.p.T("Your answer:")+" ") + st.Code.Render(answer) + st.Dim.Render(a.c.p.T("  (enter to change it)"))
	}
	return st.Label.Render(a.c.p.T("Your answer:")+" ") + st.Dim.Render(a.c.p.T("press enter to type it"))
}

// countdown is the line under the verdict while answers are refused.
func (a *answerField) countdown() string {
	d := a.retryIn()
	if d <= 0 {
		return ""
	}
	return a.c.styles.Checking.Render(a.c.p.T("answer again in %s — read why above", shortDuration(d)))
}

// shortDuration is 8s, 1m20s or 2m.
func shortDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%dm%ds", s/60, s%60)
}

func (a *answerField) ShortHelp() []key.Binding {
	return []key.Binding{a.c.keys.Submit, a.c.keys.Cancel}
}

func (a *answerField) FullHelp() [][]key.Binding { return [][]key.Binding{a.ShortHelp()} }
