//go:build !windows

package imagepolicy

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// detach starts the backend in a session of its own: a Ctrl-C in the
// terminal that started it, or that terminal closing, does not stop it.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

func processExists(pid int) bool { return syscall.Kill(pid, 0) == nil }

func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

func kill(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// commandLine is pid's command line (ok false when it cannot be read).
func commandLine(pid int) (string, bool) {
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		return strings.ReplaceAll(string(b), "\x00", " "), true
	}
	out, err := exec.Command("ps", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return "", false
	}
	return string(out), true
}
