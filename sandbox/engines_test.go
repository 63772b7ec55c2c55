package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeEngine puts the stand-in docker/podman of one platform (a directory
// under testdata/engines) alone on PATH, and returns where its calls are
// logged. The stand-ins print what that platform's CLI prints.
func fakeEngine(t *testing.T, platform string) *engineLog {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in engines are shell scripts")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "engines", platform))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	l := &engineLog{path: filepath.Join(t.TempDir(), "calls")}
	t.Setenv("PATH", dir)
	t.Setenv("FAKE_LOG", l.path)
	t.Setenv("FAKE_STATE", t.TempDir())
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	return l
}

type engineLog struct{ path string }

// calls lists the stand-in's calls that start with prefix ("docker start").
func (l *engineLog) calls(prefix string) []string {
	data, _ := os.ReadFile(l.path)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

func (l *engineLog) String() string {
	data, _ := os.ReadFile(l.path)
	return string(data)
}
