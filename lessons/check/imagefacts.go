package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/imagelab/imagelab/internal/labimages"
)

// The subjects of the supply-chain tools lesson.
var (
	// LabImages are the images a step starts from, built by imagelab and
	// pushed to the sandbox registry (internal/labimages): a setup names
	// a set (kind: LabImages, metadata.name: scan); a reset builds and
	// pushes them again and removes the signatures made of them.
	LabImages = &Subject{Kind: "labimages", Seen: SeenByPolling, Reset: resetLabImages, Create: createLabImages}
	// WorkFiles are files the learner writes in the work dir (an SBOM, a
	// public key); nothing tells when they change, so steps on them poll.
	WorkFiles = &Subject{Kind: "file", Seen: SeenByPolling, Reset: resetWorkFile}
)

// labImagesDoc is a setup's LabImages document.
type labImagesDoc struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		// Pod runs the set's deployed image by digest.
		Pod        string `json:"pod"`
		PullSecret string `json:"pullSecret"`
	} `json:"spec"`
}

func (env *Env) labTarget() labimages.Target {
	return labimages.Target{Host: env.Registry.Repos(), Auth: env.adminAuth(), Transport: env.transport()}
}

func createLabImages(ctx context.Context, env *Env, doc []byte) error {
	var d labImagesDoc
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("reading a LabImages: %w", err)
	}
	set, ok := labimages.FindSet(d.Metadata.Name)
	if !ok {
		return fmt.Errorf("no lesson image set %q", d.Metadata.Name)
	}
	pushed, err := labimages.Push(ctx, env.labTarget(), set)
	if err != nil {
		return err
	}
	if d.Spec.Pod == "" || set.Deployed < 0 {
		return nil
	}
	if env.Kube == nil {
		return fmt.Errorf("setting up pod %s: %w", d.Spec.Pod, ErrNoSandbox)
	}
	p := pushed[set.Deployed]
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: d.Spec.Pod, Labels: map[string]string{"app": d.Spec.Pod}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: fmt.Sprintf("%s@%s", env.Registry.Repo(p.Image.Repository), p.Digest),
		}}},
	}
	if d.Spec.PullSecret != "" {
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: d.Spec.PullSecret}}
	}
	if err := Pods.Reset(ctx, env, pod.Name); err != nil {
		return err
	}
	if _, err := env.Kube.CoreV1().Pods(env.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return env.Errorf("creating pod %s: %w", pod.Name, err)
	}
	return nil
}

// resetLabImages builds and pushes a set's images again (moved tags
// included) and removes what the learner made of them: signatures,
// attestations and SBOMs, kept as OCI referrers or as sha256-… tags.
func resetLabImages(ctx context.Context, env *Env, setName string) error {
	set, ok := labimages.FindSet(setName)
	if !ok {
		return fmt.Errorf("no lesson image set %q", setName)
	}
	pushed, err := labimages.Push(ctx, env.labTarget(), set)
	if err != nil {
		return err
	}
	var repos []string
	for _, p := range pushed {
		if err := deleteReferrers(ctx, env, p.Image.Repository, p.Digest); err != nil {
			return err
		}
		repos = appendNew(repos, p.Image.Repository)
	}
	for _, repo := range repos {
		if err := deleteSignatureTags(ctx, env, repo); err != nil {
			return err
		}
	}
	return nil
}

// deleteReferrers deletes the manifests that refer to repo@digest (a
// registry with the referrers API keeps no tag for them).
func deleteReferrers(ctx context.Context, env *Env, repo string, digest v1.Hash) error {
	r, err := name.NewRepository(env.Registry.Repo(repo))
	if err != nil {
		return err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(env.adminAuth()), remote.WithTransport(env.transport())}
	idx, err := remote.Referrers(r.Digest(digest.String()), opts...)
	if err != nil {
		if errors.Is(registryError(err), errNotFound) {
			return nil
		}
		return env.Errorf("listing what refers to %s@%s: %w", r, digest, registryError(err))
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if err := remote.Delete(r.Digest(d.Digest.String()), opts...); err != nil && !errors.Is(registryError(err), errNotFound) {
			return env.Errorf("deleting %s@%s: %w", r, d.Digest, err)
		}
	}
	return nil
}

