package lessons_test

import (
	"fmt"
	"strings"
	"testing"

	"charm.land/glamour/v2"
	"charm.land/glamour/v2/styles"
	"charm.land/lipgloss/v2"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
)

// TestKoreanStepWidth: Hangul takes two cells of a terminal. Every Korean
// step, with all its hints, rendered as the app renders a step's text
// (glamour's standard style, word-wrapped to the pane's width: see
// tui/markdown.go), fits 80 and 120 cells: no line, table row or heading
// runs past the width. And its emphasis renders: CommonMark does not close
// a ** that follows punctuation and is followed by a letter, as in
// **`regcred`**을, so such a text shows its asterisks.
func TestKoreanStepWidth(t *testing.T) {
	en, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	ko, err := lessons.DefaultIn(i18n.Korean)
	if err != nil {
		t.Fatal(err)
	}
	// 80 and 120 cells, and the step pane's wrap widths in a terminal of
	// 80 and 120 columns (tui/view.go: the pane is the width less a
	// 34-column sidebar from 100 columns on, and the text two less).
	for _, width := range []int{78, 80, 84, 120} {
		r, err := glamour.NewTermRenderer(glamour.WithStandardStyle(styles.DarkStyle), glamour.WithWordWrap(width))
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range ko.Steps() {
			out, err := r.Render(stepMarkdown(s))
			if err != nil {
				t.Errorf("%s at %d: %v", s.Ref(), width, err)
				continue
			}
			for n, line := range strings.Split(strings.Trim(out, "\n"), "\n") {
				if w := lipgloss.Width(line); w > width {
					t.Errorf("%s at width %d: line %d is %d cells wide: %q", s.Ref(), width, n+1, w, strings.TrimSpace(stripANSI(line)))
				}
			}
			english, err := r.Render(stepMarkdown(en.Steps()[i]))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Count(stripANSI(out), "*"), strings.Count(stripANSI(english), "*"); got > want {
				t.Errorf("%s: %d asterisks left after rendering, the English %d: emphasis that does not close?\n%s", s.Ref(), got, want, stripANSI(out))
			}
		}
	}
}

// stepMarkdown is the step's text and every hint, as the app shows them.
func stepMarkdown(s *lessons.Step) string {
	v := lessons.Placeholder()
	var md strings.Builder
	md.WriteString(s.Body(v))
	for i := range s.Hints {
		fmt.Fprintf(&md, "\n\n---\n\n**%d/%d.** %s\n", i+1, len(s.Hints), s.Hint(i, v))
	}
	return md.String()
}

func stripANSI(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case r == 0x1b:
			esc = true
		case esc && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			esc = false
		case !esc:
			b.WriteRune(r)
		}
	}
	return b.String()
}
