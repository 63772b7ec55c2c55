package imagepolicy

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/api/imagepolicy/v1alpha1"
)

// The test binary is the backend's command too: run with
// IMAGEPOLICY_SERVE=1 it serves as imagelab policy-backend does.
func TestMain(m *testing.M) {
	if os.Getenv("IMAGEPOLICY_SERVE") == "1" {
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		var f ServeFlags
		fs.StringVar(&f.Dir, "dir", "", "")
		fs.StringVar(&f.Registry, "registry", "", "")
		fs.StringVar(&f.Listen, "listen", "", "")
		fs.StringVar(&f.Dial, "dial", "", "")
		_ = fs.Parse(os.Args[1:])
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := Serve(ctx, f); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testProcess is a Process whose command is this test binary.
func testProcess(t *testing.T, dir string) *Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	located := 0
	p := &Process{
		Dir: dir, Registry: "localhost:5001",
		Command: []string{"env", "IMAGEPOLICY_SERVE=1", exe},
		Locate: func(context.Context) (string, string, error) {
			located++
			return "127.0.0.1", "127.0.0.1", nil
		},
	}
	t.Cleanup(func() {
		_ = p.Down(context.Background())
		if located > 1 {
			t.Errorf("Locate was asked %d times; the address is found once and kept", located)
		}
	})
	return p
}

// ask posts a review through the kubeconfig the backend wrote, as the API
// server would.
func ask(t *testing.T, p *Process, images ...string) (v1alpha1.ImageReviewStatus, error) {
	t.Helper()
	hc, _ := clientFor(t, filepath.Join(p.Dir, KubeconfigFile), nil)
	hc.Timeout = 5 * time.Second
	_, body, err := post(t, hc, p.URL(), imageReview(images...))
	if err != nil {
		return v1alpha1.ImageReviewStatus{}, err
	}
	var r v1alpha1.ImageReview
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return r.Status, nil
}

// A backend in a process of its own: it answers through the kubeconfig it
// wrote; stopped, it refuses connections; started again — by a new
// Process, as a later imagelab would — it is at the same address with the
// same certificates, so the kubeconfig the node holds stays good.
func TestProcessUpDownUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	p := testProcess(t, dir)
	if p.Running() || p.URL() != "" {
		t.Fatal("a backend runs before Up")
	}
	began := time.Now()
	if err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Up: %v, at %s", time.Since(began).Round(time.Millisecond), p.URL())
	if !p.Running() || !strings.HasPrefix(p.URL(), "https://127.0.0.1:") {
		t.Fatalf("after Up: running %v, URL %q", p.Running(), p.URL())
	}
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(NodeFiles) || !strings.Contains(string(files[KubeconfigFile]), p.URL()) {
		t.Errorf("files for the node: %d, kubeconfig:\n%s", len(files), files[KubeconfigFile])
	}
	if st, err := ask(t, p, "localhost:5001/apps/app:1", "nginx"); err != nil || st.Allowed || !strings.Contains(st.Reason, "docker.io") {
		t.Errorf("a review of nginx: %+v, %v", st, err)
	}
	if err := p.Up(ctx); err != nil { // running: nothing to do
		t.Fatal(err)
	}
	url := p.URL()

	if err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("running after Down")
	}
	if _, err := ask(t, p, "localhost:5001/apps/app:1"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a review while it is down: %v, want connection refused", err)
	}

	again := testProcess(t, dir)
	again.Locate = func(context.Context) (string, string, error) {
		t.Error("a backend started again looked for a new address")
		return "127.0.0.1", "127.0.0.1", nil
	}
	if err := again.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if again.URL() != url {
		t.Errorf("started again at %s, was %s", again.URL(), url)
	}
	later, err := again.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range NodeFiles {
		if string(later[name]) != string(files[name]) {
			t.Errorf("%s changed when the backend started again", name)
		}
	}
	// Through the kubeconfig written the first time.
	if st, err := ask(t, p, "localhost:5001/apps/app:1"); err != nil || !st.Allowed {
		t.Errorf("a review after the restart: %+v, %v", st, err)
	}
	if err := again.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.Down(ctx); err != nil {
		t.Errorf("Down on a stopped backend: %v", err)
	}
}

// A backend that cannot start says why, from its own words.
func TestProcessUpSaysWhyItDidNotStart(t *testing.T) {
	p := testProcess(t, t.TempDir())
	p.Locate = func(context.Context) (string, string, error) { return "127.0.0.1", "192.0.2.1", nil } // not this machine's
	err := p.Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Errorf("Up listening on an address that is not here: %v", err)
	}
}

// A state file naming a pid that is another process now (pids are
// reused) never gets that process stopped.
func TestProcessDownLeavesAnotherProcessAlone(t *testing.T) {
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill() //nolint:errcheck
	dir := t.TempDir()
	st, _ := json.Marshal(processState{PID: other.Process.Pid, Addr: "127.0.0.1:1", Dial: "127.0.0.1", Registry: "localhost:5001"})
	if err := os.WriteFile(filepath.Join(dir, stateFile), st, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Process{Dir: dir, Registry: "localhost:5001"}
	if err := p.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Error("a sleep counts as the backend")
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("Down stopped another process: %v", err)
	}
}
