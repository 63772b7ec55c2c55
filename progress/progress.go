// Package progress keeps the learner's progress: which steps passed, quiz
// answers, hints seen and where they were. It is a small JSON file in the
// state dir, written atomically after every change.
package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/imagelab/imagelab/internal/fsutil"
)

// FileName is the progress file in the state dir.
const FileName = "progress.json"

const version = 1

// Step is the learner's record of one step.
type Step struct {
	Passed   bool       `json:"passed,omitempty"`
	PassedAt *time.Time `json:"passedAt,omitempty"`
	// Answer is the last quiz answer given.
	Answer string `json:"answer,omitempty"`
	// Hints is how many hints have been shown.
	Hints int `json:"hints,omitempty"`
	// WrongPicks counts the wrong picks of a choice quiz.
	WrongPicks int `json:"wrongPicks,omitempty"`
	// RetryAt is when a choice quiz takes an answer again after a wrong pick.
	RetryAt *time.Time `json:"retryAt,omitempty"`
	// SetUp says imagelab made what the step starts from (its setup).
	SetUp bool `json:"setUp,omitempty"`
}

// QuizRetryDelay is how long a choice quiz waits after the n-th wrong
// pick before it takes another answer: 10 s, doubling, at most 2 minutes.
// A learner reads why the pick was wrong meanwhile; trying each option in
// turn costs more than thinking it through.
func QuizRetryDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return min(10*time.Second<<min(n-1, 4), 2*time.Minute)
}

// Pick records a choice quiz's answer; a wrong one starts a retry delay.
func (s *Store) Pick(ref, answer string, correct bool, now time.Time) {
	st := s.Step(ref)
	st.Answer = answer
	if correct {
		st.RetryAt = nil
		return
	}
	st.WrongPicks++
	at := now.Add(QuizRetryDelay(st.WrongPicks))
	st.RetryAt = &at
}

// RetryIn is how long until a choice quiz takes an answer again; 0 when
// it does now.
func (s *Store) RetryIn(ref string, now time.Time) time.Duration {
	st, ok := s.State.Steps[ref]
	if !ok || st.RetryAt == nil || !now.Before(*st.RetryAt) {
		return 0
	}
	return st.RetryAt.Sub(now).Round(time.Second)
}

// State is the whole file.
type State struct {
	Version int `json:"version"`
	// Current is the step the learner was on (lesson/step).
	Current string `json:"current,omitempty"`
	// Lang is the language the learner last chose in the app (its
	// language key): used when neither --lang nor IMAGELAB_LANG names one.
	Lang  string           `json:"lang,omitempty"`
	Steps map[string]*Step `json:"steps"`
}

// Store is the progress file and its contents.
type Store struct {
	path  string
	State State
	// mirror gets each saved state (a workshop attendee's progress goes
	// to their namespace, for the instructor's board); nil for none.
	mirror func(State)
}

// SetMirror has every Save also hand the saved state to fn, after the
// file is written. fn copies what it keeps before it returns, and its
// failures are its own: the file is what counts.
func (s *Store) SetMirror(fn func(State)) { s.mirror = fn }

// Open reads the progress in dir. A damaged file is moved aside (the
// returned warning says where) and progress starts fresh: a learner never
// loses the app to a bad file.
func Open(dir string) (s *Store, warning error, err error) {
	s = &Store{path: filepath.Join(dir, FileName), State: State{Version: version, Steps: map[string]*Step{}}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var st State
	if jerr := json.Unmarshal(data, &st); jerr != nil || st.Version != version {
		reason := "unknown version"
		if jerr != nil {
			reason = jerr.Error()
		}
		aside := fmt.Sprintf("%s.damaged-%s", s.path, time.Now().UTC().Format("20060102T150405"))
		if err := os.Rename(s.path, aside); err != nil {
			return nil, nil, fmt.Errorf("progress file %s is damaged (%s) and could not be moved aside: %w", s.path, reason, err)
		}
		return s, fmt.Errorf("progress file was damaged (%s); it was moved to %s and progress starts fresh", reason, aside), nil
	}
	if st.Steps == nil {
		st.Steps = map[string]*Step{}
	}
	s.State = st
	return s, nil, nil
}

// SavedLang reads the language remembered in dir's progress file, without
// touching the file: "" when there is none or it cannot be read (Open
// reports a damaged file).
func SavedLang(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return ""
	}
	var st struct {
		Lang string `json:"lang"`
	}
	if json.Unmarshal(data, &st) != nil {
		return ""
	}
	return st.Lang
}

// Path is the file's path.
func (s *Store) Path() string { return s.path }

// Answer is the answer last given to ref ("" for none); reading it
// creates no record.
func (s *Store) Answer(ref string) string {
	if st, ok := s.State.Steps[ref]; ok {
		return st.Answer
	}
	return ""
}

// Step returns the record of ref, creating it: for writing.
func (s *Store) Step(ref string) *Step {
	st, ok := s.State.Steps[ref]
	if !ok {
		st = &Step{}
		s.State.Steps[ref] = st
	}
	return st
}

// Passed reports whether ref has passed.
func (s *Store) Passed(ref string) bool {
	st, ok := s.State.Steps[ref]
	return ok && st.Passed
}

// MarkPassed records a pass (the first time's date is kept).
func (s *Store) MarkPassed(ref string, now time.Time) {
	st := s.Step(ref)
	if !st.Passed {
		st.Passed = true
		t := now.UTC().Truncate(time.Second)
		st.PassedAt = &t
	}
}

// Reset forgets a step's pass (its answer and hints too).
func (s *Store) Reset(ref string) { delete(s.State.Steps, ref) }

// ResetAll forgets everything.
func (s *Store) ResetAll() { s.State = State{Version: version, Steps: map[string]*Step{}} }

// Save writes the file atomically.
func (s *Store) Save() error {
	data, err := json.MarshalIndent(s.State, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(s.path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if s.mirror != nil {
		s.mirror(s.State)
	}
	return nil
}

// Clone returns a deep copy, so a snapshot can be saved from another
// goroutine (the TUI saves in a tea.Cmd while its model moves on).
func (s *Store) Clone() *Store {
	c := &Store{path: s.path, mirror: s.mirror, State: State{Version: s.State.Version, Current: s.State.Current, Lang: s.State.Lang, Steps: make(map[string]*Step, len(s.State.Steps))}}
	for ref, st := range s.State.Steps {
		cp := *st
		if st.PassedAt != nil {
			t := *st.PassedAt
			cp.PassedAt = &t
		}
		if st.RetryAt != nil {
			t := *st.RetryAt
			cp.RetryAt = &t
		}
		c.State.Steps[ref] = &cp
	}
	return c
}
