//go:build !windows

package imagepolicy

import (
	"os/exec"
	"syscall"
)

// detach starts the backend in a session of its own: a Ctrl-C in the
// terminal that started it, or that terminal closing, does not stop it.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

func processExists(pid int) bool { return syscall.Kill(pid, 0) == nil }

func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

func kill(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }
