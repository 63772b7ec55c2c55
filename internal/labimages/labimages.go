// Package labimages builds the images the supply-chain lesson works on —
// one whose package database lists a package with a real, published
// CRITICAL vulnerability, clean ones, a rebuilt release, a shell-less base
// and a fat legacy image — with go-containerregistry, on the sandbox's
// seed image (so they run on the nodes' platform), and pushes them to the
// sandbox registry. Building pulls nothing from the internet: the
// vulnerable package is a package database entry, not a binary.
//
// It also reads what an image holds (its OS, its package database, its
// shells), which is how the checks know an image by its digest without
// running a scanner: the image's own files, matched against the advisories
// the lesson's images carry (the same ones the test Trivy DB is built from,
// testdata/trivy-db).
package labimages

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Seed is the image the lesson images are built on: the one the sandbox
// seeds (busybox with a page to serve), for the nodes' platform(s).
const Seed = "apps/internal-app:1.0"

// Target is the registry the images go to, with the sandbox's credentials.
type Target struct {
	Host      string
	Auth      authn.Authenticator
	Transport http.RoundTripper
}

func (t Target) options(ctx context.Context) []remote.Option {
	rt := t.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	auth := t.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt)}
}

// Package is one entry of an image's package database.
type Package struct {
	Name, Version string
	// Origin is the source package (apk's o:), when it differs.
	Origin string
}

// Alpine is the Alpine release the vulnerable images' package database
// says they are.
const Alpine = "3.16.2"

// Image is one image a step works on.
type Image struct {
	Repository, Tag string
	// Version and Build go into its labels; a new build of the same tag is
	// another image (another digest).
	Version, Build string
	About          string
	// Packages are what its Alpine package database lists; none: the image
	// has no package database (as a distroless one).
	Packages []Package
	// Static: built from scratch on the static program (no shell, no
	// package manager), not on the seed.
	Static bool
	// Env and User go into its config.
	Env  []string
	User string
	// History are the build steps its config records (what docker history shows).
	History []string
}

// Ref is repository:tag in the registry at host.
func (im Image) Ref(host string) string { return host + "/" + im.Repository + ":" + im.Tag }

// The packages of the lesson's Alpine 3.16 images. zlib 1.2.12-r1 is the
// one with CVE-2022-37434 (CRITICAL): Alpine fixed it in 1.2.12-r2.
var (
	vulnerableZlib = Package{Name: "zlib", Version: "1.2.12-r1"}
	ledgerPackages = []Package{
		{Name: "musl", Version: "1.2.3-r0"},
		vulnerableZlib,
		{Name: "ca-certificates-bundle", Version: "20220614-r0", Origin: "ca-certificates"},
	}
)

// LegacySecret is the token the legacy image carries in its ENV and
// history: the minimal image must not.
const LegacySecret = "tok_live_9f8e7d6c5b4a"

// Set is the images one step starts from; Pod names the one a pod runs
// by digest, where the step needs one (the image before its tag moved).
type Set struct {
	Name   string
	Images []Image
	// Deployed is the index in Images of the image the set's pod runs by
	// digest; -1 for none.
	Deployed int
}

// Sets are the lesson's image sets, by the name a step's setup uses.
var Sets = []Set{
	{Name: "scan", Deployed: -1, Images: []Image{
		{Repository: "apps/payments", Tag: "1.4", Version: "1.4.0", About: "Alpine 3.16 packages, zlib 1.2.12-r1 among them", Packages: []Package{vulnerableZlib}},
		{Repository: "apps/payments", Tag: "latest", Version: "1.5.0", About: "the next release, rebuilt without a package database"},
		{Repository: "apps/catalog", Tag: "2.0", Version: "2.0.3", About: "no package database"},
		{Repository: "apps/reports", Tag: "3.1", Version: "3.1.2", About: "Alpine 3.16 packages, zlib 1.2.12-r1 among them", Packages: []Package{vulnerableZlib}},
	}},
	{Name: "sign", Deployed: 0, Images: []Image{
		{Repository: "apps/release", Tag: "1.0", Version: "1.0.0", Build: "41", About: "the approved build, deployed by digest"},
		{Repository: "apps/release", Tag: "1.0", Version: "1.0.0", Build: "42", About: "a rebuild pushed to the same tag afterwards, never reviewed"},
	}},
	{Name: "sbom", Deployed: -1, Images: []Image{
		{Repository: "apps/ledger", Tag: "2.3", Version: "2.3.0", About: "Alpine 3.16 packages", Packages: ledgerPackages},
		{Repository: "apps/ledger", Tag: "latest", Version: "2.4.0", About: "the next release, no package database"},
	}},
	{Name: "minimal", Deployed: -1, Images: []Image{
		{Repository: "apps/static-base", Tag: "1.0", Version: "1.0.0", Static: true, About: "no shell, no package manager: one static program (/app) and a nonroot user (65532)"},
		{Repository: "apps/legacy", Tag: "1.0", Version: "0.9.0", About: "runs as root, has a shell, carries a token in its ENV",
			Env:     []string{"API_TOKEN=" + LegacySecret},
			History: []string{"ENV API_TOKEN=" + LegacySecret, `CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]`}},
	}},
}

