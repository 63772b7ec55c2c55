package exam

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imagelab/imagelab/internal/fsutil"
	"github.com/imagelab/imagelab/lessons"
)

// Dir is where the attempts are kept in a state dir, one file each.
func Dir(stateDir string) string { return filepath.Join(stateDir, "exams") }

// Path is the attempt's file.
func (x *Exam) Path(stateDir string) string { return filepath.Join(Dir(stateDir), x.ID+".json") }

// Save writes the attempt whole (through a rename, so a crash never leaves
// half of it), readable by the user alone.
func (x *Exam) Save(stateDir string) error {
	data, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(x.Path(stateDir), append(data, '\n'), 0o600)
}

// Remove forgets the attempt.
func (x *Exam) Remove(stateDir string) error {
	err := os.Remove(x.Path(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Load reads the attempt id and finds its tasks' steps in cur.
func Load(stateDir, id string, cur *lessons.Curriculum) (*Exam, error) {
	x, err := read(filepath.Join(Dir(stateDir), id+".json"))
	if err != nil {
		return nil, err
	}
	if err := x.resolve(cur); err != nil {
		return nil, fmt.Errorf("exam %s: %w", id, err)
	}
	return x, nil
}

func read(path string) (*Exam, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var x Exam
	if err := json.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", path, err)
	}
	return &x, nil
}

// Current is the attempt not yet scored (the newest, should there be
// more), or nil when there is none. Its clock may have run out: Expired
// tells.
func Current(stateDir string, cur *lessons.Curriculum) (*Exam, error) {
	all, err := readAll(stateDir)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if x := all[i]; x.exam != nil && x.exam.Running() {
			if err := x.exam.resolve(cur); err != nil {
				return nil, fmt.Errorf("exam %s: %w", x.exam.ID, err)
			}
			return x.exam, nil
		}
	}
	return nil, nil
}

// Attempt is one line of the history.
type Attempt struct {
	ID        string    `json:"id"`
	Seed      int64     `json:"seed"`
	Created   time.Time `json:"created"`
	Started   time.Time `json:"started,omitzero"`
	Submitted time.Time `json:"submitted,omitzero"`
	Tasks     int       `json:"tasks"`
	// State is preparing, running, expired (its time ran out unscored),
	// scored, or damaged (the file cannot be read; Error says why).
	State   string  `json:"state"`
	Ending  Ending  `json:"ending,omitempty"`
	Points  float64 `json:"points"`
	Max     int     `json:"maxPoints"`
	Percent float64 `json:"percent"`
	Passed  bool    `json:"passed"`
	Error   string  `json:"error,omitempty"`
}

// History lists every attempt, oldest first.
func History(stateDir string, now time.Time) ([]Attempt, error) {
	all, err := readAll(stateDir)
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, 0, len(all))
	for _, f := range all {
		x := f.exam
		if x == nil {
			out = append(out, Attempt{ID: f.id, State: "damaged", Error: f.err.Error()})
			continue
		}
		a := Attempt{ID: x.ID, Seed: x.Seed, Created: x.Created, Started: x.Started, Submitted: x.Submitted, Tasks: len(x.Tasks), Max: x.MaxPoints()}
		switch {
		case x.Report != nil:
			a.State, a.Ending, a.Points, a.Percent, a.Passed = "scored", x.Report.Ending, x.Report.Points, x.Report.Percent, x.Report.Passed
		case x.Started.IsZero():
			a.State = "preparing"
		case x.Expired(now):
			a.State = "expired"
		default:
			a.State = "running"
		}
		out = append(out, a)
	}
	return out, nil
}

type attemptFile struct {
	id   string
	exam *Exam
	err  error
}

// readAll reads every attempt, oldest first; a damaged one is kept with
// its error.
func readAll(stateDir string) ([]attemptFile, error) {
	entries, err := os.ReadDir(Dir(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []attemptFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || filepath.Ext(name) != ".json" {
			continue
		}
		x, err := read(filepath.Join(Dir(stateDir), name))
		out = append(out, attemptFile{id: strings.TrimSuffix(name, ".json"), exam: x, err: err})
	}
	slices.SortStableFunc(out, func(a, b attemptFile) int {
		return created(a).Compare(created(b))
	})
	return out, nil
}

func created(f attemptFile) time.Time {
	if f.exam == nil {
		return time.Time{}
	}
	return f.exam.Created
}
