package tui

import (
	"errors"
	"strings"

	"github.com/imagelab/imagelab/exam"
	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop"
)

// The app's own tasks after the sandbox is up (internal/app reports them
// on the sandbox's reporter): the supply-chain lesson's images.
const (
	TaskLabImages       sandbox.Task = "lab-images"        // putting the supply-chain lesson's images in the registry
	TaskLabImagesFailed sandbox.Task = "lab-images-failed" // the lesson images could not be pushed (…): %s
)

// EventText is a progress event's message in p's language: the sandbox
// reports its tasks in English, and the app says them in the learner's.
// A line without a task (kind's own log) stays as it came.
func EventText(p *i18n.Printer, e sandbox.Event) string {
	s := e.Subject
	switch e.Task {
	case sandbox.TaskConnectCluster:
		return p.T("Connecting to the cluster")
	case sandbox.TaskConnectSandbox:
		return p.T("Connecting to the sandbox")
	case sandbox.TaskCheckPrevious:
		return p.T("Checking the sandbox from before")
	case sandbox.TaskCheckRegistry:
		return p.T("Checking the registry %s", s)
	case sandbox.TaskStartRegistry:
		return p.T("Starting the private registry")
	case sandbox.TaskCreateCluster:
		return p.T("Creating the kind cluster (about a minute)")
	case sandbox.TaskWire:
		return p.T("Wiring the registry into the cluster")
	case sandbox.TaskPrepareNamespace:
		return p.T("Preparing namespace %s", s)
	case sandbox.TaskSeed:
		return p.T("Seeding %s", s)
	case sandbox.TaskReady:
		return p.T("Sandbox ready")
	case sandbox.TaskDeleteCluster:
		return p.T("Deleting kind cluster %s", s)
	case sandbox.TaskRemoveRegistry:
		return p.T("Removing the registry container")
	case sandbox.TaskRemoveNamespace:
		return p.T("Removing namespace %s", s)
	case sandbox.TaskRemake:
		return p.T("the sandbox from before %s; making it again", s)
	case sandbox.TaskSeedFailed:
		return p.T("seeding failed; the sandbox goes on without it: %s", s)
	case sandbox.TaskPortTaken:
		return p.T("port %s is not available; trying another", s)
	case sandbox.TaskUsePodman:
		return p.T("docker does not answer; using podman, which does")
	case sandbox.TaskUseDocker:
		return p.T("podman does not answer; using docker, which does")
	case sandbox.TaskProviderEnv:
		return p.T("using %s as KIND_EXPERIMENTAL_PROVIDER says", s)
	case sandbox.TaskProviderIgnored:
		return p.T("ignoring KIND_EXPERIMENTAL_PROVIDER=%s (kind knows docker, podman, nerdctl)", s)
	case sandbox.TaskPodmanDocker:
		return p.T("docker here is Podman's docker command (podman-docker): using podman")
	case TaskLabImages:
		return p.T("putting the supply-chain lesson's images in the registry")
	case TaskLabImagesFailed:
		return p.T("the lesson images could not be pushed (the supply-chain steps try again when they start): %s", s)
	}
	return e.Message
}

// EventLine is the event as a line of imagelab up's progress, in p's
// language: as sandbox.Event.String, with EventText's message.
func EventLine(p *i18n.Printer, e sandbox.Event) string {
	e.Message = EventText(p, e)
	return e.String()
}

// progressText is where the exam's preparation is, in p's language;
// empty before it has begun.
func progressText(p *i18n.Printer, pr exam.Progress) string {
	switch pr.Stage {
	case exam.StageNamespaces:
		return p.T("Creating %d namespaces", pr.Total)
	case exam.StageCleanup:
		return p.T("Cleaning up what earlier work left outside the namespaces")
	case exam.StageTasks:
		return p.T("Prepared %d of %d tasks", pr.Done, pr.Total)
	}
	return ""
}

