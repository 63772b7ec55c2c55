package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// examBinary is the real binary with a sandbox made by its own up on the
// shared API server and a registry of its own, and a tmux server to run
// it in.
type examBinary struct {
	t     *testing.T
	tm    *tuiDriver
	bin   string
	state string
	cur   *lessons.Curriculum
}

func newExamBinary(t *testing.T, namespace string) *examBinary {
	t.Helper()
	testenv.RequireDocker(t)
	tm := newTmux(t)
	api := testenv.SharedAPIServer(t)
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	b := &examBinary{t: t, tm: tm, bin: buildImagelab(t), state: t.TempDir()}
	up := exec.Command(b.bin, "up", "--state-dir", b.state, "--kubeconfig", api.Kubeconfig, "--namespace", namespace,
		"--registry", reg.Host, "--registry-user", reg.User, "--registry-password", reg.Password,
		"--seed-image", testenv.SeedTarball(t))
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("imagelab up: %v\n%s", err, out)
	}
	var err error
	if b.cur, err = lessons.Default(); err != nil {
		t.Fatal(err)
	}
	tm.run("new-session", "-d", "-s", "imagelab", "-n", "app", "-x", "120", "-y", "36")
	tm.run("set-option", "-t", "imagelab", "remain-on-exit", "on")
	return b
}

const examPane = "imagelab:app"

// open starts imagelab exam in the pane (the pane's process is imagelab
// itself), with the test binaries on PATH for its shells.
func (b *examBinary) open(env string, args ...string) {
	cmd := fmt.Sprintf("exec env PATH=%s:%s %s %s exam --state-dir %s %s", testenv.BinDir(), os.Getenv("PATH"), env, b.bin, shellQuote(b.state), strings.Join(args, " "))
	b.tm.run("respawn-pane", "-k", "-t", examPane, cmd)
}

// cli runs imagelab with args and returns its output (and its exit error).
func (b *examBinary) cli(args ...string) (string, error) {
	cmd := exec.Command(b.bin, append(args, "--state-dir", b.state)...)
	out, err := cmd.Output()
	return string(out), err
}

// attempt is imagelab exam --json's view of the attempt.
func (b *examBinary) attempt() attemptJSON {
	b.t.Helper()
	out, err := b.cli("exam", "--json")
	if err != nil {
		b.t.Fatalf("imagelab exam --json: %v\n%s", err, out)
	}
	var a attemptJSON
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		b.t.Fatalf("imagelab exam --json: %v\n%s", err, out)
	}
	return a
}

