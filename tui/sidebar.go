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

// sidebar lists the lessons and their steps with the learner's progress:
// ✓ passed, ▸ current, ○ not yet. Focused (key l), it moves a cursor and
// opens the step or lesson under it.
type sidebar struct {
	c      *common
	cur    *lessons.Curriculum
	store  *progress.Store
	cursor int // row under the cursor
	offset int // first row shown
}

// sidebarRow is a lesson title, a step, or a blank between lessons.
type sidebarRow struct {
	lesson *lessons.Lesson
	step   *lessons.Step
	num    int // the lesson's number
	pos    string
}

func (s *sidebar) rows() []sidebarRow {
	var out []sidebarRow
	for li, l := range s.cur.Lessons {
		if li > 0 {
			out = append(out, sidebarRow{})
		}
		out = append(out, sidebarRow{lesson: l, num: li + 1})
		for si, st := range l.Steps {
			out = append(out, sidebarRow{lesson: l, step: st, num: li + 1, pos: fmt.Sprintf("%d.%d", li+1, si+1)})
		}
	}
	return out
}

func (s *sidebar) cursorTo(step *lessons.Step) {
	for i, r := range s.rows() {
		if r.step == step {
			s.cursor = i
			return
		}
	}
}

// move moves the cursor by d rows, over blanks.
func (s *sidebar) move(d int) {
	rows := s.rows()
	i := s.cursor
	for {
		i += d
		if i < 0 || i >= len(rows) {
			return
		}
		if rows[i].lesson != nil {
			s.cursor = i
			return
		}
	}
}

func (s *sidebar) scroll(d int) { s.offset = max(0, s.offset+d) }

// selected is the step the cursor opens: the step itself, or a lesson's
// first step not passed yet.
func (s *sidebar) selected() *lessons.Step {
	rows := s.rows()
	if s.cursor < 0 || s.cursor >= len(rows) || rows[s.cursor].lesson == nil {
		return nil
	}
	r := rows[s.cursor]
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

// view draws the list in width×height, keeping the cursor (or the
// current step) in sight.
func (s *sidebar) view(width, height int, current *lessons.Step, focused bool) string {
	st := s.c.styles
	rows := s.rows()
	lines := make([]string, len(rows))
	anchor := 0
	for i, r := range rows {
		switch {
		case r.lesson == nil:
			lines[i] = ""
		case r.step == nil:
			done := 0
			for _, x := range r.lesson.Steps {
				if s.store.Passed(x.Ref()) {
					done++
				}
			}
			count := fmt.Sprintf("%d/%d", done, len(r.lesson.Steps))
			if done == len(r.lesson.Steps) {
				count = "✓"
			}
			style := st.Lesson
			if current != nil && current.Lesson == r.lesson {
				style = st.LessonCurrent
			}
			title := ansi.Truncate(fmt.Sprintf("%d %s", r.num, r.lesson.Title), width-lipgloss.Width(count)-1, "…")
			gap := max(1, width-lipgloss.Width(title)-lipgloss.Width(count))
			lines[i] = style.Render(title) + strings.Repeat(" ", gap) + s.countStyle(done == len(r.lesson.Steps)).Render(count)
		default:
			mark, markStyle, textStyle := "○", st.MarkTodo, st.Step
			if s.store.Passed(r.step.Ref()) {
				mark, markStyle = "✓", st.MarkDone
			}
			if r.step == current {
				if mark != "✓" {
					mark = "▸"
				}
				markStyle, textStyle = st.MarkCurrent, st.StepCurrent
				anchor = i
			}
			text := ansi.Truncate(r.step.Title, width-4, "…")
			lines[i] = " " + markStyle.Render(mark) + " " + textStyle.Render(text)
		}
		if focused && i == s.cursor {
			lines[i] = st.Cursor.Render(ansi.Strip(padRight(lines[i], width)))
		}
	}
	if focused {
		anchor = s.cursor
	}
	// Keep the anchor in sight; the wheel may move the window meanwhile.
	if height > 0 && len(lines) > height {
		if anchor < s.offset {
			s.offset = anchor
		}
		if anchor >= s.offset+height {
			s.offset = anchor - height + 1
		}
		s.offset = min(s.offset, len(lines)-height)
		lines = lines[s.offset : s.offset+height]
	} else {
		s.offset = 0
	}
	return strings.Join(lines, "\n")
}

func (s *sidebar) countStyle(done bool) lipgloss.Style {
	if done {
		return s.c.styles.MarkDone
	}
	return s.c.styles.Dim
}

// onSidebarKey handles the keys of the focused lesson list; ok is false for
// keys it leaves to the app.
func (m *Model) onSidebarKey(msg tea.KeyPressMsg) (cmd tea.Cmd, ok bool) {
	k := m.c.keys
	switch {
	case key.Matches(msg, k.Up):
		m.sidebar.move(-1)
	case key.Matches(msg, k.Down):
		m.sidebar.move(1)
	case key.Matches(msg, k.Select):
		m.focus = focusContent
		if s := m.sidebar.selected(); s != nil {
			return m.goTo(m.indexOf(s)), true
		}
	case key.Matches(msg, k.Back):
		m.focus = focusContent
		m.sidebar.cursorTo(m.step())
	default:
		return nil, false
	}
	return nil, true
}

func padRight(s string, w int) string {
	if d := w - lipgloss.Width(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}