// deleteSignatureTags deletes the tags cosign (and the OCI referrers
// fallback) keep next to an image: sha256-<hex>[.sig|.att|.sbom].
func deleteSignatureTags(ctx context.Context, env *Env, repo string) error {
	r, err := name.NewRepository(env.Registry.Repo(repo))
	if err != nil {
		return err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(env.adminAuth()), remote.WithTransport(env.transport())}
	tags, err := listTags(ctx, env.transport(), r.String(), env.adminAuth())
	if err != nil {
		return err
	}
	for _, t := range tags {
		if !strings.HasPrefix(t, "sha256-") {
			continue
		}
		desc, err := remote.Head(r.Tag(t), opts...)
		if err != nil {
			if errors.Is(registryError(err), errNotFound) {
				continue
			}
			return env.Errorf("reading %s:%s: %w", r, t, registryError(err))
		}
		if err := remote.Delete(r.Digest(desc.Digest.String()), opts...); err != nil && !errors.Is(registryError(err), errNotFound) {
			return env.Errorf("deleting %s:%s: %w", r, t, err)
		}
	}
	return nil
}

// resetWorkFile deletes a file the learner wrote in the work dir.
func resetWorkFile(_ context.Context, env *Env, file string) error {
	if file != filepath.Base(file) || strings.HasPrefix(file, ".") || env.WorkDir == "" {
		return env.Errorf("%q is not a file of the work dir", file)
	}
	if err := os.Remove(filepath.Join(env.WorkDir, file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// imageFacts is what a check knows of one image (an index: of every
// Linux image in it), read once per digest: a digest names the same
// content forever.
type imageFacts struct {
	Digest v1.Hash
	// Manifests are the digests that name it: the index's and each
	// image's, and each image's config (the image ID).
	Manifests []v1.Hash
	Contents  labimages.Contents
	Configs   []*v1.ConfigFile
	// DiffIDs are each image's layers, uncompressed.
	DiffIDs [][]v1.Hash
	// Size is the largest image's compressed size: config and layers.
	Size int64
	// Annotations are the manifest's (a build may record its base there).
	Annotations map[string]string
}

// factsCache keeps imageFacts by repository@digest. Live checking asks on
// every change; reading an image's files costs a download of its layers.
var factsCache = struct {
	sync.Mutex
	m map[string]*imageFacts
}{m: map[string]*imageFacts{}}

const factsCacheMax = 256

// factsOf reads what repo@digest holds, from the cache when it can.
func factsOf(ctx context.Context, env *Env, repo string, digest v1.Hash) (*imageFacts, error) {
	key := env.Registry.Repo(repo) + "@" + digest.String()
	factsCache.Lock()
	f, ok := factsCache.m[key]
	factsCache.Unlock()
	if ok {
		return f, nil
	}
	f, err := readFacts(ctx, env, key)
	if err != nil {
		return nil, err
	}
	factsCache.Lock()
	if len(factsCache.m) >= factsCacheMax {
		clear(factsCache.m)
	}
	factsCache.m[key] = f
	factsCache.Unlock()
	return f, nil
}

func readFacts(ctx context.Context, env *Env, ref string) (*imageFacts, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(env.adminAuth()), remote.WithTransport(env.transport())}
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, env.Errorf("reading %s: %w", ref, registryError(err))
	}
	f := &imageFacts{Digest: desc.Digest, Manifests: []v1.Hash{desc.Digest}}
	var imgs []v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		f.Annotations = m.Annotations
		for _, d := range m.Manifests {
			if !d.MediaType.IsImage() || d.Platform != nil && d.Platform.OS != "linux" {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
			f.Manifests = append(f.Manifests, d.Digest)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		f.Annotations = m.Annotations
		imgs = append(imgs, img)
	}
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading the config of %s: %w", ref, err)
		}
		id, err := img.ConfigName()
		if err != nil {
			return nil, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		size := m.Config.Size
		for _, l := range m.Layers {
			size += l.Size
		}
		f.Size = max(f.Size, size)
		f.Manifests = append(f.Manifests, id)
		f.Configs = append(f.Configs, cf)
		f.DiffIDs = append(f.DiffIDs, cf.RootFS.DiffIDs)
		c, err := labimages.Inspect(img)
		if err != nil {
			return nil, fmt.Errorf("reading the files of %s: %w", ref, err)
		}
		// One verdict for every platform: what any of them holds counts.
		if f.Contents.OS == "" {
			f.Contents.OS = c.OS
		}
		f.Contents.Packages = appendNew(f.Contents.Packages, c.Packages...)
		f.Contents.Shells = appendNew(f.Contents.Shells, c.Shells...)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%s holds no Linux image", ref)
	}
	return f, nil
}

func appendNew[T comparable](list []T, items ...T) []T {
	for _, it := range items {
		found := false
		for _, x := range list {
			if x == it {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

// names reports whether the facts' image is the one digest names (the
// index, one of its images, or an image ID).
func (f *imageFacts) names(hex string) bool {
	for _, d := range f.Manifests {
		if d.Hex == hex {
			return true
		}
	}
	return false
}

// tagMemoKey keys a check run's memo of the digests tags name: a run asks
// once per tag (a pod's tag and the step's are often the same), and the
// next run asks again.
type tagMemoKey struct{}

type tagMemo struct {
	sync.Mutex
	m map[string]v1.Hash
	// tr reaches the registry for the whole run, authenticated once (one
	// /v2/ ping, not one per request); nil until first used, or when it
	// cannot be made.
	tr   http.RoundTripper
	made bool
}

// transport is the run's authenticated transport, or nil.
func (m *tagMemo) transport(ctx context.Context, env *Env) http.RoundTripper {
	m.Lock()
	defer m.Unlock()
	if !m.made {
		m.made = true
		if reg, err := name.NewRegistry(env.Registry.Host); err == nil {
			if tr, err := transport.NewWithContext(ctx, reg, env.adminAuth(), env.transport(), nil); err == nil {
				m.tr = tr
			}
		}
	}
	return m.tr
}

// withTagMemo starts a check run's memo of tag digests.
func withTagMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, tagMemoKey{}, &tagMemo{m: map[string]v1.Hash{}})
}

// memoTransport is the check run's shared transport, nil outside a run.
func memoTransport(ctx context.Context, env *Env) http.RoundTripper {
	memo, _ := ctx.Value(tagMemoKey{}).(*tagMemo)
	if memo == nil {
		return nil
	}
	return memo.transport(ctx, env)
}

// tagDigest asks the registry which digest repo:tag names now (once per
// check run, under withTagMemo).
func tagDigest(ctx context.Context, env *Env, repo, tag string) (v1.Hash, error) {
	ref := env.Registry.Repo(repo) + ":" + tag
	memo, _ := ctx.Value(tagMemoKey{}).(*tagMemo)
	if memo != nil {
		memo.Lock()
		d, ok := memo.m[ref]
		memo.Unlock()
		if ok {
			return d, nil
		}
	}
	var desc *v1.Descriptor
	var err error
	if tr := memoTransport(ctx, env); tr != nil {
		desc, err = headManifest(ctx, tr, ref, env.adminAuth())
	}
	// Without a run's transport, or when its token does not cover this
	// repository (a bearer registry scopes tokens), the usual way.
	if desc == nil && (err == nil || errors.Is(err, errUnauthorized)) {
		desc, err = headManifest(ctx, env.transport(), ref, env.adminAuth())
	}
	if err != nil {
		return v1.Hash{}, err
	}
	if memo != nil {
		memo.Lock()
		memo.m[ref] = desc.Digest
		memo.Unlock()
	}
	return desc.Digest, nil
}

// short is a digest as people quote it: sha256: and 12 hex digits.
func short(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.String()
	}
	return h.Algorithm + ":" + h.Hex[:12]
}
