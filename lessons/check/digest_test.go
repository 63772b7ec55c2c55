package check

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/imagelab/imagelab/internal/testenv"
)

// pushIndex pushes a two-platform image index to repo:tag and returns it.
func pushIndex(t *testing.T, env *Env, repo, tag string) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	ref, err := name.ParseReference(env.Registry.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuth(&authn.Basic{Username: env.Registry.User, Password: env.Registry.Password})); err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestDigestOfAPlatformManifestIsAPin: for a multi-arch image, pinning
// the index's digest or one platform manifest's digest are both valid
// pins; a digest from elsewhere is not.
func TestDigestOfAPlatformManifestIsAPin(t *testing.T) {
	env, host := fakeEnv(t)
	idx := pushIndex(t, env, "apps/multi", "1.0")
	indexDigest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	platform := m.Manifests[1].Digest.String()
	other, _ := random.Image(64, 1)
	otherDigest, _ := other.Digest()

	for _, tc := range []struct {
		name, digest string
		passes       bool
		finding      string
	}{
		{"the index", indexDigest.String(), true, ""},
		{"one platform's manifest", platform, true, ""},
		{"a digest from elsewhere", otherDigest.String(), false, "pod-digest-mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			image := host + "/apps/multi@" + tc.digest
			pod := runningPod("pinned", image, "default", "regcred")
			env.Kube = fake.NewClientset(pod, regcred("regcred", host, "learner", testenv.TestPassword),
				event(pod, "Pulled", `Successfully pulled image "`+image+`" in 300ms`, time.Now()))
			res, err := Run(context.Background(), "pod.digest", env, Request{Params: map[string]string{"pod": "pinned", "repository": "apps/multi", "tag": "1.0", "secret": "regcred"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed != tc.passes || (tc.finding != "" && !res.HasFinding(tc.finding)) {
				t.Errorf("passed = %v, findings %+v", res.Passed, res.Findings)
			}
			if tc.passes && !strings.Contains(res.Summary, tc.digest) {
				t.Errorf("summary %q does not name the pinned digest", res.Summary)
			}
		})
	}
}
