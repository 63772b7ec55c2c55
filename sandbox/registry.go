package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DefaultSeedSource is the small public image the seeded app is built on.
const DefaultSeedSource = "docker.io/library/busybox:1.37"

// defaultSeedCmd keeps a busybox-based seed running (and serving a page),
// so a pod from it stays Running.
var defaultSeedCmd = []string{"httpd", "-f", "-p", "8080", "-h", "/www"}

// Auth returns the registry's credentials for go-containerregistry.
func (r Registry) Auth() authn.Authenticator {
	return &authn.Basic{Username: r.User, Password: r.Password}
}

// ErrRegistryAuth means the registry refused the credentials.
var ErrRegistryAuth = errors.New("the registry refused the credentials")

// PingRegistry checks that the registry answers and accepts the credentials.
func PingRegistry(ctx context.Context, r Registry, rt http.RoundTripper) error {
	reg, err := name.NewRegistry(r.Host)
	if err != nil {
		return fmt.Errorf("registry %q: %w", r.Host, err)
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	tr, err := transport.NewWithContext(ctx, reg, r.Auth(), rt, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		// A registry with token auth refuses the password at the token
		// exchange, before /v2/ is asked.
		var terr *transport.Error
		if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) || strings.Contains(err.Error(), "UNAUTHORIZED") {
			return fmt.Errorf("%w: %s as %s (%v)", ErrRegistryAuth, r.Host, r.User, err)
		}
		return fmt.Errorf("registry %s does not answer: %w", r.Host, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("registry %s does not answer: %w", r.Host, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %s as %s (HTTP %d)", ErrRegistryAuth, r.Host, r.User, resp.StatusCode)
	}
	return fmt.Errorf("registry %s answered /v2/ with HTTP %d", r.Host, resp.StatusCode)
}

// SeedOptions say where the seeded image comes from.
type SeedOptions struct {
	// Source is an image reference, a docker-save/OCI tarball path, or an
	// OCI layout directory. Empty means DefaultSeedSource.
	Source string
	// Transport reaches the sandbox registry (and a remote source).
	Transport http.RoundTripper
	// Force pushes again even when the image is there.
	Force bool
	// Platform is the nodes' platform: the seed is built for it, whatever
	// imagelab itself was built for (an amd64 imagelab under Rosetta, or a
	// remote engine, serves arm64 nodes). Nil when unknown: the seed is
	// then an index of every Linux platform the source has, and each node
	// pulls its own.
	Platform *v1.Platform

	// engine pulls the source when it can't be read directly (the kind
	// sandbox's runtime; else whichever answers).
	engine *containerRuntime
	// note reports how the source was read, when not directly.
	note func(string)
}

// Seed puts apps/internal-app:1.0 into the registry: the source image plus
// a layer of imagelab's own, so it is a new image the public never had.
func Seed(ctx context.Context, r Registry, opts SeedOptions) (v1.Hash, error) {
	rt := opts.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	target, err := name.ParseReference(r.Repo(SeedRepository) + ":" + SeedTag)
	if err != nil {
		return v1.Hash{}, err
	}
	if !opts.Force {
		if desc, err := remote.Head(target, remote.WithContext(ctx), remote.WithAuth(r.Auth()), remote.WithTransport(rt)); err == nil {
			return desc.Digest, nil
		}
	}
	src := opts.Source
	if src == "" {
		src = DefaultSeedSource
	}
	base, cleanup, err := loadSeedSource(ctx, src, rt, opts)
	defer cleanup()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading the seed image %s: %w (use --seed-image to name a mirror or a local tarball)", src, err)
	}
	push := []remote.Option{remote.WithContext(ctx), remote.WithAuth(r.Auth()), remote.WithTransport(rt)}
	setCmd := src == DefaultSeedSource
	if base.index != nil {
		idx, err := seedIndex(base.index, setCmd)
		if err != nil {
			return v1.Hash{}, err
		}
		if err := remote.WriteIndex(target, idx, push...); err != nil {
			return v1.Hash{}, fmt.Errorf("pushing %s: %w", target, err)
		}
		return idx.Digest()
	}
	if err := checkPlatform(base.image, opts.Platform); err != nil {
		return v1.Hash{}, fmt.Errorf("the seed image %s: %w", src, err)
	}
	img, err := addSeedLayer(base.image, setCmd)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(target, img, push...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing %s: %w", target, err)
	}
	return img.Digest()
}

// seedBase is what the seed is built on: one image, or, when the nodes'
// platform is unknown, an index to seed every platform of.
type seedBase struct {
	image v1.Image
	index v1.ImageIndex
}

// seedPresent tells whether the registry has the seed image.
func seedPresent(ctx context.Context, r Registry, rt http.RoundTripper) bool {
	if rt == nil {
		rt = http.DefaultTransport
	}
	target, err := name.ParseReference(r.Repo(SeedRepository) + ":" + SeedTag)
	if err != nil {
		return false
	}
	_, err = remote.Head(target, remote.WithContext(ctx), remote.WithAuth(r.Auth()), remote.WithTransport(rt))
	return err == nil
}

// loadSeedSource reads the seed's base: a path (a docker-save or OCI
// tarball, an OCI layout dir: the offline bundle), or a reference read with
// the learner's own credentials (authn.DefaultKeychain reads, never
// writes, their docker config and credential helpers: a logged-in learner
// gets their own Docker Hub limits). When the registry can't be read that
// way, the engine pulls it: its mirrors, its proxy, its login. cleanup
// removes what that left on disk, once the seed is pushed.
func loadSeedSource(ctx context.Context, src string, rt http.RoundTripper, opts SeedOptions) (base seedBase, cleanup func(), err error) {
	cleanup = func() {}
	if fi, err := os.Stat(src); err == nil {
		if fi.IsDir() {
			idx, err := layout.ImageIndexFromPath(src)
			if err != nil {
				return seedBase{}, cleanup, err
			}
			base, err := fromIndex(idx, opts.Platform)
			return base, cleanup, err
		}
		// An OCI archive (podman save --format oci-archive, skopeo, and
		// docker save since Docker 25, beside its manifest.json) is an OCI
		// layout in a tar: read as one, the node's platform can be chosen.
		dir, err := unpackOCIArchive(src)
		if err != nil {
			return seedBase{}, cleanup, err
		}
		if dir != "" {
			cleanup = func() { os.RemoveAll(dir) }
			idx, lerr := layout.ImageIndexFromPath(dir)
			if lerr == nil {
				base, lerr = fromIndex(idx, opts.Platform)
			}
			if lerr == nil {
				return base, cleanup, nil
			}
			if _, err := tarball.ImageFromPath(src, nil); err != nil {
				return seedBase{}, cleanup, lerr // not a docker-save tarball either
			}
		}
		img, err := tarball.ImageFromPath(src, nil)
		return seedBase{image: img}, cleanup, err
	}
	ref, err := name.ParseReference(src)
	if err != nil {
		return seedBase{}, cleanup, err
	}
	base, err = remoteSeedSource(ctx, ref, rt, opts.Platform)
	if err == nil || ctx.Err() != nil {
		return base, cleanup, err
	}
	base, cleanup, eerr := engineSeedSource(ctx, src, opts)
	if eerr != nil {
		return seedBase{}, cleanup, fmt.Errorf("%w; pulled by the engine: %v", err, eerr)
	}
	if opts.note != nil {
		opts.note(fmt.Sprintf("%s could not be read directly (%v); the engine pulled it (its mirrors and proxy)", src, err))
	}
	return base, cleanup, nil
}

// unpackOCIArchive unpacks a tar holding an OCI layout (index.json,
// oci-layout, blobs/) into a temporary dir and returns it; "" when the tar
// is no OCI archive. Only the layout's own files are written.
func unpackOCIArchive(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	isLayout := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil // not a tar: tarball.ImageFromPath says what it is
		}
		isLayout[strings.TrimPrefix(h.Name, "./")] = true
	}
	if !isLayout["index.json"] || !isLayout["oci-layout"] {
		return "", nil
	}
	dir, err := os.MkdirTemp("", "imagelab-seed-oci-")
	if err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	tr = tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir, nil
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) ||
			(name != "index.json" && name != "oci-layout" && !strings.HasPrefix(name, "blobs/")) {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
}

