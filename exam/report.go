package exam

import (
	"math"
	"time"

	"github.com/imagelab/imagelab/lessons/check"
)

// Report is a scored exam: per task, each criterion met or missed with
// the findings that explain a miss, the points, and the total against
// the pass mark.
type Report struct {
	ID        string    `json:"id"`
	Seed      int64     `json:"seed"`
	Started   time.Time `json:"started"`
	Deadline  time.Time `json:"deadline"`
	Submitted time.Time `json:"submitted"`
	// Ending says how the exam ended: submitted, time-up or expired.
	Ending Ending       `json:"ending"`
	Tasks  []TaskReport `json:"tasks"`
	// Points of MaxPoints; Percent is their share, Passed says it reached
	// PassMark.
	Points    float64 `json:"points"`
	MaxPoints int     `json:"maxPoints"`
	Percent   float64 `json:"percent"`
	PassMark  int     `json:"passMark"`
	Passed    bool    `json:"passed"`
}

// TaskReport is one task's score.
type TaskReport struct {
	Number    int    `json:"number"`
	Step      string `json:"step"`
	Title     string `json:"title"`
	Weight    int    `json:"weight"`
	Namespace string `json:"namespace"`
	Flagged   bool   `json:"flagged,omitempty"`
	// Criteria are the step's check's criteria, in its order.
	Criteria []CriterionReport `json:"criteria"`
	Spent    Seconds           `json:"spentSeconds"`
	Points   float64           `json:"points"`
	// Error says the task's check could not run (it scores nothing).
	Error string `json:"error,omitempty"`
}

// CriterionReport is one criterion of a task's check.
type CriterionReport struct {
	Name string `json:"name"`
	// Doc says what meeting it proves.
	Doc string `json:"doc"`
	Met bool   `json:"met"`
	// Judged is false when a gate before it was not met, so it could not
	// be judged (and is not met).
	Judged bool `json:"judged"`
	// Given says it was met before the clock started: not the learner's
	// work, it counts neither way while it stays met.
	Given bool `json:"given,omitempty"`
	// Findings explain a miss: what was wrong and what to try.
	Findings []check.Finding `json:"findings,omitempty"`
}

// Counted are the task's criteria that score: all but the given ones
// still met (one the learner broke counts, as missed). Met are those of
// them met.
func (t TaskReport) Counted() (met, counted int) {
	for _, c := range t.Criteria {
		if c.Given && c.Met {
			continue
		}
		counted++
		if c.Met {
			met++
		}
	}
	return met, counted
}

// report scores the results of the tasks' checks.
func (x *Exam) report(results []taskResult, ending Ending) *Report {
	r := &Report{
		ID: x.ID, Seed: x.Seed, Started: x.Started, Deadline: x.Deadline(), Submitted: x.Submitted,
		Ending: ending, PassMark: PassMark,
	}
	var points float64
	for i, t := range x.Tasks {
		tr := scoreTask(t, results[i])
		points += tr.Points
		if _, counted := tr.Counted(); counted > 0 || len(tr.Criteria) == 0 {
			r.MaxPoints += tr.Weight
		}
		r.Tasks = append(r.Tasks, tr)
	}
	r.Points = round(points, 2)
	if r.MaxPoints > 0 {
		share := points / float64(r.MaxPoints) * 100
		r.Percent = round(share, 1)
		r.Passed = share >= PassMark
	}
	return r
}

// scoreTask gives a task weight × met / declared points, the criteria
// given at the start left out of both; a check that declares no criteria
// gives all or nothing.
func scoreTask(t *Task, tr taskResult) TaskReport {
	s := t.step
	out := TaskReport{
		Number: t.Number, Step: t.Step, Title: s.Title, Weight: t.Weight, Namespace: t.Namespace,
		Flagged: t.Flagged, Spent: t.Spent,
	}
	def := s.Definition()
	given := map[string]bool{}
	for _, c := range t.Given {
		given[c] = true
	}
	verdicts := map[string]check.CriterionVerdict{}
	if tr.err != nil {
		out.Error = tr.err.Error()
	} else {
		for _, v := range tr.res.Criteria {
			verdicts[v.Name] = v
		}
	}
	for _, c := range def.Criteria {
		v := verdicts[c.Name]
		cr := CriterionReport{Name: c.Name, Doc: c.Doc, Met: v.Met, Judged: v.Judged, Given: given[c.Name]}
		if !v.Met {
			cr.Findings = findingsOf(tr.res, v.Findings)
		}
		out.Criteria = append(out.Criteria, cr)
	}
	switch {
	case tr.err != nil:
	case len(def.Criteria) == 0:
		if tr.res.Passed {
			out.Points = float64(t.Weight)
		}
	default:
		if met, counted := out.Counted(); counted > 0 {
			out.Points = round(float64(t.Weight)*float64(met)/float64(counted), 2)
		}
	}
	return out
}

// findingsOf are the result's problem findings the verdict charged to a
// criterion, by their codes, in the check's order.
func findingsOf(res check.Result, codes []string) []check.Finding {
	left := map[string]int{}
	for _, c := range codes {
		left[c]++
	}
	var out []check.Finding
	for _, f := range res.Findings {
		if f.Severity == check.Problem && left[f.Code] > 0 {
			left[f.Code]--
			out = append(out, f)
		}
	}
	return out
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}
