package progress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, warn, err := Open(dir)
	if err != nil || warn != nil {
		t.Fatal(err, warn)
	}
	s.MarkPassed("a/b", time.Now())
	s.Step("a/c").Answer = "docker.io/library/nginx:latest"
	s.State.Current = "a/c"
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	again, warn, err := Open(dir)
	if err != nil || warn != nil {
		t.Fatal(err, warn)
	}
	if !again.Passed("a/b") || again.Passed("a/c") || again.Answer("a/c") != "docker.io/library/nginx:latest" || again.State.Current != "a/c" {
		t.Errorf("reloaded %+v", again.State)
	}
	// Reading leaves no trace: a step never answered gets no record.
	if again.Answer("a/d") != "" || again.Passed("a/d") {
		t.Error("a step never seen has an answer or a pass")
	}
	if _, ok := again.State.Steps["a/d"]; ok {
		t.Error("reading a/d created a record for it")
	}
	if fi, err := os.Stat(again.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v %v", fi.Mode(), err)
	}
}

func TestDamagedFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, warn, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if warn == nil || !strings.Contains(warn.Error(), "moved to") {
		t.Errorf("warning = %v", warn)
	}
	if len(s.State.Steps) != 0 {
		t.Errorf("fresh progress expected")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, FileName+".damaged-*"))
	if len(matches) != 1 {
		t.Errorf("damaged file not kept aside: %v", matches)
	}
	if data, _ := os.ReadFile(matches[0]); string(data) != "{not json" {
		t.Errorf("the damaged file's content was lost")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	s, _, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.MarkPassed("a/b", time.Now())
	s.State.Current = "a/b"
	c := s.Clone()
	s.Step("a/b").Hints = 3
	s.Reset("a/b")
	s.State.Current = "a/c"
	if !c.Passed("a/b") || c.Step("a/b").Hints != 0 || c.State.Current != "a/b" || c.Path() != s.Path() {
		t.Errorf("clone changed with its original: %+v", c.State)
	}
}

func TestQuizRetryDelay(t *testing.T) {
	s := &Store{State: State{Steps: map[string]*Step{}}}
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	if d := s.RetryIn("l/q", now); d != 0 {
		t.Fatalf("a new quiz waits %v", d)
	}
	s.Pick("l/q", "a", false, now)
	if d := s.RetryIn("l/q", now); d != 10*time.Second {
		t.Errorf("after one wrong pick: %v, want 10s", d)
	}
	s.Pick("l/q", "c", false, now.Add(10*time.Second))
	if d := s.RetryIn("l/q", now.Add(10*time.Second)); d != 20*time.Second {
		t.Errorf("after two wrong picks: %v, want 20s", d)
	}
	if d := s.Clone().RetryIn("l/q", now.Add(29*time.Second)); d != time.Second {
		t.Errorf("the clone forgot the delay: %v", d)
	}
	s.Pick("l/q", "b", true, now.Add(40*time.Second))
	if d := s.RetryIn("l/q", now.Add(40*time.Second)); d != 0 {
		t.Errorf("a right pick still waits %v", d)
	}
	if got := QuizRetryDelay(10); got != 2*time.Minute {
		t.Errorf("the delay grows past its cap: %v", got)
	}
}

func TestSavedLang(t *testing.T) {
	dir := t.TempDir()
	if got := SavedLang(dir); got != "" {
		t.Errorf("SavedLang with no file = %q", got)
	}
	s, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.State.Lang = "ko"
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if got := SavedLang(dir); got != "ko" {
		t.Errorf("SavedLang = %q, want ko", got)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := SavedLang(dir); got != "" {
		t.Errorf("SavedLang of a damaged file = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Errorf("SavedLang touched the damaged file: %v", err)
	}
}
