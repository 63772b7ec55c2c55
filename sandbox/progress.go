package sandbox

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Phase is one stage of making a sandbox, reported as it starts and ends so
// a UI can show where it is (the TUI runs creation in the background).
type Phase string

const (
	PhaseConnect   Phase = "connect"   // reach the API server
	PhaseRegistry  Phase = "registry"  // start or reach the registry
	PhaseCluster   Phase = "cluster"   // create the kind cluster
	PhaseWire      Phase = "wire"      // hosts.toml, ConfigMap, network
	PhaseNamespace Phase = "namespace" // namespace and service account
	PhaseSeed      Phase = "seed"      // put apps/internal-app in the registry
	PhaseReady     Phase = "ready"
)

// Task names what an event reports, so that a UI can say it in its own
// words and language (the sandbox speaks English only): a phase's start
// and end, or one of imagelab's own detail lines. Log lines from kind have
// none.
type Task string

// The tasks; the comment is the English Message, with Subject as %s.
const (
	TaskConnectCluster   Task = "connect-cluster"   // Connecting to the cluster
	TaskConnectSandbox   Task = "connect-sandbox"   // Connecting to the sandbox
	TaskCheckPrevious    Task = "check-previous"    // Checking the sandbox from before
	TaskCheckRegistry    Task = "check-registry"    // Checking the registry %s
	TaskStartRegistry    Task = "start-registry"    // Starting the private registry
	TaskCreateCluster    Task = "create-cluster"    // Creating the kind cluster (about a minute)
	TaskWire             Task = "wire"              // Wiring the registry into the cluster
	TaskPrepareNamespace Task = "prepare-namespace" // Preparing namespace %s
	TaskSeed             Task = "seed"              // Seeding %s
	TaskReady            Task = "ready"             // Sandbox ready
	TaskDeleteCluster    Task = "delete-cluster"    // Deleting kind cluster %s
	TaskRemoveRegistry   Task = "remove-registry"   // Removing the registry container
	TaskRemoveNamespace  Task = "remove-namespace"  // Removing namespace %s
	// Detail lines (Log).
	TaskRemake     Task = "remake"      // the sandbox from before %s; making it again
	TaskSeedFailed Task = "seed-failed" // seeding failed; the sandbox goes on without it: %s
	TaskPortTaken  Task = "port-taken"  // port %s is not available; trying another
	TaskUsePodman  Task = "use-podman"  // docker does not answer; using podman, which does
	TaskUseDocker  Task = "use-docker"  // podman does not answer; using docker, which does
	// The runtime as KIND_EXPERIMENTAL_PROVIDER names it (Subject), or its
	// value ignored; docker that is Podman's docker command.
	TaskProviderEnv     Task = "provider-env"     // using %s as KIND_EXPERIMENTAL_PROVIDER says
	TaskProviderIgnored Task = "provider-ignored" // ignoring KIND_EXPERIMENTAL_PROVIDER=%s (kind knows docker, podman, nerdctl)
	TaskPodmanDocker    Task = "podman-docker"    // docker here is Podman's docker command (podman-docker): using podman
)

// Event is a progress report.
type Event struct {
	Phase Phase
	// Task is what is reported; Subject the name or value its message
	// quotes (a host, a namespace, an image, an error), if any.
	Task    Task
	Subject string
	// Message is the English line for the learner (or a log line from kind).
	Message string
	// Done marks the end of the phase.
	Done bool
	// Failed marks the end of a phase that did not finish (with Done).
	Failed bool
	// Log marks a detail line (kind's own log output), not a phase change.
	Log     bool
	Elapsed time.Duration
}

func (e Event) String() string {
	switch {
	case e.Log:
		return "  " + e.Message
	case e.Phase == PhaseReady:
		return "✓ " + e.Message
	case e.Failed:
		return fmt.Sprintf("✗ %s (%.1fs)", e.Message, e.Elapsed.Seconds())
	case e.Done:
		return fmt.Sprintf("✓ %s (%.1fs)", e.Message, e.Elapsed.Seconds())
	}
	return "• " + e.Message
}

// Reporter receives progress events; it must not block for long.
type Reporter func(Event)

// NoReport discards events.
func NoReport(Event) {}

// openPhases follows the phases a Reporter starts and ends, so that a
// failure can close the ones under way with ✗: without it, up's last
// phase line stays "• Starting the private registry" above the error.
type openPhases struct {
	mu   sync.Mutex
	open []openPhase // the innermost last
}

// openPhase is a phase started and not yet done.
type openPhase struct {
	Event
	since time.Time
}

// watch returns r, noting each phase r is told of.
func (o *openPhases) watch(r Reporter) Reporter {
	return func(e Event) {
		if !e.Log && e.Phase != PhaseReady {
			o.mu.Lock()
			if !e.Done {
				o.open = append(o.open, openPhase{e, time.Now()})
			} else if i := slices.IndexFunc(o.open, func(s openPhase) bool { return s.Phase == e.Phase && s.Task == e.Task }); i >= 0 {
				o.open = slices.Delete(o.open, i, i+1)
			}
			o.mu.Unlock()
		}
		r(e)
	}
}

// fail reports each phase still under way as failed, innermost first.
func (o *openPhases) fail(r Reporter) {
	o.mu.Lock()
	open := o.open
	o.open = nil
	o.mu.Unlock()
	for _, ph := range slices.Backward(open) {
		e := ph.Event
		e.Done, e.Failed, e.Elapsed = true, true, time.Since(ph.since)
		r(e)
	}
}

// phase reports the start of a phase and returns a func that reports its end.
func (r Reporter) phase(p Phase, task Task, subject, msg string) func() {
	if r == nil {
		r = NoReport
	}
	if p == PhaseReady { // a moment, not a phase
		return func() { r(Event{Phase: p, Task: task, Subject: subject, Message: msg, Done: true}) }
	}
	start := time.Now()
	r(Event{Phase: p, Task: task, Subject: subject, Message: msg})
	return func() {
		r(Event{Phase: p, Task: task, Subject: subject, Message: msg, Done: true, Elapsed: time.Since(start)})
	}
}
