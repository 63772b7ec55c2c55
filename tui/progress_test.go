package tui

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/sandbox"
)

// TestEventTextSaysEveryTask: each task the sandbox (and the app) reports
// has its own words in Korean, with the subject in them; in English they
// are the sandbox's own message. A line with no task (kind's log) stays.
func TestEventTextSaysEveryTask(t *testing.T) {
	tasks := []sandbox.Task{
		sandbox.TaskConnectCluster, sandbox.TaskConnectSandbox, sandbox.TaskCheckPrevious, sandbox.TaskCheckRegistry,
		sandbox.TaskStartRegistry, sandbox.TaskCreateCluster, sandbox.TaskWire, sandbox.TaskPrepareNamespace,
		sandbox.TaskSeed, sandbox.TaskReady, sandbox.TaskDeleteCluster, sandbox.TaskRemoveRegistry,
		sandbox.TaskRemoveNamespace, sandbox.TaskRemake, sandbox.TaskSeedFailed, sandbox.TaskPortTaken,
		sandbox.TaskUsePodman, sandbox.TaskUseDocker, sandbox.TaskProviderEnv, sandbox.TaskProviderIgnored, sandbox.TaskPodmanDocker,
		TaskLabImages, TaskLabImagesFailed,
	}
	ko := i18n.For(i18n.Korean)
	for _, task := range tasks {
		e := sandbox.Event{Task: task, Subject: "SUBJECT", Message: "the English line"}
		got := EventText(ko, e)
		if got == e.Message || !testenv.HasHangul(got) {
			t.Errorf("task %s in Korean: %q", task, got)
		}
		if strings.Contains(EventText(nil, sandbox.Event{Task: task, Subject: "SUBJECT"}), "SUBJECT") != strings.Contains(got, "SUBJECT") {
			t.Errorf("task %s: the subject is in one language only: %q", task, got)
		}
	}
	kind := sandbox.Event{Phase: sandbox.PhaseCluster, Log: true, Message: " ✓ Preparing nodes 📦"}
	if got := EventLine(ko, kind); got != "   ✓ Preparing nodes 📦" {
		t.Errorf("kind's line = %q", got)
	}
	failed := sandbox.Event{Phase: sandbox.PhaseRegistry, Task: sandbox.TaskStartRegistry, Done: true, Failed: true, Elapsed: 300 * time.Millisecond,
		Message: "Starting the private registry"}
	if got, want := EventLine(nil, failed), failed.String(); got != want || !strings.HasPrefix(got, "✗ ") {
		t.Errorf("a failed phase in English = %q, the sandbox's own is %q", got, want)
	}
	if got := EventLine(ko, failed); !strings.HasPrefix(got, "✗ ") || !testenv.HasHangul(got) {
		t.Errorf("a failed phase in Korean = %q", got)
	}
	done := sandbox.Event{Phase: sandbox.PhaseNamespace, Task: sandbox.TaskPrepareNamespace, Subject: "imagelab", Done: true, Elapsed: 1500 * time.Millisecond,
		Message: "Preparing namespace imagelab"}
	if got, want := EventLine(nil, done), done.String(); got != want {
		t.Errorf("English line = %q, the sandbox's own is %q", got, want)
	}
	if got, want := EventLine(ko, done), "✓ 네임스페이스 imagelab을(를) 준비하는 중 (1.5s)"; got != want {
		t.Errorf("Korean line = %q, want %q", got, want)
	}
}

// TestExamProgressInKorean: the exam's preparation says where it is in
// the screen's language; in English as the exam package says it.
func TestExamProgressInKorean(t *testing.T) {
	for _, pr := range []exam.Progress{{Stage: exam.StageNamespaces, Total: 4}, {Stage: exam.StageCleanup, Total: 4}, {Stage: exam.StageTasks, Done: 3, Total: 4}} {
		if got, want := progressText(nil, pr), pr.String(); got != want {
			t.Errorf("%s in English: %q, want %q", pr.Stage, got, want)
		}
		if got := progressText(i18n.For(i18n.Korean), pr); got == pr.String() || !testenv.HasHangul(got) {
			t.Errorf("%s in Korean: %q", pr.Stage, got)
		}
	}
	if got := progressText(i18n.For(i18n.Korean), exam.Progress{Stage: exam.StageTasks, Done: 3, Total: 4}); got != "과제 4개 중 3개 준비됨" {
		t.Errorf("tasks prepared: %q", got)
	}
}

// TestSandboxErrorInKorean: the sandbox's own errors are said in Korean
// inside whatever wraps them, and errors.Is still finds them.
func TestSandboxErrorInKorean(t *testing.T) {
	ko := i18n.For(i18n.Korean)
	for _, s := range sandboxErrors(ko) {
		wrapped := fmt.Errorf("the exam needs the sandbox: %w", s.err)
		got := SandboxError(ko, wrapped)
		if !errors.Is(got, s.err) || strings.Contains(got.Error(), s.err.Error()) || !strings.HasPrefix(got.Error(), "the exam needs the sandbox: ") {
			t.Errorf("%v in Korean: %v", s.err, got)
		}
		if SandboxError(nil, wrapped) != wrapped {
			t.Errorf("%v in English changed", s.err)
		}
	}
	// A pull that failed: the engine's words stay as they are.
	pull := &sandbox.PullError{Image: "docker.io/library/registry:3", Flag: "--registry-image", Said: "Error: initializing source docker://registry:3: no such host"}
	got := SandboxError(ko, fmt.Errorf("starting the registry: %w", pull))
	if !errors.Is(got, sandbox.ErrImagePull) || !testenv.HasHangul(got.Error()) || strings.Contains(got.Error(), "could not be pulled") ||
		!strings.Contains(got.Error(), pull.Image) || !strings.Contains(got.Error(), pull.Flag) || !strings.Contains(got.Error(), pull.Said) {
		t.Errorf("a pull error in Korean: %v", got)
	}
	other := errors.New("something else")
	if SandboxError(ko, other) != other {
		t.Error("an error with no sandbox error in it changed")
	}
}

// TestExamNotesInKorean: the notes imagelab keeps on an exam are said in
// Korean, with their error; in English as kept.
func TestExamNotesInKorean(t *testing.T) {
	ko := i18n.For(i18n.Korean)
	for _, text := range []string{exam.NoteDoneBefore, exam.NoteLeftover + "the login", exam.NoteNoCleanup + "the namespace"} {
		if got := NoteText(nil, text); got != text {
			t.Errorf("%q in English: %q", text, got)
		}
		got := NoteText(ko, text)
		if got == text || !testenv.HasHangul(got) || (strings.HasSuffix(text, "the login") && !strings.HasSuffix(got, "the login")) {
			t.Errorf("%q in Korean: %q", text, got)
		}
	}
	if NoteText(ko, "another note") != "another note" {
		t.Error("a note imagelab does not know changed")
	}
}
