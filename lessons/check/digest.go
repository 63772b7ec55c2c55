package check

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	Register(Definition{
		Name:     "pod.digest",
		Params:   []string{"pod", "repository", "tag"},
		Optional: []string{"secret"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{Pods, Events, Secrets, ServiceAccounts},
		Resets:   []*Subject{Pods},
		Criteria: append([]Criterion{pulledCriteria[0], {Name: "pinned", Doc: "the pod names the image by the digest the registry serves for the tag"}}, pulledCriteria[1:]...),
		Run:      checkPinnedByDigest,
	})
}

// checkPinnedByDigest passes when the pod names its image by the digest the
// registry serves for repository:tag — the index's, or for a multi-arch
// image the digest of one of its platform manifests — and can pull it.
func checkPinnedByDigest(ctx context.Context, env *Env, req Request) (Result, error) {
	podName, repo, tag := req.Params["pod"], req.Params["repository"], req.Params["tag"]
	tagged := fmt.Sprintf("%s:%s", env.Registry.Repo(repo), tag)
	desc, err := headManifest(ctx, env.transport(), tagged, env.adminAuth())
	if errors.Is(err, errNotFound) {
		return Result{}, env.Errorf("%s is not in the registry: the sandbox is incomplete (imagelab up seeds it): %w", tagged, err)
	}
	if err != nil {
		return Result{}, env.Errorf("asking the registry for %s: %w", tagged, err)
	}
	pinned := fmt.Sprintf("%s@%s", env.Registry.Repo(repo), desc.Digest)

	image := pinned
	if pod, err := env.Kube.CoreV1().Pods(env.Namespace).Get(ctx, podName, metav1.GetOptions{}); err == nil {
		for _, c := range pod.Spec.Containers {
			got, err := SplitImage(c.Image)
			if err != nil || got.Repository() != env.Registry.Repo(repo) {
				continue
			}
			if got.Digest == "" {
				return fail(Finding{Code: "pod-image-not-pinned", Criterion: "pinned",
					Problem:  env.T("Pod %s names %s by tag: the tag can be moved to other content at any time.", podName, c.Image),
					Expected: pinned, Try: env.T("Read the digest from the registry (the Docker-Content-Digest header, or crane digest), then use image: %s", pinned)}), nil
			}
			ok, err := digestOfTag(ctx, env, desc, tagged, got.Digest)
			if err != nil {
				return Result{}, err
			}
			if !ok {
				return fail(Finding{Code: "pod-digest-mismatch", Criterion: "pinned",
					Problem:  env.T("Pod %s pins %s, but %s is %s now.", podName, got.Digest, tagged, desc.Digest),
					Expected: pinned, Try: env.T("Copy the digest again: it is the sha256 of the manifest, not of the image config or a layer (docker's RepoDigests may list another repository first).")}), nil
			}
			image = fmt.Sprintf("%s@%s", env.Registry.Repo(repo), got.Digest)
		}
	}
	res, err := checkPulled(ctx, env, Request{Params: map[string]string{"pod": podName, "image": image, "secret": req.Param("secret", "regcred")}})
	if err != nil || !res.Passed {
		return res, err
	}
	res.Summary = env.T("Pod %s runs %s by digest: the registry can't hand it other content.", podName, image)
	return res, nil
}

// digestOfTag reports whether digest names what tagged points at: the
// manifest (or index) itself, or, for a multi-arch index, one of its
// platform manifests — pinning one platform is a valid pin too.
func digestOfTag(ctx context.Context, env *Env, desc *v1.Descriptor, tagged, digest string) (bool, error) {
	if digest == desc.Digest.String() {
		return true, nil
	}
	if !desc.MediaType.IsIndex() {
		return false, nil
	}
	ref, err := name.ParseReference(tagged)
	if err != nil {
		return false, err
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx), remote.WithAuth(env.adminAuth()), remote.WithTransport(env.transport()))
	if err != nil {
		return false, fmt.Errorf("reading the index of %s: %w", tagged, registryError(err))
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return false, fmt.Errorf("reading the index of %s: %w", tagged, err)
	}
	for _, d := range m.Manifests {
		if d.Digest.String() == digest {
			return true, nil
		}
	}
	return false, nil
}
