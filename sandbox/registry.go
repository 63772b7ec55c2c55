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
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
}

// Seed puts apps/internal-app:1.0 into the registry: the source image plus
// a layer of imagelab's own, so it is a new image the public never had.
func Seed(ctx context.Context, r Registry, opts SeedOptions) (v1.Hash, error) {
	rt := opts.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	target, err := name.ParseReference(r.Host + "/" + SeedRepository + ":" + SeedTag)
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
	base, err := loadSeedSource(ctx, src, rt)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading the seed image %s: %w (use --seed-image to name a mirror or a local tarball)", src, err)
	}
	img, err := addSeedLayer(base, src == DefaultSeedSource)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(target, img, remote.WithContext(ctx), remote.WithAuth(r.Auth()), remote.WithTransport(rt)); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing %s: %w", target, err)
	}
	return img.Digest()
}

func loadSeedSource(ctx context.Context, src string, rt http.RoundTripper) (v1.Image, error) {
	if fi, err := os.Stat(src); err == nil {
		if fi.IsDir() {
			idx, err := layout.ImageIndexFromPath(src)
			if err != nil {
				return nil, err
			}
			m, err := idx.IndexManifest()
			if err != nil {
				return nil, err
			}
			if len(m.Manifests) == 0 {
				return nil, errors.New("the OCI layout holds no image")
			}
			return idx.Image(m.Manifests[0].Digest)
		}
		return tarball.ImageFromPath(src, nil)
	}
	ref, err := name.ParseReference(src)
	if err != nil {
		return nil, err
	}
	return remote.Image(ref, remote.WithContext(ctx), remote.WithTransport(rt),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
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
