package node

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process of the cluster (etcd, kube-apiserver, containerd,
// kube-scheduler, kubelet).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, valid after done
	tail *lineWriter
}

// startProc starts bin with args, its output going line by line, prefixed
// with name, to log and into a tail kept for error messages. The process
// gets SIGKILL if the test process dies (Pdeathsig) and its own process group.
func startProc(log io.Writer, name, bin string, args ...string) (*proc, error) {
	return startProcCopy(log, nil, name, bin, args...)
}

// startProcCopy is startProc that also writes each line, unprefixed, to
// raw (a log file on the node, where a learner would read it).
func startProcCopy(log, raw io.Writer, name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, done: make(chan struct{}), tail: &lineWriter{prefix: name, out: log, raw: raw, keep: 40}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.tail
	p.cmd.Stderr = p.tail
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.tail.flush()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// deadError describes a process that exited, with the end of its output.
func (p *proc) deadError() error {
	return fmt.Errorf("%s exited (%v); its last output:\n%s", p.name, p.err, p.tail.lastLines())
}

// stop sends SIGTERM, then SIGKILL after grace, to the process group
// (while its leader is not yet reaped, so the group id is still ours) and
// waits for the process.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.cmd.Process == nil || p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// lineWriter writes complete lines, prefixed, to out and keeps the last keep lines.
type lineWriter struct {
	mu     sync.Mutex
	prefix string
	out    io.Writer
	raw    io.Writer // nil, or gets each line unprefixed
	keep   int
	buf    []byte
	last   []string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

func (w *lineWriter) line(s string) {
	if w.out != nil {
		fmt.Fprintf(w.out, "[%s] %s\n", w.prefix, s)
	}
	if w.raw != nil {
		_, _ = io.WriteString(w.raw, s+"\n")
	}
	w.last = append(w.last, s)
	if len(w.last) > w.keep {
		w.last = w.last[len(w.last)-w.keep:]
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *lineWriter) lastLines() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return "  " + strings.Join(w.last, "\n  ")
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