func remoteSeedSource(ctx context.Context, ref name.Reference, rt http.RoundTripper, p *v1.Platform) (seedBase, error) {
	desc, err := remote.Get(ref, remote.WithContext(ctx), remote.WithTransport(rt), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return seedBase{}, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return seedBase{}, err
		}
		return fromIndex(idx, p)
	}
	img, err := desc.Image()
	return seedBase{image: img}, err
}

// engineSeedSource has the engine pull src (for the nodes' platform) and
// save it: an image it already has is used even when the pull fails
// (offline), and checked for the platform like any other.
func engineSeedSource(ctx context.Context, src string, opts SeedOptions) (seedBase, func(), error) {
	cleanup := func() {}
	rt := opts.engine
	if rt == nil {
		found, err := chooseRuntime(ctx, "", nil)
		if err != nil {
			return seedBase{}, cleanup, err
		}
		rt = &found
	}
	image := rt.imageName(ctx, src)
	pull := []string{"pull", "--quiet"}
	if opts.Platform != nil {
		pull = append(pull, "--platform", opts.Platform.String())
	}
	_, pullErr := rt.run(ctx, nil, append(pull, image)...)
	dir, err := os.MkdirTemp("", "imagelab-seed-")
	if err != nil {
		return seedBase{}, cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	tarPath := filepath.Join(dir, "seed.tar")
	save := []string{"save", "-o", tarPath, image}
	if rt.bin == "podman" {
		save = []string{"save", "--format", "docker-archive", "-o", tarPath, image}
	}
	if _, err := rt.run(ctx, nil, save...); err != nil {
		if pullErr != nil {
			return seedBase{}, cleanup, pullErr
		}
		return seedBase{}, cleanup, err
	}
	img, err := tarball.ImageFromPath(tarPath, nil)
	return seedBase{image: img}, cleanup, err
}

// fromIndex picks the image for platform p from an index (an OCI layout's
// too), or keeps the index when p is unknown.
func fromIndex(idx v1.ImageIndex, p *v1.Platform) (seedBase, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return seedBase{}, err
	}
	if len(m.Manifests) == 0 {
		return seedBase{}, errors.New("the index holds no image")
	}
	if len(m.Manifests) == 1 {
		// An OCI layout's index.json often points at one image, or at the
		// image's own index (buildx, skopeo): look through it.
		d := m.Manifests[0]
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return seedBase{}, err
			}
			return fromIndex(child, p)
		}
		if d.Platform == nil {
			img, err := idx.Image(d.Digest)
			return seedBase{image: img}, err
		}
	}
	if p == nil {
		return seedBase{index: idx}, nil
	}
	var have []string
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		dp := d.Platform
		if dp == nil {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return seedBase{}, err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return seedBase{}, err
			}
			dp = cf.Platform()
		}
		if dp == nil {
			continue
		}
		if dp.Satisfies(*p) {
			img, err := idx.Image(d.Digest)
			return seedBase{image: img}, err
		}
		have = append(have, dp.String())
	}
	return seedBase{}, fmt.Errorf("no image for the nodes' platform %s in it (it has %s): name one for %s, or an index that has it", p, strings.Join(have, ", "), p)
}

