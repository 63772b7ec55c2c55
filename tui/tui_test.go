package tui

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
)

// The clock the tests pin, so screens are the same on every run.
var testNow = time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)

func fixture(t *testing.T) *lessons.Curriculum {
	t.Helper()
	cur, err := lessons.Load(os.DirFS("testdata/content"))
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

// probe wraps the model to keep its last screen, which the test reads
// while the program runs.
type probe struct {
	*Model
	mu   *sync.Mutex
	last *string
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := p.Model.Update(msg)
	p.Model = m.(*Model)
	return p, cmd
}

func (p probe) View() tea.View {
	v := p.Model.View()
	p.mu.Lock()
	*p.last = v.Content
	p.mu.Unlock()
	return v
}

// app is a running model under test.
type app struct {
	t     *testing.T
	tm    *teatest.TestModel
	probe probe
}

func (a *app) screen() string {
	a.probe.mu.Lock()
	defer a.probe.mu.Unlock()
	return ansi.Strip(*a.probe.last)
}

// waitFor waits until the screen shows all of texts.
func (a *app) waitFor(texts ...string) string {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := a.screen()
		ok := true
		for _, x := range texts {
			ok = ok && strings.Contains(s, x)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the screen never showed %q; it shows:\n%s", texts, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until the screen no longer shows text.
func (a *app) waitGone(text string) string {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := a.screen()
		if !strings.Contains(s, text) {
			return s
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the screen still shows %q:\n%s", text, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (a *app) keys(keys ...string) {
	for _, k := range keys {
		switch k {
		case "enter":
			a.tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
		case "esc":
			a.tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
		case "down":
			a.tm.Send(tea.KeyPressMsg{Code: tea.KeyDown})
		case "ctrl+c":
			a.tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
		default:
			a.tm.Type(k)
		}
		time.Sleep(5 * time.Millisecond) // keep keys in order with the messages they cause
	}
}

// quit ends the program and returns the final model.
func (a *app) quit() *Model {
	a.t.Helper()
	a.keys("ctrl+c")
	m := a.tm.FinalModel(a.t, teatest.WithFinalTimeout(10*time.Second)).(probe).Model
	// As Run does: the last save, and none after it (the test's temp dir
	// is removed next).
	if err := m.course.flush(); err != nil {
		a.t.Errorf("the last save: %v", err)
	}
	return m
}

func start(t *testing.T, opts Options, w, h int) *app {
	t.Helper()
	if opts.Curriculum == nil {
		opts.Curriculum = fixture(t)
	}
	if opts.Progress == nil {
		store, _, err := progress.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		opts.Progress = store
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var last string
	p := probe{Model: New(ctx, opts), mu: &sync.Mutex{}, last: &last}
	tm := teatest.NewTestModel(t, p, teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII)))
	return &app{t: t, tm: tm, probe: p}
}

// fakeSandbox is a Sandbox made of functions, for tests; the ones left
// nil do nothing (Shell has no shell to give).
type fakeSandbox struct {
	start  func(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error)
	env    func(sb *sandbox.Sandbox) (*check.Env, error)
	values func(sb *sandbox.Sandbox) lessons.Values
	remove func(ctx context.Context, sb *sandbox.Sandbox) error
	reset  func(ctx context.Context, sb *sandbox.Sandbox, step *lessons.Step) error
}

func (f *fakeSandbox) Start(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error) {
	if f.start == nil {
		return nil, sandbox.ErrNoSandbox
	}
	return f.start(ctx, report)
}

func (f *fakeSandbox) CheckEnv(sb *sandbox.Sandbox) (*check.Env, error) {
	if f.env == nil {
		return &check.Env{}, nil
	}
	return f.env(sb)
}

func (f *fakeSandbox) Values(sb *sandbox.Sandbox) lessons.Values {
	if f.values == nil {
		return lessons.Placeholder()
	}
	return f.values(sb)
}

func (f *fakeSandbox) Shell(*sandbox.Sandbox) (*exec.Cmd, error) {
	return nil, errors.New("no shell in tests")
}

func (f *fakeSandbox) NodeShell(*sandbox.Sandbox) (*exec.Cmd, error) {
	return nil, sandbox.ErrNoNode
}

func (f *fakeSandbox) Remove(ctx context.Context, sb *sandbox.Sandbox) error {
	if f.remove == nil {
		return nil
	}
	return f.remove(ctx, sb)
}

func (f *fakeSandbox) ResetStep(ctx context.Context, sb *sandbox.Sandbox, step *lessons.Step) error {
	if f.reset == nil {
		return nil
	}
	return f.reset(ctx, sb, step)
}

// noSandbox finds no sandbox.
var noSandbox = &fakeSandbox{}

// lab is a sandbox on a fake clientset and a real in-process registry.
type lab struct {
	sb   *sandbox.Sandbox
	kube *fake.Clientset
	reg  *testenv.Registry
}

func newLab(t *testing.T) *lab {
	t.Helper()
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	dir := t.TempDir()
	sb := &sandbox.Sandbox{
		Provider: sandbox.ProviderExisting, Name: "existing", Namespace: "lab",
		Registry:        sandbox.Registry{Host: reg.Host, User: reg.User, Password: reg.Password},
		DockerConfigDir: filepath.Join(dir, "docker"), WorkDir: filepath.Join(dir, "work"),
	}
	if err := os.MkdirAll(sb.DockerConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &lab{sb: sb, kube: fake.NewClientset(), reg: reg}
}

// box is the lab as the app's Sandbox, wired as internal/app does.
func (l *lab) box() *fakeSandbox {
	return &fakeSandbox{
		start: func(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error) {
			report(sandbox.Event{Phase: sandbox.PhaseConnect, Message: "Connecting to the cluster"})
			return l.sb, nil
		},
		env: func(sb *sandbox.Sandbox) (*check.Env, error) {
			return &check.Env{Kube: l.kube, Namespace: sb.Namespace, DockerConfigDir: sb.DockerConfigDir, WorkDir: sb.WorkDir,
				Registry: check.Registry{Host: sb.Registry.Host, User: sb.Registry.User, Password: sb.Registry.Password}}, nil
		},
		values: func(sb *sandbox.Sandbox) lessons.Values {
			return lessons.NewValues(sb.Registry.Host, sb.Registry.User, sb.Registry.Password, sb.Namespace)
		},
	}
}

// options are the app's options with the lab as its sandbox.
func (l *lab) options() Options { return Options{Sandbox: l.box()} }

// regcred is the secret kubectl create secret docker-registry makes.
func (l *lab) regcred(password string) *corev1.Secret {
	cfg := `{"auths":{"` + l.reg.Host + `":{"username":"` + l.reg.User + `","password":"` + password + `"}}}`
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "lab"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)},
	}
}

func TestNavigation(t *testing.T) {
	opts := Options{Sandbox: noSandbox}
	store, _, err := progress.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts.Progress = store
	a := start(t, opts, 120, 36)
	a.waitFor("1.1 What \"nginx\" really means", "Every image has a full name")

	a.keys("n")
	a.waitFor("1.2 The registry of a Google image", "Which part of")
	a.keys("p")
	a.waitFor("1.1 What \"nginx\" really means")
	a.keys("2") // lesson 2, its first step not passed
	a.waitFor("2.1 docker login", "Log in to")
	// The lesson list: l, down to the next step, enter.
	a.keys("l", "down", "enter")
	s := a.waitFor("2.2 Tag and push")
	if !strings.Contains(s, "needs the sandbox") {
		t.Errorf("a step that needs the cluster does not say so:\n%s", s)
	}
	m := a.quit()
	if got := m.course.step().Ref(); got != "secrets/push" {
		t.Errorf("ended on %s", got)
	}
	if err := m.course.flush(); err != nil { // as Run does
		t.Fatal(err)
	}
	// Where the learner is was saved, and a new app resumes there.
	again, _, err := progress.Open(filepath.Dir(store.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if again.State.Current != "secrets/push" {
		t.Errorf("saved current step %q, want secrets/push", again.State.Current)
	}
	b := start(t, Options{Sandbox: noSandbox, Progress: again}, 120, 36)
	b.waitFor("2.2 Tag and push")
	b.quit()
}

func TestHintsOneAtATime(t *testing.T) {
	a := start(t, Options{Sandbox: noSandbox}, 120, 36)
	a.waitFor("Every image has a full name")
	if strings.Contains(a.screen(), "Hint 1") {
		t.Fatal("a hint is shown before it was asked for")
	}
	a.keys("h")
	s := a.waitFor("Hint 1 of 3")
	if strings.Contains(s, "Hint 2") {
		t.Errorf("h showed more than one hint:\n%s", s)
	}
	a.keys("h", "h")
	a.waitFor("Hint 3 of 3", "No tag written means latest")
	a.keys("h")
	a.waitFor("no more hints")
	m := a.quit()
	if got := m.course.store.Step("names/full-name").Hints; got != 3 {
		t.Errorf("hints seen = %d, want 3", got)
	}
}

func TestSolutionAfterConfirmation(t *testing.T) {
	a := start(t, Options{Sandbox: noSandbox}, 120, 36)
	a.waitFor("Every image has a full name")
	a.keys("s")
	a.waitFor("Show the solution?", "You learn more by trying")
	a.keys("n")
	s := a.waitGone("Show the solution?")
	if strings.Contains(s, "Reference solution") {
		t.Fatalf("no was answered, but the solution is shown:\n%s", s)
	}
	a.keys("s")
	a.waitFor("Show the solution?")
	a.keys("y")
	a.waitFor("Reference solution", "docker.io/library/nginx:latest")
	a.quit()
}

func TestQuizAnswerInline(t *testing.T) {
	a := start(t, Options{Sandbox: noSandbox}, 120, 36)
	a.waitFor("press enter to type it")
	a.keys("enter", "nginx", "enter")
	a.waitFor("✗ Not quite.")
	a.keys("esc", "enter")
	for range len("nginx") {
		a.tm.Send(tea.KeyPressMsg{Code: tea.KeyBackspace})
	}
	a.keys("docker.io/library/nginx:latest", "enter")
	a.waitFor("✓ Right.", "1/5 ✓")
	m := a.quit()
	if !m.course.store.Passed("names/full-name") || m.course.store.Step("names/full-name").Answer != "docker.io/library/nginx:latest" {
		t.Errorf("progress after the right answer: %+v", m.course.store.State.Steps["names/full-name"])
	}
}

func TestResetAfterConfirmation(t *testing.T) {
	l := newLab(t)
	box := l.box()
	opts := Options{Sandbox: box, DisableWatch: true}
	var resets atomic.Int32
	box.reset = func(ctx context.Context, sb *sandbox.Sandbox, step *lessons.Step) error {
		if sb != l.sb || step.Ref() != "secrets/regcred" {
			t.Errorf("ResetStep(%v, %s)", sb, step.Ref())
		}
		resets.Add(1)
		return l.kube.CoreV1().Secrets("lab").Delete(ctx, "regcred", metav1.DeleteOptions{})
	}
	if _, err := l.kube.CoreV1().Secrets("lab").Create(context.Background(), l.regcred(l.reg.Password), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := start(t, opts, 120, 36)
	a.waitFor("sandbox ready")
	a.keys("2", "n", "n")
	a.waitFor("2.3 The regcred secret", "✓ Passed.", "1/5 ✓")

	a.keys("r")
	a.waitFor("Reset this step?", "secret/regcred")
	a.keys("n")
	a.waitGone("Reset this step?")
	if resets.Load() != 0 {
		t.Fatal("reset ran though the learner said no")
	}
	a.keys("r", "y")
	a.waitFor("✗ Not yet.", "No secret regcred", "0/5 ✓")
	if resets.Load() != 1 {
		t.Errorf("ResetStep ran %d times", resets.Load())
	}
	m := a.quit()
	if m.course.store.Passed("secrets/regcred") {
		t.Error("the step is still passed after its reset")
	}
}

// TestHelpOverATallBanner: at 80×24 under a failure banner of several
// lines, the help screen shows whole (it goes over the banner too).
func TestHelpOverATallBanner(t *testing.T) {
	l := newLab(t)
	box := l.box()
	box.start = func(context.Context, sandbox.Reporter) (*sandbox.Sandbox, error) {
		return nil, &sandbox.PullError{Image: "docker.io/library/registry:3", Flag: "--registry-image",
			Said: `Error: initializing source docker://registry:3: pinging container registry registry-1.docker.io: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host`}
	}
	a := start(t, Options{Sandbox: box, DisableWatch: true}, 80, 24)
	a.waitFor("The sandbox could not start.", "press u")
	a.keys("?")
	s := a.waitFor("Any key closes this.")
	checkFits(t, s, 80, 24)
	if !strings.Contains(s, "╭") || !strings.Contains(s, "╰") {
		t.Errorf("the help screen is cut:\n%s", s)
	}
	a.keys("esc")
	a.waitGone("Any key closes this.")
	a.quit()
}

func TestSandboxFailureBanner(t *testing.T) {
	var calls atomic.Int32
	l := newLab(t)
	box := l.box()
	opts := Options{Sandbox: box, DisableWatch: true}
	box.start = func(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error) {
		if calls.Add(1) == 1 {
			report(sandbox.Event{Phase: sandbox.PhaseCluster, Message: "Creating the kind cluster"})
			return nil, errors.New("docker: no engine answers at unix:///var/run/docker.sock")
		}
		return l.sb, nil
	}
	a := start(t, opts, 80, 24)
	s := a.waitFor("The sandbox could not start.", "no engine answers", "press u")
	if !strings.Contains(s, "✗ no sandbox") {
		t.Errorf("the header does not show the failure:\n%s", s)
	}
	// The theory steps stay usable.
	a.keys("enter", "docker.io/library/nginx:latest", "enter")
	a.waitFor("✓ Right.")
	a.keys("esc", "2")
	a.waitFor("2.1 docker login", "needs the sandbox")
	// u tries again, and the app goes on with the sandbox.
	a.keys("u")
	a.waitFor("sandbox ready", "No login for "+l.reg.Host)
	a.waitGone("could not start")
	a.quit()
	if calls.Load() != 2 {
		t.Errorf("Start called %d times, want 2", calls.Load())
	}
}

func TestNoSandboxBanner(t *testing.T) {
	a := start(t, Options{Sandbox: noSandbox, UpCommand: "imagelab up --state-dir /tmp/x"}, 80, 24)
	a.waitFor("No sandbox yet.", "imagelab up --state-dir /tmp/x", "Every image has a full name")
	golden.RequireEqual(t, a.screen())
	a.quit()
}

func TestResize(t *testing.T) {
	l := newLab(t)
	opts := l.options()
	opts.DisableWatch = true
	opts.EnvCommand = `eval "$(imagelab env)"`
	a := start(t, opts, 120, 36)
	a.waitFor("sandbox ready", "Every image has a full name")
	a.keys("2", "n", "n")
	// The step's text is rendered in a Cmd: wait for it, not its placeholder.
	a.waitFor("2.3 The regcred secret", "No secret regcred", "your own terminal", "Create the secret regcred")
	// The registry's port is random: the golden screens show a fixed one.
	screen := func() string { return strings.ReplaceAll(a.screen(), l.reg.Host, "localhost:5055") }
	t.Run("120x36", func(t *testing.T) {
		s := screen()
		checkFits(t, s, 120, 36)
		if !strings.Contains(s, "1 Image names") || !strings.Contains(s, "│") {
			t.Errorf("no sidebar at 120 columns:\n%s", s)
		}
		golden.RequireEqual(t, s)
	})
	a.tm.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
	a.waitGone("1 Image names")
	t.Run("80x24", func(t *testing.T) {
		a.waitFor("2.3 The regcred secret", "No secret regcred", "Create the secret")
		s := screen()
		checkFits(t, s, 80, 24)
		golden.RequireEqual(t, s)
	})
	// At 80 columns the lesson list opens in place of the text.
	a.keys("l")
	a.waitFor("1 Image names", "▸ The regcred secret")
	a.keys("esc")
	a.waitGone("1 Image names")
	a.quit()
}

// checkFits fails when the screen is larger than the terminal.
func checkFits(t *testing.T, s string, w, h int) {
	t.Helper()
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		t.Errorf("%d lines on a %d-line terminal", len(lines), h)
	}
	for i, line := range lines {
		if lw := lipgloss.Width(line); lw > w {
			t.Errorf("line %d is %d wide on a %d-column terminal: %q", i+1, lw, w, line)
		}
	}
}

// TestLiveCheck: the step turns green on its own when the learner creates
// the secret (a watch event, debounced, re-runs the check), and findings
// follow the learner's fixes.
func TestLiveCheck(t *testing.T) {
	l := newLab(t)
	a := start(t, l.options(), 120, 36)
	a.waitFor("sandbox ready")
	a.keys("2", "n", "n")
	a.waitFor("2.3 The regcred secret", "No secret regcred in namespace lab yet")

	ctx := context.Background()
	if _, err := l.kube.CoreV1().Secrets("lab").Create(ctx, l.regcred("not-the-password"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.waitFor("✗ Not yet.", "refuse")
	a.waitGone("No secret regcred")
	if _, err := l.kube.CoreV1().Secrets("lab").Update(ctx, l.regcred(l.reg.Password), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.waitFor("✓ Passed.", "1/5 ✓")

	// docker login writes config.json in the sandbox's docker config dir.
	a.keys("p", "p")
	a.waitFor("2.1 docker login", "No login for")
	cfg := `{"auths":{"` + l.reg.Host + `":{"auth":"` + basicAuth(l.reg.User, l.reg.Password) + `"}}}`
	if err := os.WriteFile(filepath.Join(l.sb.DockerConfigDir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a.waitFor("✓ Passed.", "2/5 ✓")

	// A push changes nothing the watches see: the registry is polled.
	a.keys("n")
	a.waitFor("2.2 Tag and push", "checking the registry every 400ms", "✗ Not yet.")
	pushImage(t, l.reg, "apps/my-app:1.0")
	a.waitFor("✓ Passed.", "3/5 ✓")
	a.quit()
}

// pushImage pushes a small random image as the learner's docker push would.
func pushImage(t *testing.T, reg *testenv.Registry, ref string) {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(reg.Host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password})); err != nil {
		t.Fatal(err)
	}
}

// TestWatchFailureFallsBackToPolling: when watching fails, the app says so
// and checks every 2 s instead.
func TestWatchFailureFallsBackToPolling(t *testing.T) {
	l := newLab(t)
	l.kube.PrependWatchReactor("*", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, errors.New("watch is forbidden here")
	})
	a := start(t, l.options(), 120, 36)
	a.waitFor("sandbox ready")
	a.keys("2", "n", "n")
	a.waitFor("2.3 The regcred secret", "watching failed", "checking every 2s")
	if _, err := l.kube.CoreV1().Secrets("lab").Create(context.Background(), l.regcred(l.reg.Password), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.waitFor("✓ Passed.")
	a.quit()
}

func TestQuitAsksToKeepOrRemove(t *testing.T) {
	for _, tc := range []struct {
		name       string
		keys       []string
		wantRemove bool
	}{
		{name: "keep by default", keys: []string{"q", "enter"}},
		{name: "keep", keys: []string{"q", "k"}},
		{name: "remove", keys: []string{"q", "r"}, wantRemove: true},
		{name: "remove with the arrows", keys: []string{"q", "\x00right", "enter"}, wantRemove: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t)
			box := l.box()
			opts := Options{Sandbox: box, DisableWatch: true}
			var removed atomic.Bool
			box.remove = func(ctx context.Context, sb *sandbox.Sandbox) error {
				removed.Store(sb == l.sb)
				return nil
			}
			a := start(t, opts, 120, 36)
			a.waitFor("sandbox ready")
			for _, k := range tc.keys {
				if k == "\x00right" {
					a.tm.Send(tea.KeyPressMsg{Code: tea.KeyRight})
					continue
				}
				a.keys(k)
				if k == "q" {
					a.waitFor("Leave imagelab?", "keep it", "remove it")
				}
			}
			m := a.tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(probe).Model
			if removed.Load() != tc.wantRemove || m.outcome().Removed != tc.wantRemove {
				t.Errorf("removed = %v (outcome %+v), want %v", removed.Load(), m.outcome(), tc.wantRemove)
			}
		})
	}
}

func TestCtrlCQuitsWithoutAsking(t *testing.T) {
	l := newLab(t)
	box := l.box()
	opts := Options{Sandbox: box, DisableWatch: true}
	box.remove = func(context.Context, *sandbox.Sandbox) error {
		t.Error("ctrl+c removed the sandbox")
		return nil
	}
	a := start(t, opts, 120, 36)
	a.waitFor("sandbox ready")
	m := a.quit()
	if out := m.outcome(); out.Removed || out.Sandbox != l.sb {
		t.Errorf("outcome %+v", out)
	}
}

func TestProgressWarningAndFinish(t *testing.T) {
	store, _, err := progress.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cur := fixture(t)
	for _, s := range cur.Steps()[1:] {
		store.MarkPassed(s.Ref(), testNow)
	}
	store.State.Current = "names/full-name"
	a := start(t, Options{Sandbox: noSandbox, Progress: store, Curriculum: cur,
		ProgressWarning: errors.New("progress file was damaged; it was moved to progress.json.damaged")}, 120, 36)
	a.waitFor("Progress was reset.", "progress.json.damaged", "4/5 ✓")
	a.keys("enter", "docker.io/library/nginx:latest", "enter")
	a.waitFor("You finished imagelab!", "All 5 steps of 2 lessons")
	a.keys("x")
	a.waitGone("You finished imagelab!")
	a.quit()
}

// TestNoColor: with the ASCII profile (NO_COLOR) the app writes no colour.
func TestNoColor(t *testing.T) {
	a := start(t, Options{Sandbox: noSandbox}, 80, 24)
	a.waitFor("Every image has a full name")
	a.quit()
	out := readAll(t, a.tm)
	for _, seq := range []string{"\x1b[38;", "\x1b[48;", "\x1b[31m", "\x1b[32m"} {
		if strings.Contains(out, seq) {
			t.Errorf("output has the colour sequence %q", seq)
		}
	}
}

// TestLightBackground: a light terminal gets the light styles.
func TestLightBackground(t *testing.T) {
	m := New(context.Background(), Options{Curriculum: fixture(t), Sandbox: noSandbox})
	if m.c.styles.Glamour != "dark" {
		t.Fatalf("glamour style %q before the terminal answered, want dark", m.c.styles.Glamour)
	}
	m.Update(tea.BackgroundColorMsg{Color: lipglossWhite})
	if m.c.styles.Glamour != "light" || m.c.dark {
		t.Errorf("after a white background: glamour %q, dark %v", m.c.styles.Glamour, m.c.dark)
	}
}

var lipglossWhite = lipgloss.Color("#ffffff")

func readAll(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	r := tm.FinalOutput(t)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil || n == 0 {
			return b.String()
		}
	}
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// TestMouseWheelScrolls: the wheel scrolls the step text under it.
func TestMouseWheelScrolls(t *testing.T) {
	a := start(t, Options{Sandbox: noSandbox}, 80, 24)
	a.waitFor("Every image has a full name")
	a.keys("h", "h", "h", "s", "y")
	a.waitFor("Reference solution", "─ end ─")
	a.tm.Send(tea.MouseWheelMsg{X: 10, Y: 6, Button: tea.MouseWheelUp})
	a.waitFor("% ↓ ─")
	a.waitGone("Reference solution")
	a.tm.Send(tea.MouseWheelMsg{X: 10, Y: 6, Button: tea.MouseWheelDown})
	a.tm.Send(tea.MouseWheelMsg{X: 10, Y: 6, Button: tea.MouseWheelDown})
	a.waitFor("Reference solution", "─ end ─")
	a.quit()
}

// TestQuitWhileStartingWaitsForCleanup: quitting while the sandbox is
// being made cancels it, and the caller can wait until the cancelled
// creation has removed what it made.
func TestQuitWhileStartingWaitsForCleanup(t *testing.T) {
	store, _, err := progress.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cleaned := make(chan struct{})
	startSandbox := func(ctx context.Context, report sandbox.Reporter) (*sandbox.Sandbox, error) {
		report(sandbox.Event{Phase: sandbox.PhaseCluster, Message: "Creating the kind cluster"})
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond) // removing what was made
		close(cleaned)
		return nil, ctx.Err()
	}
	a := start(t, Options{Curriculum: fixture(t), Progress: store, Sandbox: &fakeSandbox{start: startSandbox}}, 120, 36)
	a.waitFor("Creating the kind cluster")
	m := a.quit()
	m.cancel() // as Run does when the program ends
	out := m.outcome()
	if !out.Starting {
		t.Fatal("the outcome does not say the sandbox was still starting")
	}
	if !out.WaitStarting(5 * time.Second) {
		t.Fatal("the cancelled start never finished")
	}
	select {
	case <-cleaned:
	default:
		t.Error("WaitStarting returned before the clean-up ended")
	}
}

// clock is a pinned clock the test moves by hand.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return testNow.Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// waitSaved waits until the progress file in dir satisfies ok.
func waitSaved(t *testing.T, dir string, ok func(*progress.Store) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _, err := progress.Open(dir)
		if err == nil && ok(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the progress file never showed the change (%v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestChoiceQuizRetryDelay: a wrong pick in a choice quiz is explained,
// saved, and refuses answers until its delay has passed, counting down;
// a free-text quiz has no delay.
func TestChoiceQuizRetryDelay(t *testing.T) {
	cur, err := lessons.Load(os.DirFS("testdata/choice"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, _, err := progress.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var clk clock
	a := start(t, Options{Sandbox: noSandbox, Curriculum: cur, Progress: store, Now: clk.now}, 80, 24)
	a.waitFor("Which makes every pod pull", "press enter to type it", "enter answer")

	a.keys("enter", "a", "enter")
	s := a.waitFor("✗ Not quite.", "one pod's own choice", "answer again in 10s — read why above")
	if strings.Contains(s, "enter answer") || strings.Contains(s, "enter to change it") {
		t.Errorf("the screen offers to answer during the delay:\n%s", s)
	}
	waitSaved(t, dir, func(s *progress.Store) bool {
		rec := s.State.Steps["quiz/pull"]
		return rec != nil && rec.Answer == "a" && rec.WrongPicks == 1 && rec.RetryAt != nil
	})

	// enter is refused while the delay runs.
	a.keys("enter")
	time.Sleep(50 * time.Millisecond)
	if s := a.screen(); strings.Contains(s, "Your answer ›") {
		t.Fatalf("the answer field opened during the delay:\n%s", s)
	}
	clk.advance(4 * time.Second)
	a.waitFor("answer again in 6s — read why above")
	clk.advance(6 * time.Second)
	a.waitGone("answer again in")
	a.waitFor("(enter to change it)", "enter answer")

	a.keys("enter")
	a.waitFor("Your answer ›")
	a.tm.Send(tea.KeyPressMsg{Code: tea.KeyBackspace})
	a.keys("b", "enter")
	a.waitFor("✓ Right.", "AlwaysPullImages makes every pod pull", "1/2 ✓")

	// A free-text quiz: a wrong answer costs no delay.
	a.keys("esc", "n")
	a.waitFor("What \"nginx\" really means", "press enter to type it")
	a.keys("enter", "nginx", "enter")
	a.waitFor("✗ Not quite.")
	a.keys("esc")
	s = a.waitFor("(enter to change it)", "enter answer")
	if strings.Contains(s, "answer again") {
		t.Errorf("a free-text quiz counts down:\n%s", s)
	}

	m := a.quit()
	pick := m.course.store.Step("quiz/pull")
	if !pick.Passed || pick.WrongPicks != 1 || pick.RetryAt != nil || pick.Answer != "b" {
		t.Errorf("the choice quiz's record: %+v", pick)
	}
	if free := m.course.store.Step("quiz/full-name"); free.RetryAt != nil || free.WrongPicks != 0 {
		t.Errorf("the free-text quiz's record: %+v", free)
	}
}

// TestStepSetUpOnce: a step that starts from something imagelab makes is
// set up when the learner first comes to it with the sandbox ready, and
// not again on coming back.
func TestStepSetUpOnce(t *testing.T) {
	cur, err := lessons.Load(os.DirFS("testdata/setup"))
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t)
	box := l.box()
	var mu sync.Mutex
	var setups []string
	box.reset = func(_ context.Context, _ *sandbox.Sandbox, step *lessons.Step) error {
		mu.Lock()
		defer mu.Unlock()
		setups = append(setups, step.Ref())
		return nil
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(setups) }
	a := start(t, Options{Sandbox: box, Curriculum: cur}, 120, 36)
	a.waitFor("sandbox ready", "the step is set up")
	a.keys("n")
	a.waitFor("Another step")
	a.keys("p")
	a.waitFor("A broken pod")
	time.Sleep(300 * time.Millisecond)
	if n := count(); n != 1 {
		t.Errorf("set up %d times (%v), want once", n, setups)
	}
}
