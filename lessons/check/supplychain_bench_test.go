package check

import (
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkScanColdDigest times the scan check when every image digest is
// new to it: each image's layers are read and its package database parsed
// (the first check after a pod changes image), against BenchmarkScanWarm,
// where only the pods and the registry's tags are read. internal/app's
// BenchmarkCheck times every check warm against a real API server.
//
//	go test -run '^$' -bench 'BenchmarkScan' ./lessons/check
func BenchmarkScanColdDigest(b *testing.B) { benchScan(b, true) }

func BenchmarkScanWarm(b *testing.B) { benchScan(b, false) }

func benchScan(b *testing.B, cold bool) {
	env, host := labEnv(b)
	env.Kube = fake.NewClientset(labPod("payments", host+"/apps/payments:1.4", ""), labPod("catalog", host+"/apps/catalog:2.0", ""), labPod("reports", host+"/apps/reports:3.1", ""))
	req := Request{Params: map[string]string{"pods": "payments=apps/payments:1.4,catalog=apps/catalog:2.0,reports=apps/reports:3.1"}}
	var took []time.Duration
	for b.Loop() {
		if cold {
			factsCache.Lock()
			clear(factsCache.m)
			factsCache.Unlock()
		}
		start := time.Now()
		if _, err := Run(context.Background(), "image.scan", env, req); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[min(len(took)-1, len(took)*95/100)]), "p95-ms")
}