// sandboxErrors are the sandbox's errors a learner meets most, with their
// words in the learner's language (the sandbox speaks English only).
func sandboxErrors(p *i18n.Printer) []struct {
	err  error
	text string
} {
	return []struct {
		err  error
		text string
	}{
		{sandbox.ErrNoSandbox, p.T("no sandbox yet: run imagelab up, or name a cluster with --kubeconfig/--context and a registry with --registry")},
		{sandbox.ErrUnnamedCluster, p.T("name the cluster to use with --kubeconfig or --context: imagelab only uses a cluster it created or one you name")},
		{sandbox.ErrBusy, p.T("another imagelab is making or removing this sandbox")},
		{sandbox.ErrNoNode, p.T("this sandbox is a cluster imagelab did not make, so imagelab has no shell on its control-plane node: the control-plane steps need a sandbox of imagelab up (a kind cluster)")},
		{sandbox.ErrNoDocker, p.T("Docker is not installed (no docker or podman on PATH): install Docker Desktop, Colima, OrbStack, Docker Engine or Podman, then run imagelab up again")},
		{sandbox.ErrDockerDown, p.T("Docker is installed but its engine does not answer: start Docker Desktop (or `colima start`, or the docker service) and run imagelab up again")},
		{sandbox.ErrPodmanDown, p.T("Podman is installed but does not answer: start it (`podman machine start` on macOS and Windows; `podman info` says what is wrong) and run imagelab up again")},
		{sandbox.ErrDockerContext, p.T("the current docker context names an engine that does not exist: `docker context ls` lists them, `docker context use default` picks the default")},
		{sandbox.ErrPortTaken, p.T("the port is not available (taken by another program, or reserved by the host)")},
		{sandbox.ErrImagePull, p.T("the image could not be pulled")},
		{sandbox.ErrNameClash, p.T("a cluster or container with imagelab's name exists that imagelab did not create; imagelab will not touch it")},
		{sandbox.ErrRegistryAuth, p.T("the registry refused the credentials")},
		{sandbox.ErrNodeNotReady, p.T("the cluster's node is not Ready")},
		{sandbox.ErrNodeCannotReachHost, p.T("the node cannot reach this machine")},
	}
}

// UnavailableReason is why a step cannot run on this sandbox (an error
// wrapping check.ErrUnavailable), in p's language: the reasons the
// sandbox, a workshop seat and the checks give, which speak English.
func UnavailableReason(p *i18n.Printer, err error) string {
	why := strings.TrimPrefix(err.Error(), check.ErrUnavailable.Error()+": ")
	if p.Lang() == i18n.English {
		return why
	}
	reasons := []struct{ en, text string }{
		{workshop.NoNode, p.T("this step is for a personal sandbox (imagelab up): a workshop namespace has no control-plane node")},
		{workshop.NoClusterScope, p.T("this step makes cluster-wide objects, which an attendee of a shared cluster may not: it is for a personal sandbox (imagelab up)")},
		{"imagelab runs no image policy webhook for this sandbox", p.T("imagelab runs no image policy webhook for this sandbox")},
		{check.ErrUnavailable.Error(), p.T("this step is not available here")},
	}
	for _, s := range sandboxErrors(p) {
		reasons = append(reasons, struct{ en, text string }{s.err.Error(), s.text})
	}
	for _, r := range reasons {
		why = strings.ReplaceAll(why, r.en, r.text)
	}
	return why
}

// SandboxError is err with the sandbox's own errors in it said in p's
// language; errors.Is and errors.As still see through it.
func SandboxError(p *i18n.Printer, err error) error {
	if err == nil || p.Lang() == i18n.English {
		return err
	}
	msg := err.Error()
	if pe := (*sandbox.PullError)(nil); errors.As(err, &pe) {
		msg = strings.Replace(msg, pe.Error(), p.T("the image %s could not be pulled (name a mirror or a local image with %s): %s", pe.Image, pe.Flag, pe.Said), 1)
	}
	for _, s := range sandboxErrors(p) {
		if errors.Is(err, s.err) {
			msg = strings.Replace(msg, s.err.Error(), s.text, 1)
		}
	}
	if msg == err.Error() {
		return err
	}
	return &saidError{msg: msg, err: err}
}

// saidError is an error said in another language.
type saidError struct {
	msg string
	err error
}

func (e *saidError) Error() string { return e.msg }
func (e *saidError) Unwrap() error { return e.err }

// NoteText is an exam's note in p's language: the notes imagelab keeps
// (exam.Note…) said in it, any other as it is.
func NoteText(p *i18n.Printer, text string) string {
	switch {
	case text == exam.NoteDoneBefore:
		return p.T("This task was done before the exam started (what it asks for is there already, perhaps from the lessons, outside its namespace): it counts for nothing.")
	case strings.HasPrefix(text, exam.NoteLeftover):
		return p.T("Left from earlier work, which imagelab could not reset: %s", strings.TrimPrefix(text, exam.NoteLeftover))
	case strings.HasPrefix(text, exam.NoteNoCleanup):
		return p.T("After the exam, imagelab could not clean up everything: %s", strings.TrimPrefix(text, exam.NoteNoCleanup))
	}
	return text
}
