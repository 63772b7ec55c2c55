package node

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// PauseImage is the sandbox image the node's containerd uses. It is built
// locally and imported at Start, never pulled.
const PauseImage = "imagelab.local/pause:1.0"

// AppImage is the name BuildAppImage writes into its tarball; tests push the
// image under their own name (for example localhost:<port>/apps/internal-app:1.0).
const AppImage = "imagelab.local/apps/internal-app:1.0"

// AppPort is the port the app image's HTTP server listens on.
const AppPort = 8080

// pauseSource blocks until SIGINT or SIGTERM, reaping children meanwhile
// (it is PID 1 of the pod's sandbox).
const pauseSource = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
`

// appSource is the "internal app": an HTTP server on :8080.
const appSource = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
		os.Exit(0)
	}()
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "imagelab internal-app 1.0 on %s\n", host)
	})
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// BuildAppImage builds the app image (a static Go HTTP server listening on
// :8080, entrypoint /app) into dir and returns the path of its tarball,
// named AppImage inside.
func BuildAppImage(dir string) (tarballPath string, err error) {
	return buildImage(dir, "app", appSource, AppImage, true)
}

// buildPauseImage builds the sandbox image into dir.
func buildPauseImage(dir string) (string, error) {
	return buildImage(dir, "pause", pauseSource, PauseImage, false)
}

// buildImage compiles src as a static binary /<bin> and packs it as the only
// layer of a one-platform image tarball (docker save format) tagged tag.
func buildImage(dir, bin, src, tag string, exposeApp bool) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(dir, bin+"-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module imagelab.local/"+bin+"\n\ngo 1.21\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(work, "main.go"), []byte(src), 0o644); err != nil {
		return "", err
	}
	goBin, err := goCommand()
	if err != nil {
		return "", err
	}
	out := filepath.Join(work, bin)
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = work
	cmd.Env = append(filteredEnv("GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOWORK", "GOTOOLCHAIN", "GO111MODULE"),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOWORK=off", "GOTOOLCHAIN=local", "GO111MODULE=on", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the %s image: %v: %s", bin, err, strings.TrimSpace(string(b)))
	}
	binary, err := os.ReadFile(out)
	if err != nil {
		return "", err
	}

	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	mtime := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: bin, Mode: 0o755, Size: int64(len(binary)), Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
		return "", err
	}
	if _, err := tw.Write(binary); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	layerBytes := layerTar.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
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
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Created = v1.Time{Time: mtime}
	cf.Config.Entrypoint = []string{"/" + bin}
	cf.Config.Env = []string{"PATH=/"}
	if exposeApp {
		cf.Config.ExposedPorts = map[string]struct{}{fmt.Sprintf("%d/tcp", AppPort): {}}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, bin+"-image.tar")
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return "", fmt.Errorf("writing the %s image tarball: %w", bin, err)
	}
	return path, nil
}

// goCommand finds the go command (tests run under it, so it is there).
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the go command is needed to build the node's images: not on PATH nor in %s", p)
}

// filteredEnv is os.Environ without the named variables.
func filteredEnv(drop ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d+"=") {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// binaryImageDir is where buildBinaryImage puts the binary, as in the
// images registry.k8s.io publishes (/usr/local/bin/kube-apiserver).
const binaryImageDir = "usr/local/bin"

// buildBinaryImage packs the static binary at binPath as
// /usr/local/bin/<base name>, the only layer of a one-platform image
// tarball (docker save format) tagged tag, in dir. Nothing is pulled. The
// layer is streamed from the file and stored without compression: the
// tarball is only imported into the node's containerd, and gzip of a
// 120 MB binary would cost seconds at every Start.
func buildBinaryImage(dir, binPath, tag string) (string, error) {
	fi, err := os.Stat(binPath)
	if err != nil {
		return "", err
	}
	base := filepath.Base(binPath)
	mtime := time.Unix(0, 0)
	opener := func() (io.ReadCloser, error) {
		f, err := os.Open(binPath)
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			defer f.Close()
			tw := tar.NewWriter(pw)
			err := func() error {
				for _, d := range []string{"usr/", "usr/local/", binaryImageDir + "/"} {
					if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mtime}); err != nil {
						return err
					}
				}
				if err := tw.WriteHeader(&tar.Header{Name: binaryImageDir + "/" + base, Mode: 0o755, Size: fi.Size(), Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
					return err
				}
				if _, err := io.Copy(tw, f); err != nil {
					return err
				}
				return tw.Close()
			}()
			pw.CloseWithError(err)
		}()
		return pr, nil
	}
	layer, err := tarball.LayerFromOpener(opener, tarball.WithCompressionLevel(gzip.NoCompression))
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
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Created = v1.Time{Time: mtime}
	cf.Config.Entrypoint = []string{"/" + binaryImageDir + "/" + base}
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, base+"-image.tar")
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return "", fmt.Errorf("writing the %s image tarball: %w", base, err)
	}
	return path, nil
}
