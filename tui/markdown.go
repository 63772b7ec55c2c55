package tui

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	tea "charm.land/bubbletea/v2"
	"charm.land/glamour/v2"

	"github.com/imagelab/imagelab/lessons"
)

// renderKey names one rendering of a step's text: when any part changes,
// the text is rendered again.
type renderKey struct {
	ref      string
	width    int
	style    string
	vals     lessons.Values
	hints    int
	solution bool
}

// renderedMsg carries glamour's output back to the model (as glow's
// contentRenderedMsg does), so no markdown is rendered in Update.
type renderedMsg struct {
	key renderKey
	out string
}

// stepMarkdown is the text of the step: its body, the hints shown so far
// and, once asked for, the reference solution.
func stepMarkdown(s *lessons.Step, v lessons.Values, hints int, solution bool) string {
	var b strings.Builder
	b.WriteString(s.Body(v))
	for i := 0; i < hints && i < len(s.Hints); i++ {
		fmt.Fprintf(&b, "\n\n---\n\n**Hint %d of %d.** %s\n", i+1, len(s.Hints), s.Hint(i, v))
	}
	if solution {
		b.WriteString("\n\n---\n\n## Reference solution\n\n")
		b.WriteString(solutionMarkdown(s, v))
	}
	return b.String()
}

// solutionMarkdown shows the solution as the learner would type it: files
// to write, then commands; or the quiz's answer.
func solutionMarkdown(s *lessons.Step, v lessons.Values) string {
	sol := s.RenderedSolution(v)
	var b strings.Builder
	if sol.Answer != "" && s.IsQuiz() {
		fmt.Fprintf(&b, "The answer: `%s`\n", sol.Answer)
	}
	names := make([]string, 0, len(sol.Files))
	for name := range sol.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		lang := strings.TrimPrefix(strings.ToLower(pathExt(name)), ".")
		fmt.Fprintf(&b, "Write **%s** in the work dir:\n\n```%s\n%s\n```\n\n", name, lang, strings.TrimRight(sol.Files[name], "\n"))
	}
	if strings.TrimSpace(sol.Run) != "" {
		b.WriteString("Then run:\n\n```sh\n" + strings.TrimRight(sol.Run, "\n") + "\n```\n")
	}
	return b.String()
}

func pathExt(name string) string {
	if i := strings.LastIndex(name, "."); i >= 0 {
		return name[i:]
	}
	return ""
}

// renderers caches glamour renderers by style and width; building one and
// its first use (chroma's lexers) are the slow part, so it happens in a
// Cmd, never before the first frame.
var renderers = struct {
	sync.Mutex
	m map[string]*glamour.TermRenderer
}{m: map[string]*glamour.TermRenderer{}}

func renderMarkdown(style string, width int, md string) (string, error) {
	renderers.Lock()
	defer renderers.Unlock() // glamour's renderer is not safe for concurrent use
	k := fmt.Sprintf("%s/%d", style, width)
	r, ok := renderers.m[k]
	if !ok {
		var err error
		r, err = glamour.NewTermRenderer(glamour.WithStandardStyle(style), glamour.WithWordWrap(width))
		if err != nil {
			return "", err
		}
		renderers.m[k] = r
	}
	out, err := r.Render(md)
	return strings.Trim(out, "\n"), err
}

// renderCmd renders md for key; when glamour fails, the text shows
// fallback (raw markdown beats no text).
func renderCmd(key renderKey, md, fallback string) tea.Cmd {
	return func() tea.Msg {
		out, err := renderMarkdown(key.style, key.width, md)
		if err != nil {
			out = fallback
		}
		return renderedMsg{key: key, out: out}
	}
}
