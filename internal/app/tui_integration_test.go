package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/internal/testenv/tmux"
	"github.com/imagelab/imagelab/lessons"
)

// tuiDriver is the private tmux server of internal/testenv/tmux, with
// failures ending the test.
type tuiDriver struct {
	t *testing.T
	*tmux.Server
	socket string
}

func newTmux(t *testing.T) *tuiDriver {
	t.Helper()
	socket := fmt.Sprintf("imagelab-test-%d", os.Getpid())
	srv, err := tmux.New(socket)
	if err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	t.Cleanup(srv.Kill)
	return &tuiDriver{t: t, Server: srv, socket: socket}
}

func (tm *tuiDriver) run(args ...string) string {
	tm.t.Helper()
	out, err := tm.Run(args...)
	if err != nil {
		tm.t.Fatal(err)
	}
	return out
}

func (tm *tuiDriver) screen(target string) string { return tm.Screen(target) }

func (tm *tuiDriver) waitFor(target, what string, timeout time.Duration, cond func(string) bool) time.Duration {
	tm.t.Helper()
	d, err := tm.WaitFor(target, timeout, cond)
	if err != nil {
		tm.t.Fatalf("waiting for %s: %v", what, err)
	}
	return d
}

func (tm *tuiDriver) waitText(target, text string, timeout time.Duration) time.Duration {
	tm.t.Helper()
	d, err := tm.WaitText(target, text, timeout)
	if err != nil {
		tm.t.Fatal(err)
	}
	return d
}

// waitTranscript waits for text among what the pane showed outside the
// app (scrollback included, wrapped lines joined): a message printed as the
// app exits may wrap, and its start scroll off the visible screen.
func (tm *tuiDriver) waitTranscript(target, text string, timeout time.Duration) {
	tm.t.Helper()
	if _, err := tm.WaitTranscript(target, text, timeout); err != nil {
		tm.t.Fatal(err)
	}
}

func (tm *tuiDriver) keys(target string, keys ...string) {
	tm.t.Helper()
	if err := tm.Keys(target, keys...); err != nil {
		tm.t.Fatal(err)
	}
}

