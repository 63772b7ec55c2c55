package app

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

type lessonJSON struct {
	ID      string     `json:"id"`
	Title   string     `json:"title"`
	Summary string     `json:"summary,omitempty"`
	Steps   []stepJSON `json:"steps"`
}

type stepJSON struct {
	Ref      string `json:"ref"`
	Position string `json:"position"`
	Title    string `json:"title"`
	Check    string `json:"check"`
	Kind     string `json:"kind"`
	Passed   bool   `json:"passed"`
	Current  bool   `json:"current,omitempty"`
}

func newLessonsCommand(g *globalFlags, streams Streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "lessons",
		Short: g.p.T("List the lessons and their steps, with your progress"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ss, err := g.session()
			if err != nil {
				return err
			}
			cur, store := ss.cur, ss.store
			out := make([]lessonJSON, 0, len(cur.Lessons))
			for _, l := range cur.Lessons {
				lj := lessonJSON{ID: l.ID, Title: l.Title, Summary: l.Summary}
				for _, s := range l.Steps {
					kind := "task"
					if s.IsQuiz() {
						kind = "quiz"
					}
					lj.Steps = append(lj.Steps, stepJSON{
						Ref: s.Ref(), Position: s.Position(), Title: s.Title,
						Check: s.Check.Name, Kind: kind, Passed: store.Passed(s.Ref()), Current: store.State.Current == s.Ref(),
					})
				}
				out = append(out, lj)
			}
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"lessons": out})
			}
			done, total := 0, 0
			for li, l := range out {
				fmt.Fprintf(streams.Out, "%d. %s\n", li+1, l.Title)
				for _, s := range l.Steps {
					mark := "○"
					if s.Passed {
						mark = "✓"
						done++
					}
					total++
					fmt.Fprintf(streams.Out, "   %s %-4s %-44s %s\n", mark, s.Position, s.Ref, s.Title) // refs are ASCII; the title ends the line
				}
			}
			g.p.Fprintf(streams.Out, "\n%d of %d steps done\n", done, total)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, g.p.T("print as JSON"))
	return cmd
}
