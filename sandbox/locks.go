package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrBusy means another imagelab is making or removing the sandbox.
var ErrBusy = errors.New("another imagelab is making or removing this sandbox")

// stateLockFile is the lock an imagelab holds while it makes or removes
// the sandbox of a state dir. The operating system releases it when the
// process ends, however it ends (kill -9 included), so a lock file left
// behind is never mistaken for a live holder.
const stateLockFile = "imagelab.lock"

// stateLock is a held stateLockFile.
type stateLock struct {
	f    *os.File
	path string
	// since is when it was taken: kind's lock files older than this were
	// not made by the process holding it, the only one that could.
	since time.Time
}

// lockStateDir takes the state dir's lock without waiting: another
// imagelab holding it is ErrBusy, naming its process.
func lockStateDir(stateDir string) (*stateLock, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, stateLockFile)
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := tryLockFile(f); err != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, errLocked) {
				return nil, fmt.Errorf("%w (%s, %s): wait for it to finish, or stop it", ErrBusy, describeHolder(string(holder)), stateDir)
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		// The holder before us removes the file as it lets go: a lock on a
		// file no longer at path protects nothing. Take the new one.
		held, herr := f.Stat()
		now, nerr := os.Stat(path)
		if herr != nil || nerr != nil || !os.SameFile(held, now) {
			unlockFile(f)
			f.Close()
			continue
		}
		l := &stateLock{f: f, path: path, since: time.Now()}
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d since %s\n", os.Getpid(), l.since.UTC().Format(time.RFC3339))), 0)
		return l, nil
	}
	return nil, fmt.Errorf("locking %s: it keeps changing", path)
}

// release lets the lock go and removes its file.
func (l *stateLock) release() {
	if l == nil {
		return
	}
	// Removed while still held (where the system allows it), so no other
	// imagelab can lock the file just before it disappears.
	_ = os.Remove(l.path)
	unlockFile(l.f)
	l.f.Close()
	_ = os.Remove(l.path) // Windows: an open file can't be removed
}

func describeHolder(s string) string {
	fields := strings.Fields(s)
	if len(fields) >= 2 && fields[0] == "pid" {
		if _, err := strconv.Atoi(fields[1]); err == nil {
			return "process " + strings.Join(fields[1:], " ")
		}
	}
	return "its process is unknown"
}

// kindLockWait is how long a live kind lock is waited for.
var kindLockWait = 5 * time.Second

// clearKindLock removes kind's lock file on the sandbox's kubeconfig when
// it is stale. kind locks <kubeconfig>.lock (created, then removed when
// done) to edit the file; a process killed meanwhile (Ctrl-C pressed
// twice, a closed terminal) leaves it, and every later create or delete on
// that path fails with "failed to lock config file". Only an imagelab
// holding the state dir's lock uses that kubeconfig, and this process
// holds it: a lock file older than our hold was left by a process that is
// gone. A newer one belongs to a program still running (a kind command
// on imagelab's kubeconfig): it is waited for, never removed.
func (l *stateLock) clearKindLock(kubeconfig string, note func(string)) error {
	lock := kubeconfig + ".lock"
	deadline := time.Now().Add(kindLockWait)
	for {
		fi, err := os.Stat(lock)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.ModTime().Before(l.since) {
			if err := os.Remove(lock); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing kind's stale lock %s: %w", lock, err)
			}
			note(fmt.Sprintf("removed kind's lock %s, left at %s by a process that is gone", lock, fi.ModTime().Format(time.TimeOnly)))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kind's lock %s was made at %s by a program still running (a kind command on imagelab's kubeconfig?): wait for it, or remove the file if none runs", lock, fi.ModTime().Format(time.TimeOnly))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
