package app

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/testenv"
)

func TestVersionFromBuildInfo(t *testing.T) {
	deps := []*debug.Module{
		{Path: "k8s.io/client-go", Version: "v0.37.2"},
		{Path: "sigs.k8s.io/kind", Version: "v0.33.0"},
	}
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "d297f05aa"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name    string
		bi      *debug.BuildInfo
		stamped string
		want    versionInfo
	}{
		{
			name:    "stamped by make build",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "(devel)"}, Deps: deps, Settings: vcs},
			stamped: "v0.4.0-3-gd297f05",
			want:    versionInfo{Version: "v0.4.0-3-gd297f05", Commit: "d297f05aa", Modified: true, Go: "go1.26.7", Kubernetes: "v1.37.2", ClientGo: "v0.37.2", Kind: "v0.33.0"},
		},
		{
			name: "go install of a tag",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "v0.4.0"}, Deps: deps},
			want: versionInfo{Version: "v0.4.0", Go: "go1.26.7", Kubernetes: "v1.37.2", ClientGo: "v0.37.2", Kind: "v0.33.0"},
		},
		{
			name: "go run",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "(devel)"}, Deps: deps},
			want: versionInfo{Version: "dev", Go: "go1.26.7", Kubernetes: "v1.37.2", ClientGo: "v0.37.2", Kind: "v0.33.0"},
		},
		{
			name: "replaced modules report the replacement",
			bi: &debug.BuildInfo{GoVersion: "go1.26.7", Deps: []*debug.Module{
				{Path: "k8s.io/client-go", Version: "v0.37.2", Replace: &debug.Module{Path: "k8s.io/client-go", Version: "v0.38.0-rc.1"}},
			}},
			want: versionInfo{Version: "dev", Go: "go1.26.7", Kubernetes: "v1.38.0-rc.1", ClientGo: "v0.38.0-rc.1"},
		},
		{
			name: "no build information",
			want: versionInfo{Version: "dev", Go: runtime.Version()},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := newVersionInfo(tc.bi, tc.stamped)
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestKubernetesVersion(t *testing.T) {
	for clientGo, want := range map[string]string{
		"v0.37.2":                            "v1.37.2",
		"v0.37.0-rc.1":                       "v1.37.0-rc.1",
		"v0.0.0-20260101000000-0123456789ab": "", // a pseudo-version is no release
		"v11.0.0+incompatible":               "", // before client-go followed Kubernetes
		"":                                   "",
	} {
		if got := kubernetesVersion(clientGo); got != want {
			t.Errorf("kubernetesVersion(%q) = %q, want %q", clientGo, got, want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		// A test binary records no dependencies: their versions are
		// TestVersionFromBuildInfo's and TestBuiltBinaryVersion's.
		for _, want := range []string{"imagelab ", "\ncommit:     ", "\ngo:         " + runtime.Version(), "\nkubernetes: ", "\nkind:       "} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in:\n%s", args, want, out)
			}
		}
	}
	out, err := run(t, "version", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if v.Version == "" || v.Go != runtime.Version() {
		t.Errorf("version --json: %+v", v)
	}
}

// TestBuiltBinaryVersion builds imagelab as make build does: a test binary
// records no module dependencies, a built one does.
func TestBuiltBinaryVersion(t *testing.T) {
	if testing.Short() && !testenv.Required() {
		t.Skip("builds imagelab: skipped in -short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.SkipOrFail(t, "no go command on PATH")
	}
	bin := filepath.Join(t.TempDir(), "imagelab")
	build := exec.Command(goBin, "build", "-ldflags", "-X github.com/imagelab/imagelab/internal/app.version=v9.9.9-test", "-o", bin, "github.com/imagelab/imagelab/cmd/imagelab")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("imagelab version --json: %v\n%s", err, out)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if v.Version != "v9.9.9-test" || v.ClientGo == "" || v.Kubernetes != kubernetesVersion(v.ClientGo) || v.Kubernetes == "" || v.Kind == "" {
		t.Errorf("imagelab version --json = %s", out)
	}
	text, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("imagelab --version: %v\n%s", err, text)
	}
	if want := "kubernetes: " + v.Kubernetes + " (k8s.io/client-go " + v.ClientGo + ")"; !strings.Contains(string(text), want) {
		t.Errorf("no %q in:\n%s", want, text)
	}
}
