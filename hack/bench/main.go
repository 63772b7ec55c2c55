// (One file on purpose: a script anyone can read top to bottom to see how
// each figure is measured.)
//
// Command bench measures imagelab as a learner meets it, on this machine,
// and prints one table: start-up to the first frame (in a pty), a kept
// sandbox to ready, one check (Go benchmarks against a real API server and
// registry), the learner's command to the green step and a reset (the real
// binary in tmux), and resident memory while working through every step.
//
//	make bench   (or: go run ./hack/bench -bin bin/imagelab)
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/creack/pty"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/internal/testenv/tmux"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/sandbox"
)

type row struct {
	what, target, median, p95, runs, command string
	met                                      string
}

var (
	bin   = flag.String("bin", "bin/imagelab", "the imagelab binary to measure")
	runs  = flag.Int("n", 10, "runs of each whole-process measurement")
	goBen = flag.Bool("go-bench", true, "run the Go benchmarks too")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	*bin = abs
	seed := os.Getenv("IMAGELAB_SEED_TARBALL")
	if seed == "" {
		return errors.New("IMAGELAB_SEED_TARBALL is not set: eval \"$(hack/registry-image.sh env)\" (make bench does)")
	}
	work, err := os.MkdirTemp("", "imagelab-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	logf("starting kube-apiserver + etcd and a registry")
	api, err := testenv.StartAPIServer()
	if err != nil {
		return err
	}
	defer api.Stop()
	reg, err := testenv.NewRegistry(work, "learner", testenv.TestPassword)
	if err != nil {
		return err
	}
	defer reg.Close()
	state := filepath.Join(work, "state")
	if out, err := exec.Command(*bin, "up", "--kubeconfig", api.Kubeconfig, "--registry", reg.Host, "--registry-user", reg.User,
		"--registry-password", reg.Password, "--seed-image", seed, "--state-dir", state).CombinedOutput(); err != nil {
		return fmt.Errorf("imagelab up: %v\n%s", err, out)
	}
	sb, err := sandbox.Load(state)
	if err != nil {
		return err
	}

	var rows []row
	logf("start-up, %d runs", *runs)
	first, ready, err := measureStart(state)
	if err != nil {
		return err
	}
	rows = append(rows,
		durRow("start → first frame (pty, 120×36)", 80*time.Millisecond, first, "imagelab in a pty until the first frame shows the step"),
		durRow("second launch, kept sandbox → ready", 2*time.Second, ready, "the same runs, until the header says the sandbox is ready"))

	logf("working through every step in tmux")
	green, rss, err := workThrough(sb, state)
	if err != nil {
		return err
	}
	rows = append(rows, durRow("learner's command → step green", time.Second, green, "kubectl/docker run in a second tmux window; capture-pane polled every 2 ms"))
	rows = append(rows, row{what: "peak resident memory, all 17 steps", target: "≤ 80 MB", median: fmt.Sprintf("%.1f MB", rss), runs: "1",
		command: "VmHWM of the app after working through the lessons in tmux", met: mark(rss <= 80)})

	logf("reset, %d runs", *runs)
	resets, err := measureReset(sb, state)
	if err != nil {
		return err
	}
	rows = append(rows, durRow("imagelab reset STEP (whole command)", 3*time.Second, resets, "imagelab reset pull-secrets/without-credentials, after kubectl run"))

	if *goBen {
		logf("Go benchmarks")
		brows, err := goBenchmarks()
		if err != nil {
			return err
		}
		rows = append(rows, brows...)
	}
	printTable(os.Stdout, rows)
	return nil
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

// measureStart starts the app in a pty n times and times the first frame
// (the first step's title on screen) and the header's "sandbox ready".
func measureStart(state string) (first, ready []time.Duration, err error) {
	for i := 0; i < *runs; i++ {
		cmd := exec.Command(*bin, "--state-dir", state)
		cmd.Env = append(os.Environ(), "TERM=xterm-256color")
		start := time.Now()
		f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 36, Cols: 120})
		if err != nil {
			return nil, nil, err
		}
		var buf bytes.Buffer
		var tFirst, tReady time.Duration
		chunk := make([]byte, 64*1024)
		deadline := time.Now().Add(10 * time.Second)
		for (tFirst == 0 || tReady == 0) && time.Now().Before(deadline) {
			f.SetReadDeadline(deadline)
			n, err := f.Read(chunk)
			if n > 0 {
				buf.Write(chunk[:n])
				// The terminal is answered where the app asks (background colour, cursor).
				if bytes.Contains(chunk[:n], []byte("\x1b]11;?")) {
					io.WriteString(f, "\x1b]11;rgb:0000/0000/0000\x1b\\")
				}
				if bytes.Contains(chunk[:n], []byte("\x1b[6n")) {
					io.WriteString(f, "\x1b[1;1R")
				}
				if tFirst == 0 && bytes.Contains(buf.Bytes(), []byte("really means")) {
					tFirst = time.Since(start)
				}
				if tReady == 0 && bytes.Contains(buf.Bytes(), []byte("sandbox ready")) {
					tReady = time.Since(start)
				}
			}
			if err != nil {
				break
			}
		}
		io.WriteString(f, "\x03") // ctrl+c: quit, keep the sandbox
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		go io.Copy(io.Discard, f)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
		f.Close()
		if tFirst == 0 || tReady == 0 {
			return nil, nil, fmt.Errorf("start %d: first frame %v, ready %v; output:\n%q", i, tFirst, tReady, tail(buf.String(), 2000))
		}
		first, ready = append(first, tFirst), append(ready, tReady)
	}
	return first, ready, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// workThrough opens the app in tmux and does every step as a learner
// would: quiz answers typed in the app, tasks run in a shell beside it.
// It returns the command → green latencies and the app's peak RSS in MB.
func workThrough(sb *sandbox.Sandbox, state string) ([]time.Duration, float64, error) {
	cur, err := lessons.Default()
	if err != nil {
		return nil, 0, err
	}
	tm, err := tmux.New(fmt.Sprintf("imagelab-bench-%d", os.Getpid()))
	if err != nil {
		return nil, 0, err
	}
	defer tm.Kill()
	if _, err := tm.Run("new-session", "-d", "-s", "bench", "-x", "120", "-y", "36", *bin+" --state-dir "+state); err != nil {
		return nil, 0, err
	}
	const app = "bench:0"
	if _, err := tm.WaitText(app, "sandbox ready", 10*time.Second); err != nil {
		return nil, 0, err
	}
	vals := lessons.NewValues(sb.Registry.Host, sb.Registry.User, sb.Registry.Password, sb.Namespace)
	var green []time.Duration
	onStep := func(pos, title string) error {
		// The header's first line names the current step.
		want := pos + " " + title[:min(len(title), 12)]
		_, err := tm.WaitFor(app, 5*time.Second, func(screen string) bool {
			first, _, _ := strings.Cut(screen, "\n")
			return strings.Contains(first, want)
		})
		return err
	}
	for li, l := range cur.Lessons {
		for si, s := range l.Steps {
			if li+si > 0 {
				tm.Keys(app, "n")
			}
			if err := onStep(s.Position(), s.Title); err != nil {
				return nil, 0, fmt.Errorf("step %s: %w", s.Ref(), err)
			}
			d, err := doStep(tm, app, sb, s, vals)
			if err != nil {
				return nil, 0, err
			}
			if d > 0 {
				green = append(green, d)
			}
		}
	}
	// More samples on the secret step: delete, wait for "Not yet", create.
	tm.Keys(app, "3")
	tm.Keys(app, "n")
	if err := onStep("3.2", "The regcred secret"); err != nil {
		return nil, 0, err
	}
	regcred, _ := cur.Find("pull-secrets/regcred")
	create := regcred.RenderedSolution(vals).Run
	for len(green) < *runs+5 {
		if out, err := learnerShell(sb, "kubectl delete secret regcred"); err != nil {
			return nil, 0, fmt.Errorf("%v\n%s", err, out)
		}
		if _, err := tm.WaitText(app, "Not yet", 5*time.Second); err != nil {
			return nil, 0, err
		}
		start := time.Now()
		if out, err := learnerShell(sb, create); err != nil {
			return nil, 0, fmt.Errorf("%v\n%s", err, out)
		}
		if _, err := tm.WaitText(app, "Passed.", 5*time.Second); err != nil {
			return nil, 0, err
		}
		green = append(green, time.Since(start))
	}
	pid, err := tm.PanePID(app)
	if err != nil {
		return nil, 0, err
	}
	rss, err := peakRSS(pid)
	return green, rss, err
}

// doStep does one step: a quiz answer typed in the app, or the solution
// run in a shell beside it. For a task it returns the time from the
// command to the step's green.
func doStep(tm *tmux.Server, app string, sb *sandbox.Sandbox, s *lessons.Step, vals lessons.Values) (time.Duration, error) {
	sol := s.RenderedSolution(vals)
	if s.IsQuiz() {
		tm.Keys(app, "Enter")
		tm.Keys(app, "-l", sol.Answer)
		tm.Keys(app, "Enter")
		if _, err := tm.WaitText(app, "Right.", 5*time.Second); err != nil {
			return 0, fmt.Errorf("quiz %s: %w", s.Ref(), err)
		}
		// The last step brings the finish screen; any key closes it.
		if _, err := tm.WaitText(app, "You finished imagelab", 300*time.Millisecond); err == nil {
			tm.Keys(app, "Escape")
			if _, err := tm.WaitFor(app, 2*time.Second, func(s string) bool { return !strings.Contains(s, "You finished") }); err != nil {
				return 0, err
			}
		}
		// Leave the answer field; wait until the keys are back, so the
		// next key is not read as alt+key after the escape.
		tm.Keys(app, "Escape")
		_, err := tm.WaitText(app, "enter answer", 5*time.Second)
		return 0, err
	}
	for name, body := range sol.Files {
		if err := os.WriteFile(filepath.Join(sb.WorkDir, name), []byte(body), 0o644); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if out, err := learnerShell(sb, sol.Run); err != nil {
		return 0, fmt.Errorf("solution of %s: %v\n%s", s.Ref(), err, out)
	}
	if _, err := tm.WaitText(app, "Passed.", 10*time.Second); err != nil {
		return 0, fmt.Errorf("step %s did not turn green: %w", s.Ref(), err)
	}
	return time.Since(start), nil
}

// learnerShell runs a script as the learner's shell would, in the sandbox.
func learnerShell(sb *sandbox.Sandbox, script string) (string, error) {
	return testenv.Shell(context.Background(), sb.WorkDir, sb.ShellEnv(os.Environ()), script)
}

// peakRSS reads VmHWM (the peak resident set) of a process, in MB.
func peakRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM")
}

// measureReset times the whole reset command of a step after its solution.
func measureReset(sb *sandbox.Sandbox, state string) ([]time.Duration, error) {
	var out []time.Duration
	if o, err := exec.Command(*bin, "reset", "pull-secrets/without-credentials", "--state-dir", state).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("reset: %v\n%s", err, o)
	}
	for i := 0; i < *runs; i++ {
		if o, err := learnerShell(sb, "kubectl run anonymous --image="+sb.SeedImage()+" --restart=Never"); err != nil {
			return nil, fmt.Errorf("%v\n%s", err, o)
		}
		start := time.Now()
		if o, err := exec.Command(*bin, "reset", "pull-secrets/without-credentials", "--state-dir", state).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("reset: %v\n%s", err, o)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+([\d.]+) ns/op(?:\s+([\d.]+) p50-ms\s+([\d.]+) p95-ms)?`)

// goBenchmarks runs the check, reset and rendering benchmarks.
func goBenchmarks() ([]row, error) {
	cmdline := []string{"test", "-run", "^$", "-bench", "BenchmarkCheck|BenchmarkReset|BenchmarkRender", "-benchtime", "100x", "./internal/app", "./tui"}
	out, err := exec.Command("go", cmdline...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(cmdline, " "), err, out)
	}
	var rows []row
	for _, line := range strings.Split(string(out), "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := row{what: m[1], runs: m[3], command: "go test -bench '" + m[1] + "$' -benchtime 100x"}
		if m[5] != "" {
			p50, _ := strconv.ParseFloat(m[5], 64)
			p95, _ := strconv.ParseFloat(m[6], 64)
			r.median, r.p95 = fmtMs(p50), fmtMs(p95)
			if strings.HasPrefix(m[1], "BenchmarkCheck/") {
				r.target, r.met = "p95 ≤ 30 ms", mark(p95 <= 30)
			}
		} else {
			ns, _ := strconv.ParseFloat(m[4], 64)
			r.median = fmt.Sprintf("%.3f ms (mean)", ns/1e6)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func fmtMs(ms float64) string {
	if ms < 0.1 {
		return fmt.Sprintf("%.0f µs", ms*1000)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

func durRow(what string, target time.Duration, ds []time.Duration, command string) row {
	med, p95 := percentile(ds, 50), percentile(ds, 95)
	return row{what: what, target: "≤ " + fmtDur(target), median: fmtDur(med), p95: fmtDur(p95), runs: strconv.Itoa(len(ds)), command: command, met: mark(med <= target)}
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| measure | target | median | p95 | runs | met | how |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.what, r.target, r.median, r.p95, r.runs, r.met, r.command)
	}
}
