package testenv

import (
	"archive/tar"
	"bytes"
	"io"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// SeedTarball writes a small image (one file, no base) as a docker-save
// tarball and returns its path: a seed source that needs no network.
// Where no kubelet runs, nothing executes it.
func SeedTarball(t testing.TB) string {
	t.Helper()
	path, err := WriteSeedTarball(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteSeedTarball writes SeedTarball's image into dir (seed.tar), for a
// harness that has no testing.T (the workshop benchmark).
func WriteSeedTarball(dir string) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := "imagelab test image\n"
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	if _, err := io.WriteString(tw, body); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
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
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Cmd = []string{"/hello"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "seed.tar")
	ref, _ := name.ParseReference("imagelab.local/seed:test")
	return path, tarball.WriteToFile(path, ref, img)
}
