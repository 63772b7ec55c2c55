package imagepolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/imagelab/imagelab/internal/fsutil"
)

// The files a Process keeps beside the certificates.
const (
	KubeconfigFile = "kubeconfig.yaml" // the kubeconfig for the API server, written by the backend
	stateFile      = "backend.json"    // where it listens, and its pid
	logFile        = "backend.log"     // its log
)

// NodeFiles are the files the API server on the node needs to reach a
// Process's backend: the kubeconfig and the certificates it names, by
// base name (the kubeconfig names them relative to itself).
var NodeFiles = []string{KubeconfigFile, CAFile, ClientCertFile, ClientKeyFile}

// Process is the backend run as a process of its own, so that it answers
// the API server whether imagelab is open or not: the API server asks it
// about every pod from the moment the learner turns the plugin on. Up
// starts it (or finds it running), Down stops it; it keeps its
// certificates and its address between starts, so the kubeconfig given
// to the node stays right.
type Process struct {
	// Dir holds the certificates, the kubeconfig, the state and the log.
	Dir string
	// Registry is the one registry it allows.
	Registry string
	// Command starts the backend in the foreground; Up adds the flags
	// (see ServeFlags). E.g. {"/usr/local/bin/imagelab", "policy-backend"}.
	Command []string
	// Locate says, on the first start, where the node reaches this
	// machine: the host the API server dials (an IP or a DNS name, the
	// serving certificate's SAN) and the IP to listen on.
	Locate func(ctx context.Context) (dial, listen string, err error)
}

// processState is what a running backend wrote about itself.
type processState struct {
	PID      int    `json:"pid"`
	Addr     string `json:"addr"` // host:port it listens on
	Dial     string `json:"dial"` // the host the node dials
	Registry string `json:"registry"`
}

// ServeFlags are the flags Up gives the backend's command.
type ServeFlags struct {
	Dir, Registry, Listen, Dial string
}

// Args are the flags as command-line arguments.
func (f ServeFlags) Args() []string {
	return []string{"--dir", f.Dir, "--registry", f.Registry, "--listen", f.Listen, "--dial", f.Dial}
}

// Serve runs the backend in the foreground until ctx ends: what the
// command a Process starts does. It listens on flags.Listen (a port of 0
// picks one), writes the kubeconfig for the node and then its state.
func Serve(ctx context.Context, flags ServeFlags) error {
	logf, err := os.OpenFile(filepath.Join(flags.Dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	srv, err := New(flags.Registry, flags.Dir, WithAddr(flags.Listen), WithHosts(flags.Dial), WithKeptCertificates(),
		WithCertValidity(30*24*time.Hour), WithLogger(slog.New(slog.NewTextHandler(logf, nil))))
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Stop(context.Background()) //nolint:errcheck // exiting anyway
	if err := srv.WriteKubeconfig(filepath.Join(flags.Dir, KubeconfigFile), srv.URL(flags.Dial)); err != nil {
		return err
	}
	state, err := json.Marshal(processState{PID: os.Getpid(), Addr: srv.Addr(), Dial: flags.Dial, Registry: srv.Registry()})
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(flags.Dir, stateFile), state, 0o600); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// Up starts the backend unless it runs, and waits until it answers.
func (p *Process) Up(ctx context.Context) error {
	st, _ := p.state()
	if st != nil && p.alive(st) {
		return nil
	}
	if st != nil {
		// One for another registry, or one that stopped answering: gone
		// before its successor takes the port.
		if err := p.Down(ctx); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	flags := ServeFlags{Dir: p.Dir, Registry: p.Registry}
	if st != nil && st.Registry == mustNormalize(p.Registry) {
		// Again where it was: the node's kubeconfig names this address.
		flags.Listen, flags.Dial = st.Addr, st.Dial
	} else {
		dial, listen, err := p.Locate(ctx)
		if err != nil {
			return err
		}
		flags.Listen, flags.Dial = net.JoinHostPort(listen, "0"), dial
	}
	_ = os.Remove(filepath.Join(p.Dir, stateFile))
	if len(p.Command) == 0 {
		return errors.New("image policy webhook: no command to start it with")
	}
	cmd := exec.Command(p.Command[0], append(append([]string(nil), p.Command[1:]...), flags.Args()...)...)
	detach(cmd)
	// What it says before its log is open (a flag, an address it cannot
	// listen on) goes to the log too.
	logf, err := os.OpenFile(filepath.Join(p.Dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the image policy webhook: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the image policy webhook stopped as it started (%v): %s", err, p.lastLog())
		case <-deadline.C:
			return fmt.Errorf("the image policy webhook did not start within 15s: %s", p.lastLog())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if st, _ := p.state(); st != nil && st.PID == cmd.Process.Pid && p.alive(st) {
				// Wait reaps it if it dies later, while this process lives.
				return nil
			}
		}
	}
}

// Down stops the backend and waits until it is gone. Stopping a stopped
// backend does nothing.
func (p *Process) Down(ctx context.Context) error {
	st, err := p.state()
	if st == nil {
		return err
	}
	// A pid from an old state file may name another process by now.
	if !p.isOurs(st.PID) {
		return nil
	}
	if err := terminate(st.PID); err != nil {
		return nil // no such process: already stopped
	}
	wait := time.NewTicker(50 * time.Millisecond)
	defer wait.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for processExists(st.PID) && dialable(st.Addr) {
		if time.Now().After(deadline) {
			kill(st.PID)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait.C:
		}
	}
	// Its port must be free for the next start at the same address.
	for dialable(st.Addr) && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Running says whether the backend runs and accepts connections.
func (p *Process) Running() bool {
	st, _ := p.state()
	return st != nil && p.alive(st)
}

// Files are the files for the node (NodeFiles), read from Dir; Up first.
func (p *Process) Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, name := range NodeFiles {
		b, err := os.ReadFile(filepath.Join(p.Dir, name))
		if err != nil {
			return nil, fmt.Errorf("the image policy webhook's %s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// URL is where the node reaches the backend; "" before the first Up.
func (p *Process) URL() string {
	st, _ := p.state()
	if st == nil {
		return ""
	}
	_, port, _ := net.SplitHostPort(st.Addr)
	return "https://" + net.JoinHostPort(st.Dial, port) + DefaultPath
}

func (p *Process) state() (*processState, error) {
	b, err := os.ReadFile(filepath.Join(p.Dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st processState
	if err := json.Unmarshal(b, &st); err != nil || st.PID <= 0 || st.Addr == "" {
		return nil, nil // half-written or damaged: start afresh
	}
	return &st, nil
}

func (p *Process) alive(st *processState) bool {
	return st.Registry == mustNormalize(p.Registry) && p.isOurs(st.PID) && dialable(st.Addr)
}

// isOurs says whether pid is a backend serving this Process's Dir: its
// command line names the dir.
func (p *Process) isOurs(pid int) bool {
	if !processExists(pid) {
		return false
	}
	cmdline, ok := commandLine(pid)
	return !ok || strings.Contains(cmdline, p.Dir)
}

// lastLog is the end of the backend's log, for an error.
func (p *Process) lastLog() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, logFile))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if s := strings.Join(lines, "\n"); s != "" {
		return s
	}
	return "(its log is empty)"
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func mustNormalize(registry string) string {
	r, err := NormalizeRegistry(registry)
	if err != nil {
		return registry
	}
	return r
}
