// Command uptimes measures the phases of imagelab up that run on a machine
// where kind cannot start a node: the registry (from creating its
// container to its first authenticated answer) and the seed (the image
// pushed into it). Each run is a real sandbox.UpKind with a node image
// that cannot be had, so it stops at the cluster and removes what it made.
// It prints each run and the medians.
//
//	eval "$(hack/docker.sh env)"; eval "$(hack/registry-image.sh env)"; eval "$(hack/podman.sh env)"
//	go run ./hack/uptimes -runs 5 -runtime docker
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/imagelab/imagelab/sandbox"
)

func main() {
	runs := flag.Int("runs", 5, "runs")
	runtime := flag.String("runtime", "", "docker or podman (default: detect)")
	flag.Parse()
	img, seed := os.Getenv("IMAGELAB_REGISTRY_IMAGE"), os.Getenv("IMAGELAB_SEED_TARBALL")
	if img == "" || seed == "" {
		fmt.Fprintln(os.Stderr, `uptimes: eval "$(hack/registry-image.sh env)" first`)
		os.Exit(2)
	}
	var registry, seeding []time.Duration
	for i := range *runs {
		dir, err := os.MkdirTemp("", "imagelab-uptimes-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		took := map[sandbox.Phase]time.Duration{}
		ctx, cancel := context.WithCancel(context.Background())
		opts := sandbox.KindOptions{
			Name: "imagelab-uptimes", Runtime: *runtime, StateDir: dir,
			RegistryImage: img, NodeImage: "imagelab.invalid/node:v0",
			Seed: sandbox.SeedOptions{Source: seed},
			Report: func(e sandbox.Event) {
				if e.Done {
					took[e.Phase] = e.Elapsed
				}
				if e.Phase == sandbox.PhaseCluster && !e.Done && !e.Log {
					cancel() // the rest needs a node, which can't start here
				}
			},
		}
		_, err = sandbox.UpKind(ctx, opts)
		cancel()
		os.RemoveAll(dir)
		r, s := took[sandbox.PhaseRegistry], took[sandbox.PhaseSeed]
		if r == 0 || s == 0 {
			fmt.Fprintf(os.Stderr, "run %d: a phase did not finish: %v\n", i+1, err)
			os.Exit(1)
		}
		registry, seeding = append(registry, r), append(seeding, s)
		fmt.Printf("run %d: registry %s, seed %s\n", i+1, r.Round(time.Millisecond), s.Round(time.Millisecond))
	}
	fmt.Printf("median of %d: registry start to first authenticated answer %s, seeding %s\n",
		*runs, median(registry).Round(time.Millisecond), median(seeding).Round(time.Millisecond))
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}
