package app

import (
	"context"
	"testing"
	"time"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// TestIntegrationReset: every step with objects to reset passes after its
// solution, and fails again after imagelab's reset — the cluster and
// registry stay.
func TestIntegrationReset(t *testing.T) {
	testenv.RequireDocker(t)
	testenv.RequireTools(t)
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	sb, env := labSandbox(t, "reset", nil)
	vals := values(sb)
	ctx := context.Background()
	// Steps on the control-plane node are reset on a real node, in
	// TestIntegrationNodeContent: this sandbox has none.
	var steps []*lessons.Step
	for _, s := range cur.Steps() {
		if !s.Needs().Has(check.NeedsNode) {
			steps = append(steps, s)
		}
	}
	for _, s := range steps {
		if err := s.SetUp(ctx, env, vals); err != nil {
			t.Fatalf("setting %s up: %v", s.Ref(), err)
		}
		answer := applySolution(t, sb, s)
		if res := eventually(t, func() (check.Result, error) { return s.Run(ctx, env, vals, answer) }); !res.Passed {
			t.Fatalf("%s does not pass after its solution: %+v", s.Ref(), res.Findings)
		}
	}
	for _, s := range steps {
		if len(s.Reset) == 0 {
			continue
		}
		t.Run(s.Ref(), func(t *testing.T) {
			start := time.Now()
			if err := resetStep(ctx, sb, s); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			res, err := s.Run(ctx, env, vals, "")
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed {
				t.Errorf("still passes after reset")
			}
			if took > 3*time.Second {
				t.Errorf("reset took %s", took)
			}
			t.Logf("reset in %s", took.Round(time.Millisecond))
		})
	}
	// A namespace imagelab did not create is left alone.
	sb.Namespace = "kube-system"
	s, _ := cur.Find("pull-secrets/regcred")
	if err := resetStep(ctx, sb, s); err == nil {
		t.Error("reset deleted in a namespace imagelab did not create")
	}
}