// FindSet returns the set called name.
func FindSet(setName string) (Set, bool) {
	i := slices.IndexFunc(Sets, func(s Set) bool { return s.Name == setName })
	if i < 0 {
		return Set{}, false
	}
	return Sets[i], true
}

// Pushed is one image as pushed: its reference and digest.
type Pushed struct {
	Image  Image
	Ref    string
	Digest v1.Hash
}

// ErrNoSeed means the registry lacks the seed image the images build on.
var ErrNoSeed = errors.New("the seed image is not in the registry")

// Push builds the set's images on the registry's seed and pushes them in
// order (a later image of the same tag moves the tag). The builds are
// reproducible, so pushing again changes nothing but a moved tag.
func Push(ctx context.Context, t Target, set Set) ([]Pushed, error) {
	opts := t.options(ctx)
	seedRef, err := name.ParseReference(t.Host + "/" + Seed)
	if err != nil {
		return nil, err
	}
	seed, err := remote.Get(seedRef, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v (imagelab up seeds it)", ErrNoSeed, seedRef, err)
	}
	var out []Pushed
	for _, im := range set.Images {
		ref, err := name.ParseReference(im.Ref(t.Host))
		if err != nil {
			return nil, err
		}
		var digest v1.Hash
		if seed.MediaType.IsIndex() {
			idx, err := seed.ImageIndex()
			if err != nil {
				return nil, err
			}
			built, err := buildIndex(idx, im)
			if err != nil {
				return nil, fmt.Errorf("building %s: %w", ref, err)
			}
			if err := remote.WriteIndex(ref, built, opts...); err != nil {
				return nil, fmt.Errorf("pushing %s: %w", ref, err)
			}
			if digest, err = built.Digest(); err != nil {
				return nil, err
			}
		} else {
			base, err := seed.Image()
			if err != nil {
				return nil, err
			}
			built, err := build(base, im)
			if err != nil {
				return nil, fmt.Errorf("building %s: %w", ref, err)
			}
			if err := remote.Write(ref, built, opts...); err != nil {
				return nil, fmt.Errorf("pushing %s: %w", ref, err)
			}
			if digest, err = built.Digest(); err != nil {
				return nil, err
			}
		}
		out = append(out, Pushed{Image: im, Ref: ref.String(), Digest: digest})
	}
	return out, nil
}

// PushAll pushes every set: what imagelab up does.
func PushAll(ctx context.Context, t Target) error {
	for _, s := range Sets {
		if _, err := Push(ctx, t, s); err != nil {
			return fmt.Errorf("the %s images: %w", s.Name, err)
		}
	}
	return nil
}

func buildIndex(idx v1.ImageIndex, im Image) (v1.ImageIndex, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var adds []mutate.IndexAddendum
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil || d.Platform.OS != "linux" {
			continue
		}
		base, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		img, err := build(base, im)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: d.Platform}})
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

