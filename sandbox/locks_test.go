package sandbox

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// lockedSandbox is a kind sandbox record whose kubeconfig carries kind's
// lock file, made at the time given.
func lockedSandbox(t *testing.T, lockTime time.Time) (dir string, sb *Sandbox, lock string) {
	t.Helper()
	dir = t.TempDir()
	sb = &Sandbox{Provider: ProviderKind, Name: "imagelab-lock", ID: NewID(), Runtime: "docker", Complete: true,
		Kubeconfig: filepath.Join(dir, "kubeconfig"), DockerConfigDir: filepath.Join(dir, "docker"),
		Registry: Registry{Host: "localhost:5001", User: RegistryUser, Password: "x", Container: registryContainerName("imagelab-lock")}}
	must(t, sb.Save(dir))
	must(t, os.WriteFile(sb.Kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	lock = sb.Kubeconfig + ".lock"
	must(t, os.WriteFile(lock, nil, 0o600))
	must(t, os.Chtimes(lock, lockTime, lockTime))
	return dir, sb, lock
}

// TestDownRemovesAStaleKindLock: a process killed while kind held its lock
// on the kubeconfig left <kubeconfig>.lock; down removes it and finishes,
// instead of failing on "failed to lock config file" forever.
func TestDownRemovesAStaleKindLock(t *testing.T) {
	calls := fakeEngine(t, "docker-desktop-mac")
	dir, sb, lock := lockedSandbox(t, time.Now().Add(-time.Hour))
	var notes []string
	if err := Remove(t.Context(), sb, dir, func(e Event) { notes = append(notes, e.Message) }); err != nil {
		t.Fatalf("down: %v\ncalls:\n%s", err, calls)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("kind's stale lock is still there: %v", err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrNoSandbox) {
		t.Errorf("the sandbox record is still there: %v", err)
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "removed kind's lock") }) {
		t.Errorf("down did not say it removed the lock: %q", notes)
	}
	if _, err := os.Stat(filepath.Join(dir, stateLockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("imagelab's own lock file was left: %v", err)
	}
}

// TestDownLeavesALiveKindLock: a lock made after down started belongs to
// a program still running; it is waited for, then reported, never removed.
func TestDownLeavesALiveKindLock(t *testing.T) {
	fakeEngine(t, "docker-desktop-mac")
	old := kindLockWait
	kindLockWait = 300 * time.Millisecond
	t.Cleanup(func() { kindLockWait = old })
	dir, sb, lock := lockedSandbox(t, time.Now().Add(time.Minute))
	err := Remove(t.Context(), sb, dir, nil)
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("err = %v, want the live lock reported", err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("a live lock was removed: %v", err)
	}
	if _, err := Load(dir); err != nil {
		t.Errorf("the sandbox record went: %v", err)
	}
}

// TestDownAfterAKilledImagelab: another imagelab busy with the sandbox
// (holding the state dir's lock, and kind's) is left alone — its kind lock
// is live; once it is killed (kill -9: no clean-up of its own), down
// removes the kind lock it left and finishes.
func TestDownAfterAKilledImagelab(t *testing.T) {
	calls := fakeEngine(t, "docker-desktop-mac")
	dir, sb, lock := lockedSandbox(t, time.Now().Add(-time.Hour))
	must(t, os.Remove(lock)) // the other imagelab makes it

	other := exec.Command(os.Args[0], "-test.run=^$")
	other.Env = append(os.Environ(), holdLockEnv+"="+dir)
	out, err := other.StdoutPipe()
	must(t, err)
	must(t, other.Start())
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "held\n" {
		t.Fatalf("the other imagelab said %q", line)
	}

	err = Remove(t.Context(), sb, dir, nil)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "process ") {
		t.Errorf("down while another imagelab works: %v, want busy, naming its process", err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("the live imagelab's kind lock was removed: %v", err)
	}

	must(t, other.Process.Kill())
	other.Wait()
	if err := Remove(t.Context(), sb, dir, nil); err != nil {
		t.Fatalf("down after the other was killed: %v\ncalls:\n%s", err, calls)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed imagelab's kind lock is still there: %v", err)
	}
}
