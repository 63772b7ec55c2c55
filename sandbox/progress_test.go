package sandbox

import (
	"strings"
	"testing"
)

// TestFailClosesOpenPhases: after a failure, each phase still under way
// ends with ✗, innermost first; phases that ended, and detail lines, are
// left as they were.
func TestFailClosesOpenPhases(t *testing.T) {
	var lines []string
	var phases openPhases
	report := phases.watch(func(e Event) { lines = append(lines, e.String()) })

	report.phase(PhaseConnect, TaskConnectSandbox, "", "Connecting to the sandbox")()
	report.phase(PhaseRegistry, TaskStartRegistry, "", "Starting the private registry")
	report(Event{Phase: PhaseRegistry, Log: true, Message: "port 5001 is not available; trying another"})
	report.phase(PhaseSeed, TaskSeed, "apps/internal-app:1.0", "Seeding apps/internal-app:1.0")
	phases.fail(report)

	got := strings.Join(lines, "\n")
	want := []string{
		"• Connecting to the sandbox", "✓ Connecting to the sandbox",
		"• Starting the private registry", "  port 5001 is not available; trying another",
		"• Seeding apps/internal-app:1.0",
		"✗ Seeding apps/internal-app:1.0", "✗ Starting the private registry",
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", got)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q…\n%s", i, lines[i], w, got)
		}
	}
	// Nothing is open any more: a second failure says nothing.
	n := len(lines)
	phases.fail(report)
	if len(lines) != n {
		t.Errorf("closed twice:\n%s", strings.Join(lines, "\n"))
	}
}
