package workshop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imagelab/imagelab/internal/fsutil"
)

// recordDir is where the instructor's state dir keeps workshops.
func recordDir(stateDir string) string { return filepath.Join(stateDir, "workshops") }

// SaveRecord keeps a workshop's record in the state dir, readable by the
// instructor alone (it holds the attendees' registry passwords).
func SaveRecord(stateDir string, r *Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(recordDir(stateDir), r.ID+".json"), append(data, '\n'), 0o600)
}

// ErrNoRecord means the state dir keeps no record of the workshop.
var ErrNoRecord = errors.New("no record of the workshop in this state dir")

// LoadRecord reads a workshop's record; id "" is the only one kept.
func LoadRecord(stateDir, id string) (*Record, error) {
	if id == "" {
		ids, err := RecordIDs(stateDir)
		if err != nil {
			return nil, err
		}
		switch len(ids) {
		case 0:
			return nil, fmt.Errorf("%w: name it with --id", ErrNoRecord)
		case 1:
			id = ids[0]
		default:
			return nil, fmt.Errorf("this state dir keeps workshops %s: name one with --id", strings.Join(ids, ", "))
		}
	}
	if err := ValidID(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(recordDir(stateDir), id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s)", ErrNoRecord, id)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("the record of workshop %s is damaged: %w", id, err)
	}
	return &r, nil
}

// RecordIDs lists the workshops the state dir keeps.
func RecordIDs(stateDir string) ([]string, error) {
	entries, err := os.ReadDir(recordDir(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && ValidID(id) == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// ForgetRecord removes a workshop's record.
func ForgetRecord(stateDir, id string) error {
	err := os.Remove(filepath.Join(recordDir(stateDir), id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
