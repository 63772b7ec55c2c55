//go:build kind

package sandbox

// The whole kind sandbox, on a machine whose Docker engine can run kind
// (privileged containers) and pull images (or has the node, registry and
// seed images under the names given by IMAGELAB_NODE_IMAGE,
// IMAGELAB_REGISTRY_IMAGE, IMAGELAB_SEED_SOURCE). Run it with:
//
//	go test -tags kind -run TestKindSandbox -timeout 20m ./sandbox

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagelab/imagelab/lessons/check"
)

func TestKindSandbox(t *testing.T) {
	opts := KindOptions{
		Name:          "imagelab-e2e",
		StateDir:      t.TempDir(),
		NodeImage:     os.Getenv("IMAGELAB_NODE_IMAGE"),
		RegistryImage: os.Getenv("IMAGELAB_REGISTRY_IMAGE"),
		Seed:          SeedOptions{Source: os.Getenv("IMAGELAB_SEED_SOURCE")},
		Report:        func(e Event) { t.Log(e.String()) },
	}
	ctx := context.Background()
	start := time.Now()
	sb, err := UpKind(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up in %s", time.Since(start))
	t.Cleanup(func() {
		if err := Remove(context.Background(), sb, opts.StateDir, opts.Report); err != nil {
			t.Error(err)
		}
		if left := leftovers(t, sb.Runtime, opts.Name); left != "" {
			t.Errorf("left behind: %s", left)
		}
	})

	// A second up reuses it quickly.
	start = time.Now()
	if _, err := UpKind(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("second up (reuse) in %s", time.Since(start))

	// A seed that went missing (as after a failed seed) is made again by
	// the next up, which keeps the sandbox.
	seedRef, err := name.ParseReference(sb.SeedImage())
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(seedRef, remote.WithAuth(sb.Registry.Auth()))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(seedRef.Context().Digest(desc.Digest.String()), remote.WithAuth(sb.Registry.Auth())); err != nil {
		t.Fatal(err)
	}
	if _, err := UpKind(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if !seedPresent(ctx, sb.Registry, nil) {
		t.Fatal("up did not seed again")
	}

	client, err := sb.Client()
	if err != nil {
		t.Fatal(err)
	}
	env := &check.Env{Kube: client, Namespace: sb.Namespace, Kubelet: true,
		Registry: check.Registry{Host: sb.Registry.Host, User: sb.Registry.User, Password: sb.Registry.Password}}
	kubectl := func(args ...string) {
		t.Helper()
		cmd := exec.Command("kubectl", args...)
		cmd.Env = append(os.Environ(), sb.ShellEnv(os.Environ())...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	waitFor := func(name string, req check.Request) check.Result {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			res, err := check.Run(ctx, name, env, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed || time.Now().After(deadline) {
				return res
			}
			time.Sleep(time.Second)
		}
	}
	image := sb.SeedImage()
	kubectl("run", "anonymous", "--image="+image, "--restart=Never")
	if res := waitFor("pod.pull-denied", check.Request{Params: map[string]string{"pod": "anonymous", "image": image}}); !res.Passed {
		t.Fatalf("pull without credentials: %+v", res)
	} else {
		t.Logf("kubelet said: %s", res.Findings[0].Evidence)
	}
	kubectl("create", "secret", "docker-registry", "regcred", "--docker-server="+sb.Registry.Host,
		"--docker-username="+sb.Registry.User, "--docker-password="+sb.Registry.Password)
	kubectl("run", "internal-app", "--image="+image, "--restart=Never",
		`--overrides={"apiVersion": "v1", "spec": {"imagePullSecrets": [{"name": "regcred"}]}}`)
	if res := waitFor("pod.pulled", check.Request{Params: map[string]string{"pod": "internal-app", "image": image, "secret": "regcred"}}); !res.Passed {
		t.Fatalf("pull with regcred: %+v", res)
	}
}
