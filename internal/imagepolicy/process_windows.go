package imagepolicy

import (
	"os"
	"os/exec"
	"syscall"
)

// detach starts the backend in a process group of its own, without a
// console: closing the terminal that started it does not stop it.
func detach(cmd *exec.Cmd) {
	const detachedProcess = 0x00000008
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP | detachedProcess}
}

func processExists(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}

// terminate stops it at once: Windows has no SIGTERM for a process
// without a console, and the backend keeps nothing to save.
func terminate(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func kill(pid int) { _ = terminate(pid) }

// commandLine: not read on Windows, where pids are not reused as soon.
func commandLine(int) (string, bool) { return "", false }