// checkPlatform refuses an image built for another platform than the
// nodes': the kubelet would refuse it ("no match for platform"), or the
// container would fail with "exec format error".
func checkPlatform(img v1.Image, p *v1.Platform) error {
	if p == nil {
		return nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	have := cf.Platform()
	if have == nil || have.Architecture == "" {
		return nil // an image without a platform runs anywhere it can
	}
	if !have.Satisfies(v1.Platform{OS: p.OS, Architecture: p.Architecture}) {
		return fmt.Errorf("it is built for %s, the nodes run %s: name one for %s (or an index) with --seed-image", have, p, p)
	}
	return nil
}

// seedIndex adds imagelab's layer to each Linux image of idx: a seed for
// every platform the source has, when the nodes' platform is unknown.
func seedIndex(idx v1.ImageIndex, setCmd bool) (v1.ImageIndex, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var adds []mutate.IndexAddendum
	for _, d := range m.Manifests {
		// Attestations are unknown/unknown: not an image a node runs.
		if !d.MediaType.IsImage() || d.Platform == nil || d.Platform.OS != "linux" {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		seeded, err := addSeedLayer(img, setCmd)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: seeded, Descriptor: v1.Descriptor{Platform: d.Platform}})
	}
	if len(adds) == 0 {
		return nil, errors.New("the seed index has no Linux image")
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, err
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, mt), adds...), nil
}

// LinuxPlatform is the platform of a Linux node of architecture arch (as
// GOARCH names it); nil when arch is unknown.
func LinuxPlatform(arch string) *v1.Platform {
	if arch == "" {
		return nil
	}
	return &v1.Platform{OS: "linux", Architecture: arch}
}

// seedPage is the layer imagelab adds: a page the app serves, which also
// makes the seeded image's digest unique to imagelab.
const seedPage = "<h1>internal-app</h1><p>Pulled from the sandbox's private registry.</p>\n"

func addSeedLayer(base v1.Image, setCmd bool) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		body string
		dir  bool
	}{{name: "www/", dir: true}, {name: "www/index.html", body: seedPage}} {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if e.dir {
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := cf.Config.DeepCopy()
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["org.opencontainers.image.title"] = "internal-app"
	cfg.Labels["dev.imagelab.seed"] = "true"
	if setCmd {
		cfg.Cmd = defaultSeedCmd
	}
	return mutate.Config(img, *cfg)
}
