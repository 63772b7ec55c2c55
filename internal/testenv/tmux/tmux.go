// Package tmux drives the real binary as a learner would, in a private
// tmux server (its own socket, no config), so it never touches the
// learner's sessions. Tests and the benchmark program use it.
package tmux

import (
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Server is a private tmux server.
type Server struct {
	socket string
}

// New returns a server on its own socket; Kill stops it.
func New(socket string) (*Server, error) {
	if _, err := exec.LookPath("tmux"); err != nil {
		return nil, fmt.Errorf("no tmux on PATH (apt-get install tmux): %w", err)
	}
	return &Server{socket: socket}, nil
}

// Run runs a tmux command.
func (s *Server) Run(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", s.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Screen is what a pane shows now, as text.
func (s *Server) Screen(target string) string { return s.capture(target) }

// Transcript is everything the pane has shown outside the app's alternate
// screen, scrollback included, with wrapped lines joined: what a learner
// reads after the app exits, where a long line may have wrapped and its
// start scrolled off the visible screen.
func (s *Server) Transcript(target string) string { return s.capture(target, "-J", "-S", "-") }

func (s *Server) capture(target string, flags ...string) string {
	args := append([]string{"-L", s.socket, "-f", "/dev/null", "capture-pane", "-p", "-t", target}, flags...)
	out, err := exec.Command("tmux", args...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// WaitTranscript waits until the pane's transcript holds text.
func (s *Server) WaitTranscript(target, text string, timeout time.Duration) (time.Duration, error) {
	d, err := poll(func() string { return s.Transcript(target) }, "its transcript holds", timeout, func(t string) bool { return strings.Contains(t, text) })
	if err != nil {
		return 0, fmt.Errorf("waiting for %q in the transcript: %w", text, err)
	}
	return d, nil
}

// Keys sends keys to a pane.
func (s *Server) Keys(target string, keys ...string) error {
	_, err := s.Run(append([]string{"send-keys", "-t", target}, keys...)...)
	return err
}

// WaitFor polls the pane every 2 ms until cond holds, and says how long it took.
func (s *Server) WaitFor(target string, timeout time.Duration, cond func(screen string) bool) (time.Duration, error) {
	return poll(func() string { return s.Screen(target) }, "the pane shows", timeout, cond)
}

// poll reads every 2 ms until cond holds; what names what read returns,
// for the error.
func poll(read func() string, what string, timeout time.Duration, cond func(string) bool) (time.Duration, error) {
	start := time.Now()
	for {
		got := read()
		if cond(got) {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("not seen after %s; %s:\n%s", timeout, what, got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// WaitText waits until the pane shows text.
func (s *Server) WaitText(target, text string, timeout time.Duration) (time.Duration, error) {
	d, err := s.WaitFor(target, timeout, func(screen string) bool { return strings.Contains(screen, text) })
	if err != nil {
		return 0, fmt.Errorf("waiting for %q: %w", text, err)
	}
	return d, nil
}

// PanePID is the pid of the process in a pane.
func (s *Server) PanePID(target string) (int, error) {
	out, err := s.Run("display-message", "-p", "-t", target, "#{pane_pid}")
	if err != nil {
		return 0, err
	}
	var pid int
	_, err = fmt.Sscan(strings.TrimSpace(out), &pid)
	return pid, err
}

// Kill stops the server and everything in it.
func (s *Server) Kill() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() }
