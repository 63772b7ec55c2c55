package tui

import (
	"testing"

	"github.com/imagelab/imagelab/lessons"
)

// BenchmarkRenderMarkdown times Glamour rendering one step's text at the
// width of the main pane (120 columns minus the sidebar). The first
// render of a style and width also builds the renderer; it is timed apart.
func BenchmarkRenderMarkdown(b *testing.B) {
	cur, err := lessons.Default()
	if err != nil {
		b.Fatal(err)
	}
	s, err := cur.Find("pull-secrets/image-pull-secrets")
	if err != nil {
		b.Fatal(err)
	}
	v := lessons.NewValues("localhost:5001", "learner", "x", "imagelab")
	md := stepMarkdown(nil, s, v, len(s.Hints), true)
	b.Run("first", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := renderMarkdown("dark", 80+i%1000, md); err != nil { // a new width: a new renderer
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		for b.Loop() {
			if _, err := renderMarkdown("dark", 84, md); err != nil {
				b.Fatal(err)
			}
		}
	})
}