// waitDead waits until the pane's process has exited (the pane must have
// remain-on-exit on). A killed app leaves its last frame on the screen, so
// the screen alone cannot tell.
func (tm *tuiDriver) waitDead(target string, timeout time.Duration) {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.TrimSpace(tm.run("display-message", "-p", "-t", target, "#{pane_dead}")) != "1" {
		if time.Now().After(deadline) {
			tm.t.Fatalf("the app in %s still runs after %s; the pane shows:\n%s", target, timeout, tm.screen(target))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// typeLine types a shell line literally and presses Enter.
func (tm *tuiDriver) typeLine(target, line string) {
	tm.t.Helper()
	tm.keys(target, "-l", line)
	tm.keys(target, "Enter")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// buildImagelab builds the real binary once for the test.
func buildImagelab(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "imagelab")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/imagelab/imagelab/cmd/imagelab")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building imagelab: %v\n%s", err, out)
	}
	return bin
}

// TestIntegrationTUI is the learner's path through the real binary: the
// app in one tmux window, a shell in another. The learner's real kubectl
// command turns the step green without pressing c; quitting and opening
// the app again lands on the same step. It also measures the time to the
// first frame and from the command to the green step.
func TestIntegrationTUI(t *testing.T) {
	testenv.Require(t)
	tm := newTmux(t)
	api := testenv.SharedAPIServer(t)
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	bin := buildImagelab(t)
	state := t.TempDir()
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	total := len(cur.Steps())

	up := exec.Command(bin, "up", "--state-dir", state, "--kubeconfig", api.Kubeconfig, "--namespace", "tui",
		"--registry", reg.Host, "--registry-user", reg.User, "--registry-password", reg.Password,
		"--seed-image", testenv.SeedTarball(t))
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("imagelab up: %v\n%s", err, out)
	}

	app := "imagelab:app"
	appCmd := fmt.Sprintf("%s --state-dir %s", bin, shellQuote(state))
	tm.run("new-session", "-d", "-s", "imagelab", "-n", "app", "-x", "120", "-y", "36")
	tm.run("set-option", "-t", "imagelab", "remain-on-exit", "on")
	tm.run("new-window", "-d", "-t", "imagelab", "-n", "shell", "bash --norc --noprofile")
	shell := "imagelab:shell"

	// Start-up: the first frame, then the sandbox ready (median of 10 starts).
	var firstFrame []time.Duration
	for i := range 10 {
		start := time.Now()
		tm.run("respawn-pane", "-k", "-t", app, appCmd)
		tm.waitFor(app, "the first frame", 10*time.Second, func(s string) bool {
			return strings.Contains(s, "imagelab") && strings.Contains(s, fmt.Sprintf("/%d ✓", total))
		})
		firstFrame = append(firstFrame, time.Since(start))
		tm.waitText(app, "sandbox ready", 30*time.Second)
		if i < 9 {
			tm.keys(app, "C-c")
			tm.waitFor(app, "the app to end", 10*time.Second, func(s string) bool { return !strings.Contains(s, "sandbox ready") })
		}
	}
	t.Logf("time to first frame: median %s of %d starts (%v)", median(firstFrame).Round(time.Millisecond), len(firstFrame), firstFrame)

	// To the regcred step: lesson 3, then its second step.
	tm.keys(app, "3")
	tm.waitText(app, "3.1 A pod without credentials", 5*time.Second)
	tm.keys(app, "n")
	tm.waitText(app, "3.2 The regcred secret", 5*time.Second)
	tm.waitText(app, "✗ Not yet.", 10*time.Second)
	if hold := os.Getenv("IMAGELAB_TUI_HOLD"); hold != "" {
		d, _ := time.ParseDuration(hold)
		t.Logf("holding for %s: tmux -L %s attach -t imagelab", d, tm.socket)
		time.Sleep(d)
	}

	// The learner's shell, as the app's split-screen line says.
	tm.typeLine(shell, fmt.Sprintf(`export PATH=%s:$PATH; eval "$(%s env --state-dir %s)"; cd %s/work`, testenv.BinDir(), bin, shellQuote(state), shellQuote(state)))
	create := fmt.Sprintf("kubectl create secret docker-registry regcred --docker-server=%s --docker-username=%s --docker-password=%s", reg.Host, reg.User, shellQuote(reg.Password))
	passed := func(s string) bool { return strings.Contains(s, "✓ Passed.") }
	var green []time.Duration
	for i := range 10 {
		if i > 0 {
			tm.typeLine(shell, "kubectl delete secret regcred")
			tm.waitText(app, "✗ Not yet.", 10*time.Second)
		}
		start := time.Now()
		tm.typeLine(shell, create)
		tm.waitFor(app, "the step to pass", 15*time.Second, passed)
		green = append(green, time.Since(start))
	}
	t.Logf("learner's command to green step: median %s of %d (%v)", median(green).Round(time.Millisecond), len(green), green)
	if s := tm.screen(app); !strings.Contains(s, fmt.Sprintf("1/%d ✓", total)) {
		t.Errorf("the header does not count the passed step:\n%s", s)
	}

	// Quit (keeping the sandbox), open again: the same step.
	tm.keys(app, "q")
	tm.waitText(app, "Leave imagelab?", 5*time.Second)
	tm.keys(app, "k")
	tm.waitTranscript(app, "The sandbox is still there for next time (imagelab down --state-dir", 10*time.Second)
	tm.run("respawn-pane", "-k", "-t", app, appCmd)
	tm.waitText(app, "3.2 The regcred secret", 10*time.Second)
	tm.waitFor(app, "the step passed after reopening", 15*time.Second, passed)
	// The app must be gone before its state dir is removed: keep its pane
	// when it exits, and wait for that (it writes its progress as it quits).
	tm.run("set-option", "-t", app, "remain-on-exit", "on")
	tm.keys(app, "C-c")
	tm.waitDead(app, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := testenv.Shell(ctx, state, nil, fmt.Sprintf("%s lessons --state-dir %s --json", bin, shellQuote(state)))
	if err != nil {
		t.Fatalf("imagelab lessons: %v\n%s", err, out)
	}
	var listed struct {
		Lessons []lessonJSON `json:"lessons"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("imagelab lessons --json: %v\n%s", err, out)
	}
	for _, l := range listed.Lessons {
		for _, s := range l.Steps {
			if wantCurrent := s.Ref == "pull-secrets/regcred"; s.Current != wantCurrent || s.Passed != wantCurrent {
				t.Errorf("progress of %s: current %v, passed %v; want %v", s.Ref, s.Current, s.Passed, wantCurrent)
			}
		}
	}
}

// paneFits reports why a pane's screen does not lay out in w×h, or "":
// no line wider than the terminal (lipgloss.Width: Hangul takes two
// columns), the header on the first line and the help bar on the last (a
// line too wide for the terminal would wrap and push them off).
func paneFits(screen string, w, h int) string {
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if len(lines) != h {
		return fmt.Sprintf("%d lines on a %d-line terminal", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			return fmt.Sprintf("line %d is %d wide on a %d-column terminal: %q", i+1, lw, w, l)
		}
	}
	if !strings.Contains(lines[0], "imagelab") || !strings.Contains(lines[h-1], "도움말") {
		return "the header or the help bar is not where it belongs"
	}
	return ""
}

// TestIntegrationTUIKorean is the learner's path through the real binary
// in Korean (IMAGELAB_LANG=ko in the pane's environment): imagelab up's
// progress, the app at 120×36 and at 80×24 with the regcred step, a real
// kubectl command turning it green, the quit dialog and the app's last line.
func TestIntegrationTUIKorean(t *testing.T) {
	testenv.Require(t)
	tm := newTmux(t)
	api := testenv.SharedAPIServer(t)
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	bin := buildImagelab(t)
	state := t.TempDir()

	up := exec.Command(bin, "up", "--state-dir", state, "--kubeconfig", api.Kubeconfig, "--namespace", "tui-ko",
		"--registry", reg.Host, "--registry-user", reg.User, "--registry-password", reg.Password,
		"--seed-image", testenv.SeedTarball(t))
	up.Env = append(os.Environ(), "IMAGELAB_LANG=ko")
	out, err := up.CombinedOutput()
	if err != nil {
		t.Fatalf("imagelab up: %v\n%s", err, out)
	}
	for _, want := range []string{"• 클러스터에 연결하는 중", "✓ 샌드박스 준비됨", "초 만에 준비됨", "네임스페이스: tui-ko"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("imagelab up in Korean does not say %q:\n%s", want, out)
		}
	}

	app := "imagelab-ko:app"
	appCmd := fmt.Sprintf("IMAGELAB_LANG=ko %s --state-dir %s", bin, shellQuote(state))
	tm.run("new-session", "-d", "-s", "imagelab-ko", "-n", "app", "-x", "120", "-y", "36", appCmd)
	tm.run("set-option", "-t", "imagelab-ko", "remain-on-exit", "on")
	tm.run("new-window", "-d", "-t", "imagelab-ko", "-n", "shell", "bash --norc --noprofile")
	shell := "imagelab-ko:shell"

	tm.waitText(app, "샌드박스 준비됨", 30*time.Second)
	tm.keys(app, "3")
	tm.waitText(app, "3.1 자격 증명 없는 Pod", 5*time.Second)
	tm.keys(app, "n")
	tm.waitText(app, "3.2 regcred Secret", 5*time.Second)
	tm.waitText(app, "✗ 아직입니다.", 10*time.Second)
	tm.waitText(app, "1 이미지 이름", 5*time.Second) // the lessons' list, at 120 columns
	if why := paneFits(tm.screen(app), 120, 36); why != "" {
		t.Errorf("at 120x36: %s:\n%s", why, tm.screen(app))
	}
	t.Logf("the regcred step in Korean at 120x36:\n%s", tm.screen(app))

	tm.run("resize-window", "-t", app, "-x", "80", "-y", "24")
	tm.waitFor(app, "the 80-column layout", 5*time.Second, func(s string) bool {
		return !strings.Contains(s, "1 이미지 이름") && strings.Contains(s, "3.2 regcred Secret") && paneFits(s, 80, 24) == ""
	})
	t.Logf("the regcred step in Korean at 80x24:\n%s", tm.screen(app))

	tm.typeLine(shell, fmt.Sprintf(`export PATH=%s:$PATH; eval "$(%s env --state-dir %s)"`, testenv.BinDir(), bin, shellQuote(state)))
	tm.typeLine(shell, fmt.Sprintf("kubectl create secret docker-registry regcred --docker-server=%s --docker-username=%s --docker-password=%s",
		reg.Host, reg.User, shellQuote(reg.Password)))
	tm.waitText(app, "✓ 통과.", 15*time.Second)
	if why := paneFits(tm.screen(app), 80, 24); why != "" {
		t.Errorf("at 80x24, passed: %s:\n%s", why, tm.screen(app))
	}

	tm.keys(app, "q")
	tm.waitText(app, "imagelab을 끝낼까요?", 5*time.Second)
	if why := paneFits(tm.screen(app), 80, 24); why != "" {
		t.Errorf("the quit dialog at 80x24: %s:\n%s", why, tm.screen(app))
	}
	tm.keys(app, "k")
	tm.waitDead(app, 10*time.Second)
	tm.waitTranscript(app, "샌드박스는 다음을 위해 남겨 두었습니다 (imagelab down --state-dir", 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out2, err := testenv.Shell(ctx, state, []string{"IMAGELAB_LANG=ko"}, fmt.Sprintf("%s lessons --state-dir %s", bin, shellQuote(state)))
	if err != nil || !strings.Contains(out2, "단계 완료") || !strings.Contains(out2, "✓ 3.2") {
		t.Errorf("imagelab lessons in Korean after the app: %v\n%s", err, out2)
	}
}
