// Command registryimage writes docker-save tarballs of the images imagelab's
// Docker-based tests run, from binaries built on this machine, so nothing is
// ever pulled from a registry:
//
//   - a registry:3 equivalent: distribution's registry binary, the
//     config.yml the official image ships at /etc/distribution/config.yml,
//     entrypoint "registry serve /etc/distribution/config.yml";
//   - a seed app: a static HTTP server on :8080 serving /www.
//
// The images are reproducible (fixed timestamps, one layer each), so the
// same binaries always give the same image ID and callers can skip loading
// an image the engine already has. hack/registry-image.sh drives it.
//
// Usage:
//
//	registryimage -registry-bin BIN -seed-bin BIN -out DIR
//
// It writes DIR/registry.tar and DIR/seed-app.tar (rewritten only when the
// image changed), each with a .id file (image ID, manifest digest, tag), and
// prints one line per image: tag, image ID, path.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// registryVersion is the distribution version go.mod pins; it labels the
// image (the binary's own version comes from -ldflags in the script).
const registryVersion = "3.1.2"

// registryConfig is the official registry:3 image's
// /etc/distribution/config.yml, with deletes enabled: filesystem storage at
// /var/lib/registry, HTTP on :5000. REGISTRY_* variables override any key
// (REGISTRY_AUTH=htpasswd, REGISTRY_AUTH_HTPASSWD_PATH, …): the binary does
// that itself.
const registryConfig = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  tag:
    concurrencylimit: 8
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`

// seedPage is the seed app's default page; imagelab's seeding adds a layer
// that replaces it.
const seedPage = "<h1>seed-app</h1><p>imagelab's locally built test image.</p>\n"

// pathEnv is the PATH the official images set; "registry" in the entrypoint
// is found through it.
const pathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is every timestamp in the images, so builds are reproducible.
var epoch = time.Unix(0, 0).UTC()

type file struct {
	name string // path in the image, no leading slash; a trailing slash makes a directory
	mode int64
	body []byte
}

type spec struct {
	tag    string
	out    string
	files  []file
	config v1.Config
}

func main() {
	registryBin := flag.String("registry-bin", "", "the registry binary (static, linux)")
	seedBin := flag.String("seed-bin", "", "the seed app binary (static, linux)")
	out := flag.String("out", "", "directory for registry.tar and seed-app.tar")
	registryTag := flag.String("registry-tag", "imagelab.local/registry:3", "tag of the registry image")
	seedTag := flag.String("seed-tag", "imagelab.local/seed-app:1", "tag of the seed app image")
	flag.Parse()
	if *registryBin == "" || *seedBin == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*registryBin, *seedBin, *out, *registryTag, *seedTag); err != nil {
		fmt.Fprintln(os.Stderr, "registryimage:", err)
		os.Exit(1)
	}
}

func run(registryBin, seedBin, out, registryTag, seedTag string) error {
	reg, err := os.ReadFile(registryBin)
	if err != nil {
		return err
	}
	seed, err := os.ReadFile(seedBin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	specs := []spec{{
		tag: registryTag,
		out: filepath.Join(out, "registry.tar"),
		files: []file{
			{name: "bin/", mode: 0o755},
			{name: "bin/registry", mode: 0o755, body: reg},
			{name: "etc/", mode: 0o755},
			{name: "etc/distribution/", mode: 0o755},
			{name: "etc/distribution/config.yml", mode: 0o644, body: []byte(registryConfig)},
			{name: "tmp/", mode: 0o1777},
			{name: "var/", mode: 0o755},
			{name: "var/lib/", mode: 0o755},
			{name: "var/lib/registry/", mode: 0o755},
		},
		config: v1.Config{
			Entrypoint: []string{"registry"},
			Cmd:        []string{"serve", "/etc/distribution/config.yml"},
			// distribution's own image turns tracing off: without it the
			// registry tries to export traces to localhost:4318.
			Env:          []string{pathEnv, "OTEL_TRACES_EXPORTER=none"},
			ExposedPorts: map[string]struct{}{"5000/tcp": {}},
			Volumes:      map[string]struct{}{"/var/lib/registry": {}},
			Labels: map[string]string{
				"org.opencontainers.image.title":   "registry",
				"org.opencontainers.image.version": registryVersion,
				"org.opencontainers.image.source":  "https://github.com/distribution/distribution",
				"dev.imagelab.local-build":         "true",
			},
		},
	}, {
		tag: seedTag,
		out: filepath.Join(out, "seed-app.tar"),
		files: []file{
			{name: "tmp/", mode: 0o1777},
			{name: "usr/", mode: 0o755},
			{name: "usr/local/", mode: 0o755},
			{name: "usr/local/bin/", mode: 0o755},
			{name: "usr/local/bin/seed-app", mode: 0o755, body: seed},
			{name: "www/", mode: 0o755},
			{name: "www/index.html", mode: 0o644, body: []byte(seedPage)},
		},
		config: v1.Config{
			Entrypoint:   []string{"/usr/local/bin/seed-app"},
			Env:          []string{pathEnv},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			Labels: map[string]string{
				"org.opencontainers.image.title": "seed-app",
				"dev.imagelab.local-build":       "true",
			},
		},
	}}
	for _, s := range specs {
		id, err := write(s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.tag, err)
		}
		fmt.Printf("%s\t%s\t%s\n", s.tag, id, s.out)
	}
	return nil
}

// write builds the image and writes its tarball unless the one there (per
// its .id sidecar) is the same image. It returns the image ID (the config
// digest, which is what `docker images --no-trunc` shows).
func write(s spec) (string, error) {
	layerTar, err := tarOf(s.files)
	if err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = s.config
	cf.History = []v1.History{{Created: v1.Time{Time: epoch}, CreatedBy: "hack/tools/registryimage", Comment: "built locally, nothing pulled"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", err
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	// The .id sidecar holds the image ID, the manifest digest (the ID an
	// engine with the containerd image store shows) and the tag: the same
	// ID and tag mean the same tarball.
	idFile := s.out + ".id"
	if prev, err := os.ReadFile(idFile); err == nil {
		lines := strings.Split(string(prev), "\n")
		if len(lines) >= 3 && lines[0] == id.String() && lines[2] == s.tag {
			if _, err := os.Stat(s.out); err == nil {
				return id.String(), nil
			}
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	tag, err := name.NewTag(s.tag)
	if err != nil {
		return "", err
	}
	// Write next to the target and rename, so a reader never sees half a
	// tarball and an interrupted run leaves the old one.
	tmp := s.out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, s.out); err != nil {
		return "", err
	}
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"+digest.String()+"\n"+s.tag+"\n"), 0o644); err != nil {
		return "", err
	}
	return id.String(), nil
}

// tarOf makes a layer: the files in order, root-owned, at the epoch.
func tarOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch}
		if strings.HasSuffix(f.name, "/") {
			if len(f.body) > 0 {
				return nil, errors.New(f.name + ": a directory with a body")
			}
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
