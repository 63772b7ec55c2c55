package sandbox

import (
	"fmt"
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

// Event is a progress report.
type Event struct {
	Phase Phase
	// Message is a line for the learner (or a log line from kind).
	Message string
	// Done marks the end of the phase.
	Done bool
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
	case e.Done:
		return fmt.Sprintf("✓ %s (%.1fs)", e.Message, e.Elapsed.Seconds())
	}
	return "• " + e.Message
}

// Reporter receives progress events; it must not block for long.
type Reporter func(Event)

// NoReport discards events.
func NoReport(Event) {}

// phase reports the start of a phase and returns a func that reports its end.
func (r Reporter) phase(p Phase, msg string) func() {
	if r == nil {
		r = NoReport
	}
	if p == PhaseReady { // a moment, not a phase
		return func() { r(Event{Phase: p, Message: msg, Done: true}) }
	}
	start := time.Now()
	r(Event{Phase: p, Message: msg})
	return func() { r(Event{Phase: p, Message: msg, Done: true, Elapsed: time.Since(start)}) }
}
