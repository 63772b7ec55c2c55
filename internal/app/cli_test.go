package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagelab/imagelab/lessons"

	"github.com/creack/pty"

	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, args)
	return out.String() + errOut.String(), err
}

func TestCheckQuizFromTheCommandLine(t *testing.T) {
	state := t.TempDir()
	out, err := run(t, "check", "image-names/full-name", "--answer", "nginx", "--state-dir", state)
	if !errors.Is(err, errNotPassed) {
		t.Fatalf("wrong answer: err = %v\n%s", err, out)
	}
	if !strings.Contains(out, "leaves the registry to the default") {
		t.Errorf("no finding in:\n%s", out)
	}
	if _, err := run(t, "check", "1.1", "--answer", "docker.io/library/nginx:latest", "--state-dir", state); err != nil {
		t.Fatalf("right answer: %v", err)
	}
	// The answer is kept: checking again without --answer still passes.
	if out, err := run(t, "check", "image-names/full-name", "--state-dir", state); err != nil {
		t.Fatalf("stored answer: %v\n%s", err, out)
	}
	out, err = run(t, "lessons", "--json", "--state-dir", state)
	if err != nil {
		t.Fatal(err)
	}
	var listed struct {
		Lessons []struct {
			ID    string
			Steps []struct {
				Ref    string
				Passed bool
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(listed.Lessons) < 4 || !listed.Lessons[0].Steps[0].Passed || listed.Lessons[0].Steps[1].Passed {
		t.Errorf("progress not listed: %+v", listed)
	}
}

func TestCheckExitCodes(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"check", "no-such-step"}, 2},
		{[]string{"check", "pull-secrets/regcred", "--answer", "x"}, 2}, // not a quiz
		{[]string{"check", "pull-secrets/regcred"}, 2},                  // no sandbox: could not check
		{[]string{"reset"}, 2},                                          // neither a step nor --all
	} {
		out, err := run(t, append(tc.args, "--state-dir", state)...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != tc.code {
			t.Errorf("%v: err = %v, want exit %d\n%s", tc.args, err, tc.code, out)
		}
	}
	out, _ := run(t, "check", "pull-secrets/regcred", "--state-dir", state)
	if !strings.Contains(out, "imagelab up") {
		t.Errorf("a missing sandbox should say how to make one:\n%s", out)
	}
}

func TestTheAppNeedsATerminal(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()
	for _, tc := range []struct {
		name    string
		in      io.Reader
		out     io.Writer
		withPty bool // stdin is a terminal
		not     string
	}{
		{name: "buffers", in: strings.NewReader(""), out: &bytes.Buffer{}, not: "neither stdin nor stdout is one"},
		{name: "stdin from the null device", in: devNull, out: &bytes.Buffer{}, not: "neither stdin nor stdout is one"},
		{name: "piped both ways", in: pipeR, out: pipeW, not: "neither stdin nor stdout is one"},
		{name: "stdout piped", withPty: true, out: &bytes.Buffer{}, not: "stdout is not one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if tc.withPty {
				ptmx, tty, err := pty.Open()
				if err != nil {
					t.Skipf("no pseudo-terminal here: %v", err)
				}
				defer ptmx.Close()
				defer tty.Close()
				in = tty
			}
			state := t.TempDir()
			var errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, Streams{In: in, Out: tc.out, Err: &errOut}, []string{"--state-dir", state})
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Fatalf("err = %v, want exit 2", err)
			}
			for _, want := range []string{"needs a terminal", tc.not, "imagelab lessons --json", "imagelab check STEP --json"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("no %q in: %v", want, err)
				}
			}
			if left, _ := os.ReadDir(state); len(left) > 0 {
				t.Errorf("the state dir was touched: %v", left)
			}
		})
	}
}

func TestDamagedProgressIsNotedOnStderrOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		json bool
	}{
		{name: "lessons", args: []string{"lessons"}},
		{name: "lessons --json", args: []string{"lessons", "--json"}, json: true},
		{name: "check", args: []string{"check", "1.1", "--answer", "docker.io/library/nginx:latest"}},
		{name: "check --json", args: []string{"check", "1.1", "--answer", "docker.io/library/nginx:latest", "--json"}, json: true},
		{name: "reset", args: []string{"reset", "1.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if err := os.WriteFile(filepath.Join(state, progress.FileName), []byte("{not json"), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			err := Run(context.Background(), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, append(tc.args, "--state-dir", state))
			if err != nil {
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
			}
			aside, _ := filepath.Glob(filepath.Join(state, progress.FileName+".damaged-*"))
			if len(aside) != 1 {
				t.Fatalf("damaged file not moved aside: %v", aside)
			}
			if n := strings.Count(errOut.String(), "progress file was damaged"); n != 1 || !strings.Contains(errOut.String(), "moved to "+aside[0]) {
				t.Errorf("stderr should name the damage and %s once (%d times):\n%s", aside[0], n, &errOut)
			}
			if strings.Contains(out.String(), "damaged") {
				t.Errorf("the note belongs on stderr, not stdout:\n%s", &out)
			}
			if tc.json && !json.Valid(out.Bytes()) {
				t.Errorf("stdout is not JSON:\n%s", &out)
			}
		})
	}
}

// imagelab env points Podman's logins (REGISTRY_AUTH_FILE) at the sandbox's
// docker config file, where docker's go.
func TestEnvSendsDockerAndPodmanLoginsToTheSandbox(t *testing.T) {
	state := t.TempDir()
	dockerDir := filepath.Join(state, "docker")
	sb := &sandbox.Sandbox{Provider: sandbox.ProviderKind, Name: "imagelab", Kubeconfig: filepath.Join(state, "kubeconfig"), DockerConfigDir: dockerDir, Complete: true}
	if err := sb.Save(state); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "env", "--state-dir", state)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"export DOCKER_CONFIG=" + shellQuote(dockerDir) + "\n",
		"export REGISTRY_AUTH_FILE=" + shellQuote(filepath.Join(dockerDir, "config.json")) + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// TestChoiceQuizWrongPickWaits: a wrong pick is explained, and the quiz
// takes no other pick until its retry delay has passed, so options can't
// be tried one by one; free-text quizzes have no delay.
func TestChoiceQuizWrongPickWaits(t *testing.T) {
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	var quiz *lessons.Step
	for _, s := range cur.Steps() {
		if s.Definition().Choice {
			quiz = s
			break
		}
	}
	if quiz == nil {
		t.Fatal("the curriculum has no choice quiz to test")
	}
	params := quiz.Params(lessons.Placeholder())
	right, wrong := params["correct"], ""
	for _, o := range strings.Split(params["options"], ",") {
		if o = strings.TrimSpace(o); o != right {
			wrong = o
			break
		}
	}
	state := t.TempDir()
	out, err := run(t, "check", quiz.Ref(), "--answer", wrong, "--state-dir", state)
	if !errors.Is(err, errNotPassed) || !strings.Contains(out, wrong+" is not right") {
		t.Fatalf("wrong pick: err = %v\n%s", err, out)
	}
	out, err = run(t, "check", quiz.Ref(), "--answer", right, "--state-dir", state)
	if !errors.Is(err, errNotPassed) || !strings.Contains(out, "takes a new answer in") {
		t.Fatalf("a second pick right after a wrong one was taken: err = %v\n%s", err, out)
	}
	for range 2 { // free text: a wrong answer and a right one at once
		_, _ = run(t, "check", "image-names/full-name", "--answer", "nginx", "--state-dir", state)
	}
	if out, err := run(t, "check", "image-names/full-name", "--answer", "docker.io/library/nginx:latest", "--state-dir", state); err != nil {
		t.Fatalf("free-text quiz waited: %v\n%s", err, out)
	}
}

// TestNoOptionIsNoPick: an answer that is none of the options is a typo,
// not a wrong pick: no retry delay.
func TestNoOptionIsNoPick(t *testing.T) {
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cur.Steps() {
		if !s.Definition().Choice {
			continue
		}
		state := t.TempDir()
		if out, err := run(t, "check", s.Ref(), "--answer", "zz", "--state-dir", state); !errors.Is(err, errNotPassed) || !strings.Contains(out, "not one of the options") {
			t.Fatalf("%s: %v\n%s", s.Ref(), err, out)
		}
		right := s.Params(lessons.Placeholder())["correct"]
		if out, err := run(t, "check", s.Ref(), "--answer", right, "--state-dir", state); err != nil {
			t.Errorf("%s: the right pick after a typo waited: %v\n%s", s.Ref(), err, out)
		}
		return
	}
	t.Fatal("no choice quiz in the curriculum")
}
