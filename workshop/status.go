package workshop

import (
	"sort"
	"time"

	"github.com/imagelab/imagelab/lessons"
)

// Status is the board at one moment: what imagelab workshop status prints
// (and --json writes).
type Status struct {
	Workshop string    `json:"workshop"`
	At       time.Time `json:"at"`
	// Steps is how many steps a workshop seat can do.
	Steps     int              `json:"steps"`
	Attendees []AttendeeStatus `json:"attendees"`
	// Findings are the problems most attendees' current steps have now,
	// the most frequent first.
	Findings []FindingCount `json:"findings"`
	Refresh  RefreshStats   `json:"refresh"`
}

// AttendeeStatus is one attendee on the board.
type AttendeeStatus struct {
	Name      string `json:"name"`
	Display   string `json:"display,omitempty"`
	Namespace string `json:"namespace"`
	// Current is the step they are on (from their mirrored progress; the
	// first step until they save any), with its place and title.
	Current         string `json:"current"`
	CurrentPosition string `json:"currentPosition"`
	CurrentTitle    string `json:"currentTitle"`
	// Since is when they came to it; zero when unknown.
	Since time.Time `json:"since,omitzero"`
	// State: done (the current step is done), working, stuck (on the
	// current step, not done, for longer than StuckAfter), or new (no
	// progress mirrored yet).
	State string `json:"state"`
	// StuckFor is how long they have been on the current step, not done.
	StuckFor time.Duration `json:"stuckFor,omitempty"`
	// Done counts the steps done: those the board judges, when it has seen
	// them pass; the others as the attendee's machine reported them.
	Done int `json:"done"`
	// Verdict is the board's own verdict on the current step (or, for a
	// step the board does not judge, "reported"), with its problems.
	Verdict  string   `json:"verdict"`
	Problems []string `json:"problems,omitempty"`
	// Problem is the first problem's text.
	Problem string `json:"problem,omitempty"`
	// LastSeen is their last save.
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// Steps are the verdicts on every step the board judges, by step.
	Steps map[string]StepResult `json:"steps,omitempty"`
}

// Attendee states.
const (
	StateDone    = "done"
	StateWorking = "working"
	StateStuck   = "stuck"
	StateNew     = "new"
)

// FindingCount is one kind of problem and how many attendees have it.
type FindingCount struct {
	Code      string   `json:"code"`
	Count     int      `json:"count"`
	Step      string   `json:"step"`
	Example   string   `json:"example"`
	Attendees []string `json:"attendees"`
}

// Status is the board now.
func (b *Board) Status() Status {
	now := b.opts.Now()
	st := Status{Workshop: b.opts.ID, At: now.UTC().Truncate(time.Second), Steps: len(b.steps), Refresh: b.Stats()}
	judged := map[string]bool{}
	for _, s := range b.judged {
		judged[s.Ref()] = true
	}
	findings := map[string]*FindingCount{}

	b.mu.Lock()
	for _, s := range b.seats {
		a := AttendeeStatus{Name: s.attendee.Name, Display: s.attendee.Display, Namespace: s.attendee.Namespace,
			LastSeen: s.progress.Updated, Steps: map[string]StepResult{}}
		for ref, r := range s.results {
			a.Steps[ref] = r
		}
		done := map[string]bool{}
		for _, step := range b.steps {
			ref := step.Ref()
			if judged[ref] {
				done[ref] = !s.passed[ref].IsZero()
			} else if p := s.progress.Steps[ref]; p != nil && p.Passed {
				done[ref] = true
			}
			if done[ref] {
				a.Done++
			}
		}
		cur := b.current(s.progress.Current)
		a.Current, a.CurrentPosition, a.CurrentTitle = cur.Ref(), cur.Position(), cur.Title
		if s.progress.Current == cur.Ref() {
			a.Since = s.progress.CurrentSince
		}
		switch {
		case !judged[cur.Ref()]:
			a.Verdict = StatusReported
		case s.results[cur.Ref()].Status != "":
			r := s.results[cur.Ref()]
			a.Verdict = r.Status
			for _, f := range r.Findings {
				a.Problems = append(a.Problems, f.Code)
			}
			if len(r.Findings) > 0 {
				a.Problem = r.Findings[0].Problem
			} else if r.Error != "" {
				a.Problem = r.Error
			}
		}
		switch {
		case done[cur.Ref()]:
			a.State = StateDone
		case s.progress.Updated.IsZero():
			a.State = StateNew
		case !a.Since.IsZero() && now.Sub(a.Since) >= b.opts.StuckAfter:
			a.State, a.StuckFor = StateStuck, now.Sub(a.Since).Truncate(time.Second)
		default:
			a.State = StateWorking
		}
		if !done[cur.Ref()] {
			for _, code := range a.Problems {
				fc := findings[code]
				if fc == nil {
					fc = &FindingCount{Code: code, Step: cur.Ref(), Example: a.Problem}
					findings[code] = fc
				}
				fc.Count++
				fc.Attendees = append(fc.Attendees, a.Name)
			}
		}
		st.Attendees = append(st.Attendees, a)
	}
	b.mu.Unlock()

	sort.Slice(st.Attendees, func(i, j int) bool { return st.Attendees[i].Name < st.Attendees[j].Name })
	for _, fc := range findings {
		sort.Strings(fc.Attendees)
		st.Findings = append(st.Findings, *fc)
	}
	sort.Slice(st.Findings, func(i, j int) bool {
		if st.Findings[i].Count != st.Findings[j].Count {
			return st.Findings[i].Count > st.Findings[j].Count
		}
		return st.Findings[i].Code < st.Findings[j].Code
	})
	return st
}

// current is the step an attendee is on: their progress's, else the first.
func (b *Board) current(ref string) *lessons.Step {
	for _, s := range b.steps {
		if s.Ref() == ref {
			return s
		}
	}
	if s, err := b.opts.Curriculum.Find(ref); err == nil && ref != "" {
		return s // a step a seat cannot do: still where they are
	}
	return b.steps[0]
}
