package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/progress"
)

// openStepMsg asks the root to go to a step.
type openStepMsg struct{ step *lessons.Step }

// sidebar lists the lessons and their steps with the learner's progress:
// ✓ passed, ▸ current, ○ not yet. Focused (key l), it moves a cursor and
// opens the step or lesson under it. It keeps its window on the cursor
// (or the current step) as it changes, so View only draws.
type sidebar struct {
	c             *common
	store         *progress.Store
	rows          []sidebarRow
	current       *lessons.Step
	focused       bool
	cursor        int // row under the cursor
	offset        int // first row shown
	width, height int
}

// sidebarRow is a lesson title, a step, or a blank between lessons.
type sidebarRow struct {
	lesson *lessons.Lesson
	step   *lessons.Step
}

func newSidebar(c *common, cur *lessons.Curriculum, store *progress.Store, current *lessons.Step) sidebar {
	s := sidebar{c: c, store: store}
	for li, l := range cur.Lessons {
		if li > 0 {
			s.rows = append(s.rows, sidebarRow{})
		}
		s.rows = append(s.rows, sidebarRow{lesson: l})
		for _, st := range l.Steps {
			s.rows = append(s.rows, sidebarRow{lesson: l, step: st})
		}
	}
	s.setCurrent(current)
	return s
}

// setCurrent marks the step the app shows and puts the cursor on it.
func (s *sidebar) setCurrent(step *lessons.Step) {
	s.current = step
	s.cursorTo(step)
}

func (s *sidebar) cursorTo(step *lessons.Step) {
	for i, r := range s.rows {
		if r.step == step {
			s.cursor = i
			break
		}
	}
	s.follow()
}

// focus gives the list the keys, its cursor on the current step.
func (s *sidebar) focus() {
	s.focused = true
	s.cursorTo(s.current)
}

// blur hands the keys back, the cursor back on the current step.
func (s *sidebar) blur() {
	s.focused = false
	s.cursorTo(s.current)
}

func (s *sidebar) SetSize(w, h int) {
	s.width, s.height = w, h
	s.follow()
}

// follow keeps the anchor — the cursor when focused, else the current
// step — in the window; the wheel may move the window meanwhile.
func (s *sidebar) follow() {
	if s.height <= 0 || len(s.rows) <= s.height {
		s.offset = 0
		return
	}
	anchor := s.cursor
	if !s.focused {
		anchor = 0
		for i, r := range s.rows {
			if r.step != nil && r.step == s.current {
				anchor = i
			}
		}
	}
	if anchor < s.offset {
		s.offset = anchor
	}
	if anchor >= s.offset+s.height {
		s.offset = anchor - s.height + 1
	}
	s.offset = max(0, min(s.offset, len(s.rows)-s.height))
}

// move moves the cursor by d rows, over blanks.
func (s *sidebar) move(d int) {
	for i := s.cursor + d; i >= 0 && i < len(s.rows); i += d {
		if s.rows[i].lesson != nil {
			s.cursor = i
			return
		}
	}
}

// selected is the step the cursor opens: the step itself, or a lesson's
// first step not passed yet.
func (s *sidebar) selected() *lessons.Step {
	if s.cursor < 0 || s.cursor >= len(s.rows) || s.rows[s.cursor].lesson == nil {
		return nil
	}
	r := s.rows[s.cursor]
	if r.step != nil {
		return r.step
	}
	for _, st := range r.lesson.Steps {
		if !s.store.Passed(st.Ref()) {
			return st
		}
	}
	return r.lesson.Steps[0]
}

// handles says the focused list takes this key; the others go to the app.
func (s *sidebar) handles(msg tea.KeyPressMsg) bool {
	k := s.c.keys
	return s.focused && key.Matches(msg, k.Up, k.Down, k.Select, k.Back)
}

// Update moves the cursor, opens the step under it, scrolls on the wheel.
func (s *sidebar) Update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			s.offset = max(0, s.offset-3)
		case tea.MouseWheelDown:
			s.offset += 3
		}
	case tea.KeyPressMsg:
		k := s.c.keys
		switch {
		case key.Matches(msg, k.Up):
			s.move(-1)
		case key.Matches(msg, k.Down):
			s.move(1)
		case key.Matches(msg, k.Select):
			if step := s.selected(); step != nil {
				cmd = send(openStepMsg{step})
			}
			s.blur()
		case key.Matches(msg, k.Back):
			s.blur()
		}
	}
	s.follow()
	return cmd
}

// View draws the rows in the window.
func (s *sidebar) View() string {
	st := s.c.styles
	width := s.width
	end := len(s.rows)
	if s.height > 0 {
		end = min(end, s.offset+s.height)
	}
	var lines []string
	for i := s.offset; i < end; i++ {
		r := s.rows[i]
		var line string
		switch {
		case r.lesson == nil:
		case r.step == nil:
			done := 0
			for _, x := range r.lesson.Steps {
				if s.store.Passed(x.Ref()) {
					done++
				}
			}
			all := done == len(r.lesson.Steps)
			count, countStyle := fmt.Sprintf("%d/%d", done, len(r.lesson.Steps)), st.Dim
			if all {
				count, countStyle = "✓", st.MarkDone
			}
			style := st.Lesson
			if s.current != nil && s.current.Lesson == r.lesson {
				style = st.LessonCurrent
			}
			title := ansi.Truncate(fmt.Sprintf("%d %s", r.lesson.Number, r.lesson.Title), width-lipgloss.Width(count)-1, "…")
			gap := max(1, width-lipgloss.Width(title)-lipgloss.Width(count))
			line = style.Render(title) + strings.Repeat(" ", gap) + countStyle.Render(count)
		default:
			mark, markStyle, textStyle := "○", st.MarkTodo, st.Step
			if s.store.Passed(r.step.Ref()) {
				mark, markStyle = "✓", st.MarkDone
			}
			if r.step == s.current {
				if mark != "✓" {
					mark = "▸"
				}
				markStyle, textStyle = st.MarkCurrent, st.StepCurrent
			}
			line = " " + markStyle.Render(mark) + " " + textStyle.Render(ansi.Truncate(r.step.Title, width-4, "…"))
		}
		if s.focused && i == s.cursor {
			line = st.Cursor.Render(ansi.Strip(padRight(line, width)))
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func (s *sidebar) ShortHelp() []key.Binding {
	k := s.c.keys
	return []key.Binding{k.ListMove, k.Select, k.Back}
}

func (s *sidebar) FullHelp() [][]key.Binding { return [][]key.Binding{s.ShortHelp()} }
