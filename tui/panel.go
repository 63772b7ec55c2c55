package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/imagelab/imagelab/lessons/check"
)

// flashDoneMsg clears a passing note.
type flashDoneMsg struct{ seq int }

const flashFor = 4 * time.Second

// panelState is what the result panel shows of the rest of the app,
// gathered by the root after every message.
type panelState struct {
	quiz     bool
	answer   string // the answer field's line (quizzes)
	answered bool   // an answer was given
	retry    string // the retry countdown under the verdict, if any
	sandbox  sandboxState
	outcome  outcomeOf
	have     bool // outcome holds a verdict
	running  bool
	last     bool   // no step after this one
	status   string // how the step is kept up to date
	// envCommand is shown in the panel when it does not fit in the rule.
	envCommand string
}

// resultPanel is the pane under the step text: a passing note, the
// check's verdict and findings, the quiz's answer, and how the step is
// kept up to date. Long findings scroll.
type resultPanel struct {
	c        *common
	vp       viewport.Model
	text     string
	flash    string
	flashSeq int
}

func newResultPanel(c *common) resultPanel {
	vp := viewport.New()
	vp.KeyMap = viewport.KeyMap{}
	return resultPanel{c: c, vp: vp}
}

// setFlash shows a note for a few seconds.
func (p *resultPanel) setFlash(s string) tea.Cmd {
	p.flash = s
	p.flashSeq++
	seq := p.flashSeq
	return tea.Tick(flashFor, func(time.Time) tea.Msg { return flashDoneMsg{seq} })
}

// setContent lays the panel's text out for width w and returns how many
// lines it needs.
func (p *resultPanel) setContent(st panelState, w int) int {
	p.text = indent(p.render(st, w-2), " ")
	return strings.Count(p.text, "\n") + 1
}

func (p *resultPanel) SetSize(w, h int) {
	p.vp.SetWidth(w)
	p.vp.SetHeight(h)
	p.vp.SetContent(p.text)
}

func (p *resultPanel) gotoTop() { p.vp.GotoTop() }

// Update clears the note and scrolls.
func (p *resultPanel) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case flashDoneMsg:
		if msg.seq == p.flashSeq {
			p.flash = ""
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			p.vp.ScrollUp(3)
		case tea.MouseWheelDown:
			p.vp.ScrollDown(3)
		}
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, p.c.keys.MoreUp):
			p.vp.ScrollUp(2)
		case key.Matches(msg, p.c.keys.MoreDown):
			p.vp.ScrollDown(2)
		}
	}
	return nil
}

// View is the panel; when its text runs past the bottom, the last line
// says so.
func (p *resultPanel) View() string {
	v := p.vp.View()
	if p.vp.AtBottom() || p.vp.TotalLineCount() <= p.vp.Height() {
		return v
	}
	lines := strings.Split(v, "\n")
	more := p.vp.TotalLineCount() - p.vp.YOffset() - p.vp.Height() + 1
	lines[len(lines)-1] = p.c.styles.Dim.Render(fmt.Sprintf(" ↓ %d more lines: ] scrolls (or the mouse wheel)", more))
	return strings.Join(lines, "\n")
}

// ShortHelp is empty: the last line says how to scroll when there is more.
func (p *resultPanel) ShortHelp() []key.Binding { return nil }

func (p *resultPanel) FullHelp() [][]key.Binding {
	return [][]key.Binding{{p.c.keys.MoreUp, p.c.keys.MoreDown}}
}

