package app

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/sandbox"
)

// BenchmarkCheck times one check of each kind against the local API server
// and registry, in the passing state (the slowest: every probe runs).
//
//	make bench, or: go test -run '^$' -bench BenchmarkCheck ./internal/app
func BenchmarkCheck(b *testing.B) {
	testenv.RequireDocker(b)
	testenv.RequireTools(b)
	cur, err := lessons.Default()
	if err != nil {
		b.Fatal(err)
	}
	// A learner's checks come at human pace, far below the client's rate
	// limit; thousands in a row would measure the limiter instead.
	qps, burst := sandbox.ClientQPS, sandbox.ClientBurst
	sandbox.ClientQPS, sandbox.ClientBurst = -1, 0
	defer func() { sandbox.ClientQPS, sandbox.ClientBurst = qps, burst }()
	sb, env := labSandbox(b, "bench", nil)
	vals := values(sb)
	ctx := context.Background()
	answers := map[string]string{}
	for _, s := range cur.Steps() {
		// Steps that start from a setup (a broken pod, the lesson images) need it first.
		if err := s.SetUp(ctx, env, vals); err != nil {
			b.Fatalf("setting %s up: %v", s.Ref(), err)
		}
		answers[s.Ref()] = applySolution(b, sb, s)
	}
	for _, ref := range []string{
		"image-names/full-name",
		"private-registry/login",
		"private-registry/push",
		"pull-secrets/without-credentials",
		"pull-secrets/regcred",
		"pull-secrets/image-pull-secrets",
		"supply-chain/digest",
		"supply-chain-tools/scan",
		"supply-chain-tools/sbom",
		"supply-chain-tools/sign",
		"supply-chain-tools/minimal",
		"supply-chain-tools/harden",
	} {
		s, err := cur.Find(ref)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(ref, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := s.Run(ctx, env, vals, answers[ref])
				took = append(took, time.Since(start))
				if err != nil || !res.Passed {
					b.Fatalf("%v %+v", err, res)
				}
			}
			reportPercentiles(b, took)
		})
	}
}

// BenchmarkRenderStep times filling a step's markdown with the sandbox's values.
func BenchmarkRenderStep(b *testing.B) {
	cur, err := lessons.Default()
	if err != nil {
		b.Fatal(err)
	}
	s, _ := cur.Find("pull-secrets/regcred")
	v := lessons.NewValues("localhost:5001", "learner", "x", "imagelab")
	for b.Loop() {
		_ = s.Body(v)
	}
}

// BenchmarkReset times imagelab reset of the step that makes a pod: delete,
// and wait until the API server no longer has it.
func BenchmarkReset(b *testing.B) {
	testenv.Require(b)
	cur, err := lessons.Default()
	if err != nil {
		b.Fatal(err)
	}
	sb, _ := labSandbox(b, "bench-reset", nil)
	s, _ := cur.Find("pull-secrets/without-credentials")
	ctx := context.Background()
	var took []time.Duration
	for b.Loop() {
		b.StopTimer()
		applySolution(b, sb, s)
		b.StartTimer()
		start := time.Now()
		if err := resetStep(ctx, sb, s); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	reportPercentiles(b, took)
}

// reportPercentiles adds the median and 95th percentile, in milliseconds.
func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[min(len(took)-1, len(took)*95/100)]), "p95-ms")
}
