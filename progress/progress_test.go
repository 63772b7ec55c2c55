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
	if !again.Passed("a/b") || again.Passed("a/c") || again.Step("a/c").Answer == "" || again.State.Current != "a/c" {
		t.Errorf("reloaded %+v", again.State)
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
