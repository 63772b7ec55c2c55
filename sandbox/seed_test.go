package sandbox

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/imagelab/imagelab/internal/testenv"
)

// archImage is a one-layer image for linux/arch whose file says its arch.
func archImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := "built for " + arch + "\n"
	if err := tw.WriteHeader(&tar.Header{Name: "arch.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tw, body)
	tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// archIndexLayout writes an OCI layout whose index has one image per arch,
// as a multi-platform build exported locally does.
func archIndexLayout(t *testing.T, archs ...string) (string, map[string]v1.Image) {
	t.Helper()
	imgs := map[string]v1.Image{}
	var adds []mutate.IndexAddendum
	for _, a := range archs {
		imgs[a] = archImage(t, a)
		adds = append(adds, mutate.IndexAddendum{Add: imgs[a], Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: a}}})
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, adds...)); err != nil {
		t.Fatal(err)
	}
	return dir, imgs
}

func foreignArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func firstLayer(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers: %v", err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSeedForTheNodesPlatform: the seed is built for the node's
// architecture, not imagelab's: from an index built locally (the host's
// image listed first), the foreign node's image is chosen.
func TestSeedForTheNodesPlatform(t *testing.T) {
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	r := Registry{Host: reg.Host, User: reg.User, Password: reg.Password}
	foreign := foreignArch()
	src, imgs := archIndexLayout(t, runtime.GOARCH, foreign)

	if _, err := Seed(t.Context(), r, SeedOptions{Source: src, Platform: LinuxPlatform(foreign)}); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(r.Host + "/" + SeedRepository + ":" + SeedTag)
	pushed, err := remote.Image(ref, remote.WithAuth(r.Auth()))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := pushed.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != foreign || cf.Config.Labels["dev.imagelab.seed"] != "true" {
		t.Errorf("seeded linux/%s (labels %v), want the node's linux/%s with imagelab's layer", cf.Architecture, cf.Config.Labels, foreign)
	}
	if got, want := firstLayer(t, pushed), firstLayer(t, imgs[foreign]); got != want {
		t.Errorf("the seed's base layer is %s, want the %s image's %s", got, foreign, want)
	}
}

// TestSeedPlatformUnknownPushesAnIndex: when the node's platform is not
// known, every platform is seeded and the node picks its own.
func TestSeedPlatformUnknownPushesAnIndex(t *testing.T) {
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	r := Registry{Host: reg.Host, User: reg.User, Password: reg.Password}
	src, _ := archIndexLayout(t, "amd64", "arm64")
	if _, err := Seed(t.Context(), r, SeedOptions{Source: src}); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(r.Host + "/" + SeedRepository + ":" + SeedTag)
	idx, err := remote.Index(ref, remote.WithAuth(r.Auth()))
	if err != nil {
		t.Fatalf("not an index: %v", err)
	}
	m, _ := idx.IndexManifest()
	var got []string
	for _, d := range m.Manifests {
		img, _ := idx.Image(d.Digest)
		cf, _ := img.ConfigFile()
		got = append(got, d.Platform.String()+"="+cf.Config.Labels["dev.imagelab.seed"])
	}
	if strings.Join(got, " ") != "linux/amd64=true linux/arm64=true" {
		t.Errorf("index holds %v", got)
	}
}

// TestSeedRefusesAnImageForAnotherPlatform: a single-platform source for
// another architecture than the node's is refused with both named, not
// pushed for the kubelet to refuse.
func TestSeedRefusesAnImageForAnotherPlatform(t *testing.T) {
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	r := Registry{Host: reg.Host, User: reg.User, Password: reg.Password}
	tarPath := filepath.Join(t.TempDir(), "seed.tar")
	tag, _ := name.NewTag("imagelab.local/seed:amd64")
	if err := tarball.WriteToFile(tarPath, tag, archImage(t, "amd64")); err != nil {
		t.Fatal(err)
	}
	_, err := Seed(t.Context(), r, SeedOptions{Source: tarPath, Platform: LinuxPlatform("arm64")})
	if err == nil || !strings.Contains(err.Error(), "linux/amd64") || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("err = %v, want a refusal naming both platforms", err)
	}
	layoutDir, _ := archIndexLayout(t, "amd64", "ppc64le")
	_, err = Seed(t.Context(), r, SeedOptions{Source: layoutDir, Platform: LinuxPlatform("arm64")})
	if err == nil || !strings.Contains(err.Error(), "no image for the nodes' platform linux/arm64") {
		t.Errorf("err = %v, want no image for linux/arm64", err)
	}
}

// TestSeedUsesTheLearnersKeychain: the seed's base is read with the
// learner's own credentials (their docker config: a logged-in learner gets
// their own Docker Hub limits), from a registry that refuses anonymous
// pulls; the config file is read, never written.
func TestSeedUsesTheLearnersKeychain(t *testing.T) {
	source := testenv.StartRegistry(t, "hub-user", "hub-s3cret")
	base, _ := name.ParseReference(source.Host + "/library/base:1")
	if err := remote.Write(base, archImage(t, runtime.GOARCH), remote.WithAuth(&authn.Basic{Username: source.User, Password: source.Password})); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(base); err == nil {
		t.Fatal("the source registry lets anonymous pulls through")
	}
	config := t.TempDir()
	body := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, source.Host, base64.StdEncoding.EncodeToString([]byte(source.User+":"+source.Password)))
	must(t, os.WriteFile(filepath.Join(config, "config.json"), []byte(body), 0o600))
	t.Setenv("DOCKER_CONFIG", config)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir()) // no engine to fall back on: the keychain must do it

	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	r := Registry{Host: reg.Host, User: reg.User, Password: reg.Password}
	if _, err := Seed(t.Context(), r, SeedOptions{Source: base.String(), Platform: LinuxPlatform(runtime.GOARCH)}); err != nil {
		t.Fatalf("seed from a registry the learner is logged in to: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(config, "config.json")); string(after) != body {
		t.Errorf("the learner's docker config changed:\n%s", after)
	}
	if entries, _ := os.ReadDir(config); len(entries) != 1 {
		t.Errorf("files added to the learner's docker config dir: %v", entries)
	}
}

// TestSeedFromAnOCIArchive: an offline bundle as an OCI archive (a layout
// in a tar, as podman save --format oci-archive or skopeo write it) is a
// seed source, and the node's platform is chosen from its index.
func TestSeedFromAnOCIArchive(t *testing.T) {
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	r := Registry{Host: reg.Host, User: reg.User, Password: reg.Password}
	foreign := foreignArch()
	layoutDir, imgs := archIndexLayout(t, runtime.GOARCH, foreign)
	archive := filepath.Join(t.TempDir(), "bundle.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.AddFS(os.DirFS(layoutDir)))
	must(t, tw.Close())
	must(t, os.WriteFile(archive, buf.Bytes(), 0o600))

	if _, err := Seed(t.Context(), r, SeedOptions{Source: archive, Platform: LinuxPlatform(foreign)}); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(r.Host + "/" + SeedRepository + ":" + SeedTag)
	pushed, err := remote.Image(ref, remote.WithAuth(r.Auth()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := firstLayer(t, pushed), firstLayer(t, imgs[foreign]); got != want {
		t.Errorf("seeded from layer %s, want the %s image's %s", got, foreign, want)
	}
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "imagelab-seed-oci-*"))
	if len(left) > 0 {
		t.Errorf("unpacked archives left behind: %v", left)
	}
}
