package tui

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	tea "charm.land/bubbletea/v2"
	"charm.land/glamour/v2"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
)

// renderKey names one rendering of a step's text: when any part changes,
// the text is rendered again.
type renderKey struct {
	ref      string
	lang     i18n.Lang // the step's texts and imagelab's words around them
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
// and, once asked for, the reference solution; imagelab's own words in p's
// language.
func stepMarkdown(p *i18n.Printer, s *lessons.Step, v lessons.Values, hints int, solution bool) string {
	var b strings.Builder
	b.WriteString(s.Body(v))
	for i := 0; i < hints && i < len(s.Hints); i++ {
		fmt.Fprintf(&b, "\n\n---\n\n**%s** %s\n", p.T("Hint %d of %d.", i+1, len(s.Hints)), s.Hint(i, v))
	}
	if solution {
		b.WriteString("\n\n---\n\n## " + p.T("Reference solution") + "\n\n")
		b.WriteString(solutionMarkdown(p, s, v))
	}
	return b.String()
}

// solutionMarkdown shows the solution as the learner would type it: files
// to write, then commands; what to do on the node; or the quiz's answer.
func solutionMarkdown(p *i18n.Printer, s *lessons.Step, v lessons.Values) string {
	sol := s.RenderedSolution(v)
	var b strings.Builder
	if sol.Answer != "" && s.IsQuiz() {
		b.WriteString(p.T("The answer: `%s`", sol.Answer) + "\n")
	}
	names := make([]string, 0, len(sol.Files))
	for name := range sol.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		lang := strings.TrimPrefix(strings.ToLower(pathExt(name)), ".")
		fmt.Fprintf(&b, "%s\n\n```%s\n%s\n```\n\n", p.T("Write **%s** in the work dir:", name), lang, strings.TrimRight(sol.Files[name], "\n"))
	}
	if strings.TrimSpace(sol.Run) != "" {
		b.WriteString(p.T("Then run:") + "\n\n```sh\n" + strings.TrimRight(sol.Run, "\n") + "\n```\n")
	}
	if strings.TrimSpace(sol.Node) != "" {
		b.WriteString(p.T("On the node, as root (T in the app, or imagelab node-shell):") + "\n\n```sh\n" + strings.TrimRight(sol.Node, "\n") + "\n```\n")
	}
	if sol.RestartKubelet {
		b.WriteString("\n" + p.T("Then restart the kubelet, which reads its config only when it starts: `systemctl restart kubelet`.") + "\n")
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