// render is the panel's text at width w.
func (p *resultPanel) render(ps panelState, w int) string {
	st := p.c.styles
	var lines []string
	if p.flash != "" {
		lines = append(lines, st.Flash.Render("» "+p.flash))
	}
	spin := ""
	if ps.running {
		spin = " " + st.Checking.Render(p.c.frame)
	}

	if ps.quiz {
		lines = append(lines, ps.answer)
		if ps.have && ps.answered {
			lines = append(lines, p.verdict(ps, w, p.c.p.T("✓ Right."), p.c.p.T("✗ Not quite."))+spin)
		} else if ps.running {
			lines = append(lines, st.Checking.Render(p.c.frame+" "+p.c.p.T("checking…")))
		}
		if ps.retry != "" {
			lines = append(lines, ps.retry)
		}
		return strings.Join(lines, "\n")
	}

	switch ps.sandbox {
	case sandboxStarting:
		lines = append(lines, st.Checking.Render(p.c.p.T("◌ This step needs the sandbox, which is starting. Read on meanwhile: it turns green by itself once you have done it.")))
		return wrap(strings.Join(lines, "\n"), w)
	case sandboxFailed:
		lines = append(lines, st.NotYet.Render(p.c.p.T("✗ This step needs the sandbox: "))+st.Dim.Render(p.c.p.T("see the note at the top.")))
		return wrap(strings.Join(lines, "\n"), w)
	}
	if ps.have {
		lines = append(lines, p.verdict(ps, w, p.c.p.T("✓ Passed."), p.c.p.T("✗ Not yet."))+spin)
	} else {
		lines = append(lines, st.Checking.Render(p.c.frame+" "+p.c.p.T("checking…")))
	}
	status := ps.status
	if ps.have {
		status += p.c.p.T(" · checked %s", ps.outcome.at.Format(time.TimeOnly))
	}
	lines = append(lines, wrap(st.Dim.Render(status), w))
	if ps.envCommand != "" {
		label := p.c.p.T("Your own terminal: ")
		lw := lipgloss.Width(label)
		lines = append(lines, st.Dim.Render(label)+st.Code.Render(hang(ps.envCommand, w-lw, lw)))
	}
	return strings.Join(lines, "\n")
}

// verdict is the status line and the findings of a check.
func (p *resultPanel) verdict(ps panelState, w int, pass, fail string) string {
	st := p.c.styles
	switch err := ps.outcome.err; {
	case errors.Is(err, check.ErrUnavailable):
		return wrap(st.Dim.Render(p.c.p.T("– Not available on this sandbox: "))+UnavailableReason(p.c.p, err), w)
	case errors.Is(err, check.ErrAPIServerRestarting):
		return wrap(st.Checking.Render(p.c.frame+" "+p.c.p.T("The API server is restarting"))+st.Dim.Render(p.c.p.T(" (the kubelet restarts it after a manifest edit; it takes a few seconds).")), w)
	case err != nil:
		return wrap(st.NotYet.Render(p.c.p.T("! Could not check: "))+err.Error(), w)
	}
	r := ps.outcome.result
	var b []string
	if r.Passed {
		b = append(b, wrap(st.Passed.Render(pass)+" "+r.Summary, w))
		if !ps.last {
			b = append(b, st.Dim.Render(p.c.p.T("  n takes you to the next step.")))
		}
	} else {
		note := p.c.p.T(" It turns green by itself when you're done.")
		if ps.quiz {
			note = ""
		}
		b = append(b, st.NotYet.Render(fail)+st.Dim.Render(note))
	}
	for _, f := range r.Findings {
		if r.Passed && f.Severity == check.Problem {
			continue
		}
		b = append(b, p.finding(f, w))
	}
	return strings.Join(b, "\n")
}

func (p *resultPanel) finding(f check.Finding, w int) string {
	st := p.c.styles
	bullet := st.Problem.Render("✗")
	if f.Severity == check.Advice {
		bullet = st.Advice.Render("·")
	}
	lines := []string{bullet + " " + hang(f.Problem, w-2, 2)}
	labels := [][2]string{{p.c.p.T("expected"), f.Expected}, {p.c.p.T("try"), f.Try}, {p.c.p.T("said"), f.Evidence}}
	// The labels line up by display width (a Korean one is double-width).
	lw := 0
	for _, kv := range labels {
		lw = max(lw, lipgloss.Width(kv[0]))
	}
	for _, kv := range labels {
		if kv[1] == "" {
			continue
		}
		lines = append(lines, "  "+st.Label.Render(padRight(kv[0], lw+1))+hang(kv[1], w-lw-3, lw+3))
	}
	return strings.Join(lines, "\n")
}
