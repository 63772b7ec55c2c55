package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/imagelab/imagelab/internal/i18n"
)

// common is what every component shares, handed to each when it is made:
// the terminal's size, the styles for its background, the keys and the
// clock. The root alone writes it, in Update.
type common struct {
	width, height int
	dark          bool
	styles        Styles
	keys          KeyMap
	// p writes the app's own texts in the learner's language.
	p   *i18n.Printer
	now func() time.Time
	// frame is the spinner's current frame; the root ticks it while
	// something is busy.
	frame string
}

// restyle rebuilds the styles for the background. Without colour
// (NO_COLOR) the same styles are used: the renderer drops the colours and
// keeps bold and underline, which read better than raw markdown.
func (c *common) restyle() { c.styles = DefaultStyles(c.dark) }

// component is the contract of the parts of the screen (soft-serve's
// common.Component): Update changes state and may return I/O as a Cmd,
// View draws and changes nothing, SetSize lays the part out, and the
// bindings it answers to make its help.
type component interface {
	help.KeyMap
	Update(msg tea.Msg) tea.Cmd
	View() string
	SetSize(width, height int)
}

var (
	_ component = (*stepText)(nil)
	_ component = (*resultPanel)(nil)
	_ component = (*sidebar)(nil)
	_ component = (*answerField)(nil)
	_ component = (*dialogs)(nil)
)

// placeOver draws box centred over base (w×h).
func placeOver(base, box string, w, h int) string {
	x := max(0, (w-lipgloss.Width(box))/2)
	y := max(0, (h-lipgloss.Height(box))/2)
	c := lipgloss.NewCanvas(w, h)
	c.Compose(lipgloss.NewCompositor(lipgloss.NewLayer(base), lipgloss.NewLayer(box).X(x).Y(y).Z(1)))
	return c.Render()
}

// wrap wraps text to w columns.
func wrap(s string, w int) string {
	if w <= 0 {
		return s
	}
	return lipgloss.NewStyle().Width(w).Render(s)
}

// hang wraps plain text s to w columns and indents its continuation lines
// by pad.
func hang(s string, w, pad int) string {
	return strings.ReplaceAll(wordWrap(s, max(10, w)), "\n", "\n"+strings.Repeat(" ", pad))
}

// wordWrap wraps plain text at spaces only: commands in findings keep
// their flags whole (--docker-server=…), unlike a wrap at hyphens.
func wordWrap(s string, w int) string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case lipgloss.Width(line)+1+lipgloss.Width(word) <= w:
				line += " " + word
			default:
				out = append(out, line)
				line = word
			}
			for lipgloss.Width(line) > w { // a word longer than the line
				out = append(out, ansi.Truncate(line, w, ""))
				line = ansi.TruncateLeft(line, w, "")
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func padRight(s string, w int) string {
	if d := w - lipgloss.Width(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}
