package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PromptMarker starts the prompt of a sandbox shell, so learners see where
// they are.
const PromptMarker = "(imagelab)"

// ShellCommand is the learner's own shell ($SHELL) started in the sandbox:
// KUBECONFIG and DOCKER_CONFIG set, the work dir as its directory, and the
// prompt marked. Their rc files still run; the marker is added after them.
func (s *Sandbox) ShellCommand(stateDir string, environ []string) (*exec.Cmd, error) {
	shell := os.Getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	env := append(append([]string{}, environ...), s.ShellEnv(environ)...)
	dir := filepath.Join(stateDir, "shell")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch filepath.Base(shell) {
	case "bash":
		rc := filepath.Join(dir, "bashrc")
		body := fmt.Sprintf("[ -f ~/.bashrc ] && . ~/.bashrc\nPS1=%q\" $PS1\"\n", PromptMarker)
		if err := os.WriteFile(rc, []byte(body), 0o600); err != nil {
			return nil, err
		}
		cmd = exec.Command(shell, "--rcfile", rc, "-i")
	case "zsh":
		home, _ := os.UserHomeDir()
		zdot := os.Getenv("ZDOTDIR")
		if zdot == "" {
			zdot = home
		}
		body := fmt.Sprintf("[ -f %q/.zshrc ] && ZDOTDIR=%q . %q/.zshrc\nPROMPT=%q\" $PROMPT\"\n", zdot, zdot, zdot, PromptMarker)
		if err := os.WriteFile(filepath.Join(dir, ".zshrc"), []byte(body), 0o600); err != nil {
			return nil, err
		}
		env = append(env, "ZDOTDIR="+dir)
		cmd = exec.Command(shell, "-i")
	case "fish":
		cmd = exec.Command(shell, "-C", fmt.Sprintf("functions -c fish_prompt __imagelab_prompt; function fish_prompt; echo -n '%s '; __imagelab_prompt; end", PromptMarker))
	default:
		env = append(env, "PS1="+PromptMarker+" "+strings.TrimSpace(os.Getenv("PS1"))+" ")
		cmd = exec.Command(shell, "-i")
	}
	cmd.Env = env
	cmd.Dir = s.WorkDir
	return cmd, nil
}
