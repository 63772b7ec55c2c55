// Package testenv gives tests real parts: a kube-apiserver and etcd
// (controller-runtime's envtest), a password-protected registry
// (distribution, in-process), and the real kubectl. The binaries come from
// hack/testbin.sh, cached outside the repository.
//
// Integration tests call Require: under `go test` alone they skip with a
// message naming the missing binaries; under `make test`
// (IMAGELAB_INTEGRATION=1) a missing binary fails the test instead.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KubernetesVersion is the version of the binaries hack/testbin.sh provides.
const KubernetesVersion = "v1.37.2"

// RequiredEnv, set to 1, turns a skipped integration test into a failure.
const RequiredEnv = "IMAGELAB_INTEGRATION"

// BinDir is where the test binaries are: $KUBEBUILDER_ASSETS, else
// $IMAGELAB_TESTBIN, else ~/.cache/imagelab/testbin/k8s-<version>.
func BinDir() string {
	for _, env := range []string{"KUBEBUILDER_ASSETS", "IMAGELAB_TESTBIN"} {
		if d := os.Getenv(env); d != "" {
			return d
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = filepath.Join(os.TempDir(), "imagelab-cache")
	}
	return filepath.Join(cache, "imagelab", "testbin", "k8s-"+KubernetesVersion)
}

// Bin returns the path of a test binary.
func Bin(name string) string { return filepath.Join(BinDir(), name) }

// missing lists the binaries that are not there.
func missing(names ...string) []string {
	var out []string
	for _, n := range names {
		if fi, err := os.Stat(Bin(n)); err != nil || fi.IsDir() {
			out = append(out, n)
		}
	}
	return out
}

// Required reports whether integration tests must run (make test).
func Required() bool { return os.Getenv(RequiredEnv) == "1" }

// SkipOrFail skips with why, or fails when integration tests are required:
// the one rule every integration test's precondition follows.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("integration test cannot run: %s", why)
	}
	t.Skipf("integration test skipped: %s (make test runs it)", why)
}

// Require stops the test unless the named test binaries (default: the API
// server's, etcd's and kubectl) are present.
func Require(t testing.TB, names ...string) {
	t.Helper()
	if testing.Short() && !Required() {
		t.Skip("integration test skipped in -short mode")
	}
	if len(names) == 0 {
		names = []string{"kube-apiserver", "etcd", "kubectl"}
	}
	if m := missing(names...); len(m) > 0 {
		SkipOrFail(t, fmt.Sprintf("%s not in %s; run hack/testbin.sh", strings.Join(m, ", "), BinDir()))
	}
}

// RequireDocker stops the test unless a Docker engine answers.
func RequireDocker(t testing.TB) {
	t.Helper()
	Require(t)
	if _, err := exec.LookPath("docker"); err != nil {
		SkipOrFail(t, "no docker CLI on PATH; run hack/docker.sh")
		return
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		SkipOrFail(t, fmt.Sprintf("no Docker engine answers (%s); run hack/docker.sh start", strings.TrimSpace(string(out))))
	}
}