// build makes im on base (the seed for one platform).
func build(base v1.Image, im Image) (v1.Image, error) {
	bcf, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	mt, err := base.MediaType()
	if err != nil {
		return nil, err
	}
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		layerType = types.OCILayer
	}
	img := base
	cfg := bcf.Config.DeepCopy()
	var files []file
	what := "imagelab: the app's page"
	if im.Static {
		app, err := staticApp(bcf.Architecture)
		if err != nil {
			return nil, err
		}
		img = empty.Image
		if mt == types.OCIManifestSchema1 {
			img = mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), types.OCIConfigJSON)
		}
		cfg = &v1.Config{Entrypoint: []string{"/app"}, WorkingDir: "/", Env: []string{"PATH=/"}}
		files = staticFiles(app)
		what = "imagelab: /app (a static program), /etc/passwd with nonroot (65532)"
	} else {
		files = appFiles(im, bcf.Architecture)
		if len(im.Packages) > 0 {
			what = fmt.Sprintf("imagelab: Alpine %s package database (%s)", Alpine, packageList(im.Packages))
		}
	}
	layer, err := layerOf(files, layerType)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: what}}); err != nil {
		return nil, err
	}
	for _, h := range im.History {
		if img, err = mutate.Append(img, mutate.Addendum{History: v1.History{CreatedBy: h, EmptyLayer: true}}); err != nil {
			return nil, err
		}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	delete(cfg.Labels, "dev.imagelab.seed")
	cfg.Labels["org.opencontainers.image.title"] = path.Base(im.Repository)
	cfg.Labels["org.opencontainers.image.version"] = im.Version
	cfg.Labels["dev.imagelab.lesson"] = "supply-chain-tools"
	if im.Build != "" {
		cfg.Labels["dev.imagelab.build"] = im.Build
	}
	cfg.Env = append(cfg.Env, im.Env...)
	cfg.User = im.User
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config = *cfg
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = bcf.OS, bcf.Architecture, bcf.Variant, bcf.OSVersion
	// Reproducible: no build time, so the same seed gives the same digests.
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	return mutate.ConfigFile(img, cf)
}

func packageList(ps []Package) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name + " " + p.Version
	}
	return strings.Join(out, ", ")
}

// file is one entry of a layer.
type file struct {
	name string
	body string
	mode int64
	dir  bool
}

func appFiles(im Image, arch string) []file {
	page := fmt.Sprintf("<h1>%s %s</h1>\n", path.Base(im.Repository), im.Version)
	files := []file{{name: "www/", dir: true}, {name: "www/index.html", body: page}}
	if len(im.Packages) == 0 {
		return files
	}
	return append(files,
		file{name: "etc/", dir: true},
		file{name: "etc/alpine-release", body: Alpine + "\n"},
		file{name: "etc/os-release", body: fmt.Sprintf("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=%s\nPRETTY_NAME=\"Alpine Linux v3.16\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n", Alpine)},
		file{name: "lib/", dir: true}, file{name: "lib/apk/", dir: true}, file{name: "lib/apk/db/", dir: true},
		file{name: "lib/apk/db/installed", body: apkInstalled(im.Packages, apkArch(arch))})
}

func staticFiles(app []byte) []file {
	return []file{
		{name: "app", body: string(app), mode: 0o755},
		{name: "etc/", dir: true},
		{name: "etc/passwd", body: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{name: "etc/group", body: "root:x:0:\nnonroot:x:65532:\n"},
		{name: "home/", dir: true}, {name: "home/nonroot/", dir: true, mode: 0o700},
		{name: "tmp/", dir: true, mode: 0o1777},
	}
}

// apkInstalled writes an Alpine package database (/lib/apk/db/installed)
// listing ps, in apk's own format: one block of KEY:value lines each.
func apkInstalled(ps []Package, arch string) string {
	var b strings.Builder
	for _, p := range ps {
		origin := p.Origin
		if origin == "" {
			origin = p.Name
		}
		fmt.Fprintf(&b, "P:%s\nV:%s\nA:%s\nS:0\nI:0\nT:%s\nL:%s\no:%s\nm:Natanael Copa <ncopa@alpinelinux.org>\n\n",
			p.Name, p.Version, arch, p.Name, "MIT", origin)
	}
	return b.String()
}

// apkArch is Alpine's name for a GOARCH.
func apkArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7"
	case "386":
		return "x86"
	}
	return goarch
}

func layerOf(files []file, mt types.MediaType) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if f.mode != 0 {
			h.Mode = f.mode
		}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
			if f.mode == 0 {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithMediaType(mt))
}