// session is an exam session on the binary's sandbox, to read the attempt
// and work in a task's namespace as the app's shell does.
func (b *examBinary) session() *examSession {
	b.t.Helper()
	sb, err := sandbox.Load(b.state)
	if err != nil {
		b.t.Fatal(err)
	}
	s, err := newExamSession(b.state, b.cur, sb)
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

var taskShown = func(n int) func(string) bool {
	return func(s string) bool {
		return strings.Contains(s, fmt.Sprintf("Task 1 of %d", n)) && strings.Contains(s, " left")
	}
}

// seedWithout finds a seed whose exam of n tasks (none on the node) has
// every step in want and none in avoid, so the test's mix does not
// depend on luck.
func seedWithout(t *testing.T, cur *lessons.Curriculum, n int, want, avoid []string) int64 {
	t.Helper()
	noNode := func(s *lessons.Step) bool { return !s.Needs().Has(check.NeedsNode) }
	for seed := int64(1); seed < 5000; seed++ {
		x, err := exam.Draw(cur, exam.Options{Seed: seed, Tasks: n, Eligible: noNode})
		if err != nil {
			t.Fatal(err)
		}
		var refs []string
		for _, task := range x.Tasks {
			refs = append(refs, task.Step)
		}
		if !slices.ContainsFunc(refs, func(r string) bool { return slices.Contains(avoid, r) }) &&
			!slices.ContainsFunc(want, func(r string) bool { return !slices.Contains(refs, r) }) {
			return seed
		}
	}
	t.Fatalf("no seed draws %v without %v", want, avoid)
	return 0
}

// TestIntegrationExamTUI is a mock exam through the real binary in tmux,
// without colour (NO_COLOR): the first task is shown once every
// namespace is prepared (timed, median of 5); one task is solved by its
// reference solution typed in the app's own shell (key t), another in a
// shell of the learner's, two are left untouched (one flagged); S and y
// end it, and the score screen shows, per task, the points and each
// criterion met or missed as the report file says.
func TestIntegrationExamTUI(t *testing.T) {
	b := newExamBinary(t, "exam-tui")
	tm := b.tm

	var shown []time.Duration
	for range 5 {
		start := time.Now()
		b.open("") // the default: 6 tasks
		tm.waitFor(examPane, "the first task", 60*time.Second, taskShown(exam.DefaultTasks))
		shown = append(shown, time.Since(start))
		tm.keys(examPane, "C-c")
		tm.waitText(examPane, "ends it.", 10*time.Second)
		if out, err := b.cli("exam", "submit"); err != nil && !strings.Contains(out, "NOT PASSED") {
			t.Fatalf("imagelab exam submit: %v\n%s", err, out)
		}
	}
	t.Logf("imagelab exam to the first task, namespaces prepared: median %s of %d (%v)", median(shown).Round(time.Millisecond), len(shown), shown)

	seed := seedWithout(t, b.cur, 4, []string{"troubleshoot/broken-app"}, []string{"private-registry/push", "private-registry/login"})
	report := filepath.Join(b.state, "report.json")
	b.open("NO_COLOR=1", "--tasks 4", "--seed", strconv.FormatInt(seed, 10), "--report", report)
	tm.waitFor(examPane, "the first task", 60*time.Second, taskShown(4))
	s := b.session()
	x, err := exam.Current(b.state, b.cur)
	if err != nil || x == nil {
		t.Fatalf("the attempt: %v, %v", x, err)
	}
	t.Logf("seed %d: tasks %v", seed, func() (refs []string) {
		for _, task := range x.Tasks {
			refs = append(refs, task.Step)
		}
		return
	}())

	// Task 1 in the app's shell: the solution's files, then its commands.
	first := x.Tasks[0]
	sol := first.StepOf().RenderedSolution(x.Values(s.box.Values, first))
	for name, body := range sol.Files {
		if err := os.WriteFile(filepath.Join(s.sb.WorkDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.sb.WorkDir, "task1.sh"), []byte(sol.Run), 0o644); err != nil {
		t.Fatal(err)
	}
	tm.keys(examPane, "t")
	tm.waitText(examPane, "Type exit to go back to the exam", 10*time.Second)
	tm.typeLine(examPane, "bash -eo pipefail task1.sh; exit")
	tm.waitFor(examPane, "the exam again", 30*time.Second, taskShown(4))

	// Task 3 in the learner's own shell; tasks 2 and 4 untouched, 2 flagged.
	solveTask(t, s, x, x.Tasks[2])
	tm.keys(examPane, "2")
	tm.waitText(examPane, "Task 2 of 4", 5*time.Second)
	tm.keys(examPane, "f")
	tm.waitText(examPane, "⚑ flagged", 5*time.Second)
	if colours := colourCodes(tm.run("capture-pane", "-p", "-e", "-t", examPane)); len(colours) > 0 {
		t.Errorf("NO_COLOR is set, yet the screen has colours: %q", colours)
	}

	tm.keys(examPane, "S")
	tm.waitText(examPane, "Submit the exam?", 5*time.Second)
	tm.keys(examPane, "y")
	tm.waitText(examPane, "pass mark 67%", 60*time.Second)

	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the report file: %v", err)
	}
	var r exam.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if colours := colourCodes(tm.run("capture-pane", "-p", "-e", "-t", examPane)); len(colours) > 0 {
		t.Errorf("NO_COLOR is set, yet the score screen has colours: %q", colours)
	}
	screen := scoreScreen(tm)
	for i, tr := range r.Tasks {
		solved := i == 0 || i == 2
		if met, counted := tr.Counted(); solved != (met == counted) || tr.Points != map[bool]float64{true: float64(tr.Weight), false: 0}[solved] {
			t.Errorf("task %d (%s, solved %v): %d of %d criteria, %v of %d points", tr.Number, tr.Step, solved, met, counted, tr.Points, tr.Weight)
		}
		line := regexp.MustCompile(fmt.Sprintf(`Task %d  %s.*%s / %d`, tr.Number, regexp.QuoteMeta(tr.Title[:min(len(tr.Title), 16)]), regexp.QuoteMeta(strconv.FormatFloat(tr.Points, 'f', -1, 64)), tr.Weight))
		if !line.MatchString(screen) {
			t.Errorf("the score screen has no line for task %d with %v / %d points", tr.Number, tr.Points, tr.Weight)
		}
		if want := chipsText(tr); !strings.Contains(screen, want) {
			t.Errorf("task %d's criteria %q are not on the score screen", tr.Number, want)
		}
		for _, c := range tr.Criteria {
			if c.Judged && !c.Met && len(c.Findings) > 0 && !strings.Contains(screen, "✗ "+c.Name+": ") {
				t.Errorf("task %d: the finding of missed criterion %s is not shown", tr.Number, c.Name)
			}
		}
	}
	if !r.Tasks[1].Flagged || r.Passed != (r.Percent >= 67) || r.Ending != exam.Submitted {
		t.Errorf("report: flagged %v, passed %v at %v%%, ending %s", r.Tasks[1].Flagged, r.Passed, r.Percent, r.Ending)
	}
	t.Logf("report file:\n%s", data)

	// The score screen as the learner sees it, at 120×36 and 80×24.
	tm.keys(examPane, "g")
	time.Sleep(300 * time.Millisecond)
	t.Logf("score screen at 120x36 (NO_COLOR):\n%s", tm.screen(examPane))
	tm.run("resize-window", "-t", examPane, "-x", "80", "-y", "24")
	tm.waitFor(examPane, "the 80-column layout", 5*time.Second, func(s string) bool {
		return len(strings.Split(strings.TrimRight(s, "\n"), "\n")) <= 24 && strings.Contains(s, "pass mark")
	})
	time.Sleep(300 * time.Millisecond)
	t.Logf("score screen at 80x24 (NO_COLOR):\n%s", tm.screen(examPane))

	tm.keys(examPane, "q")
	tm.waitDead(examPane, 10*time.Second) // the report is printed after the app
	if hist, err := b.cli("exam", "history"); err != nil || strings.Count(hist, "\n") < 7 {
		t.Errorf("imagelab exam history: %v\n%s", err, hist)
	}
}

// scoreScreen is the whole score screen, page by page.
func scoreScreen(tm *tuiDriver) string {
	var pages []string
	tm.keys(examPane, "g")
	for range 20 {
		time.Sleep(150 * time.Millisecond)
		page := tm.screen(examPane)
		pages = append(pages, page)
		if strings.Contains(page, "✓ met · ✗ missed") {
			break
		}
		tm.keys(examPane, "Space")
	}
	return strings.Join(pages, "\n")
}

// chipsText is a task's criteria as the score screen marks them.
func chipsText(tr exam.TaskReport) string {
	var chips []string
	for _, c := range tr.Criteria {
		mark := "✗"
		switch {
		case c.Given && c.Met:
			mark = "○"
		case c.Met:
			mark = "✓"
		case !c.Judged:
			mark = "–"
		}
		chips = append(chips, mark+" "+c.Name)
	}
	return strings.Join(chips, "   ")
}

// colourCodes are the SGR colour settings in a captured pane.
func colourCodes(pane string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\x1b\[([0-9;]*)m`).FindAllStringSubmatch(pane, -1) {
		for _, p := range strings.Split(m[1], ";") {
			if n, err := strconv.Atoi(p); err == nil && (n >= 30 && n <= 38 || n >= 40 && n <= 48 || n >= 90 && n <= 107) {
				out = append(out, m[0])
				break
			}
		}
	}
	return out
}

// TestIntegrationExamResume: the app is killed mid-exam (SIGKILL, nothing
// saved on the way out); the next imagelab exam resumes the same attempt
// with the clock gone on; once the deadline passes with imagelab not
// running, the next imagelab exam scores it at once, as expired.
func TestIntegrationExamResume(t *testing.T) {
	b := newExamBinary(t, "exam-resume")
	tm := b.tm
	b.open("", "--tasks 2", "--duration 20s")
	tm.waitFor(examPane, "the first task", 60*time.Second, taskShown(2))
	before := b.attempt()
	pid, err := tm.PanePID(examPane)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tm.waitDead(examPane, 10*time.Second)
	time.Sleep(2 * time.Second)

	after := b.attempt()
	if after.ID != before.ID || !after.Started.Equal(before.Started) || after.State != "running" {
		t.Fatalf("after the crash: attempt %s started %s (%s), want %s started %s", after.ID, after.Started, after.State, before.ID, before.Started)
	}
	if after.RemainingSeconds >= before.RemainingSeconds || after.RemainingSeconds <= 0 {
		t.Errorf("the clock did not go on: %ds left before the crash, %ds after", before.RemainingSeconds, after.RemainingSeconds)
	}
	b.open("")
	tm.waitFor(examPane, "the resumed exam", 20*time.Second, taskShown(2))
	tm.keys(examPane, "C-c")
	tm.waitText(examPane, "ends it.", 10*time.Second)

	time.Sleep(time.Until(after.Deadline) + time.Second)
	scored := b.attempt()
	if scored.ID != before.ID || scored.State != "scored" || scored.Report == nil || scored.Report.Ending != exam.Expired {
		t.Fatalf("past the deadline: attempt %s, state %s, report %+v", scored.ID, scored.State, scored.Report)
	}
	out, err := b.cli("exam", "history", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var hist struct {
		Attempts []exam.Attempt `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil || len(hist.Attempts) != 1 || hist.Attempts[0].Ending != exam.Expired {
		t.Errorf("history: %v\n%s", err, out)
	}
	ctx := context.Background()
	s := b.session()
	for _, task := range scored.Tasks {
		if ns, err := s.env.Kube.CoreV1().Namespaces().Get(ctx, task.Namespace, metav1.GetOptions{}); err == nil && ns.DeletionTimestamp == nil {
			t.Errorf("namespace %s is still there after the expired exam was scored", task.Namespace)
		}
	}
}
