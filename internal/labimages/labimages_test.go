package labimages

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"go.yaml.in/yaml/v3"

	"github.com/imagelab/imagelab/internal/testenv"
)

// seeded starts a registry holding a seed image with a shell (as the
// sandbox's busybox seed has), for arch.
func seeded(t *testing.T, arch string) Target {
	t.Helper()
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	tgt := Target{Host: reg.Host, Auth: &authn.Basic{Username: reg.User, Password: reg.Password}}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []string{"bin/busybox", "bin/sh"} {
		tw.WriteHeader(&tar.Header{Name: f, Mode: 0o755, Size: 4, Typeflag: tar.TypeReg})
		io.WriteString(tw, "ELF?")
	}
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
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Cmd = []string{"httpd", "-f", "-p", "8080", "-h", "/www"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.Host + "/" + Seed)
	if err := remote.Write(ref, img, tgt.options(context.Background())...); err != nil {
		t.Fatal(err)
	}
	return tgt
}

func pullImage(t *testing.T, tgt Target, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, tgt.options(context.Background())...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPushedImages: every set builds on the seed and is pushed; the
// vulnerable images carry the CVE, the clean ones none; the release tag
// moved; the static base has no shell; pushing again changes nothing.
func TestPushedImages(t *testing.T) {
	tgt := seeded(t, "amd64")
	ctx := context.Background()
	digests := map[string]v1.Hash{}
	for _, s := range Sets {
		pushed, err := Push(ctx, tgt, s)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		for _, p := range pushed {
			digests[p.Ref+"#"+p.Image.Build] = p.Digest
		}
		again, err := Push(ctx, tgt, s)
		if err != nil {
			t.Fatal(err)
		}
		for i := range again {
			if again[i].Digest != pushed[i].Digest {
				t.Errorf("%s: not reproducible: %s then %s", again[i].Ref, pushed[i].Digest, again[i].Digest)
			}
		}
	}
	for _, tc := range []struct {
		ref      string
		vulns    []string
		shell    bool
		packages int
	}{
		{ref: "apps/payments:1.4", vulns: []string{"CVE-2022-37434"}, shell: true, packages: 1},
		{ref: "apps/reports:3.1", vulns: []string{"CVE-2022-37434"}, shell: true, packages: 1},
		{ref: "apps/payments:latest", shell: true},
		{ref: "apps/catalog:2.0", shell: true},
		{ref: "apps/ledger:2.3", vulns: []string{"CVE-2022-37434"}, shell: true, packages: 3},
		{ref: "apps/static-base:1.0"},
		{ref: "apps/legacy:1.0", shell: true},
	} {
		c, err := Inspect(pullImage(t, tgt, tgt.Host+"/"+tc.ref))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range c.Vulnerabilities() {
			ids = append(ids, v.ID)
		}
		if !slices.Equal(ids, tc.vulns) {
			t.Errorf("%s: vulnerabilities %v, want %v", tc.ref, ids, tc.vulns)
		}
		if (len(c.Shells) > 0) != tc.shell {
			t.Errorf("%s: shells %v, want a shell: %v", tc.ref, c.Shells, tc.shell)
		}
		if len(c.Packages) != tc.packages {
			t.Errorf("%s: packages %v, want %d", tc.ref, c.Packages, tc.packages)
		}
		if tc.packages > 0 && c.OS != "alpine "+Alpine {
			t.Errorf("%s: OS %q", tc.ref, c.OS)
		}
	}
	rel := tgt.Host + "/apps/release:1.0"
	if digests[rel+"#41"] == digests[rel+"#42"] {
		t.Error("the release rebuild has the same digest as the approved build")
	}
	d, _ := pullImage(t, tgt, rel).Digest()
	if d != digests[rel+"#42"] {
		t.Errorf("apps/release:1.0 is %s, want the rebuild %s", d, digests[rel+"#42"])
	}
	base := pullImage(t, tgt, tgt.Host+"/apps/static-base:1.0")
	cf, _ := base.ConfigFile()
	if cf.Architecture != "amd64" || cf.OS != "linux" || !slices.Equal(cf.Config.Entrypoint, []string{"/app"}) {
		t.Errorf("static base config: %s/%s %v", cf.OS, cf.Architecture, cf.Config.Entrypoint)
	}
	legacy := pullImage(t, tgt, tgt.Host+"/apps/legacy:1.0")
	lcf, _ := legacy.ConfigFile()
	if !slices.Contains(lcf.Config.Env, "API_TOKEN="+LegacySecret) || lcf.Config.User != "" {
		t.Errorf("legacy config: env %v user %q", lcf.Config.Env, lcf.Config.User)
	}
}

// TestNoSeed: without the seed the push says what is missing.
func TestNoSeed(t *testing.T) {
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	_, err := Push(context.Background(), Target{Host: reg.Host, Auth: &authn.Basic{Username: reg.User, Password: reg.Password}}, Sets[0])
	if err == nil || !errors.Is(err, ErrNoSeed) {
		t.Fatalf("err = %v, want ErrNoSeed", err)
	}
}

// TestStaticApp: the program is a valid ELF for both architectures; on
// this machine's it runs, waits, and ends on SIGTERM.
func TestStaticApp(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		b, err := staticApp(arch)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 256 {
			t.Errorf("%s: %d bytes", arch, len(b))
		}
		path := filepath.Join(t.TempDir(), "app-"+arch)
		if err := os.WriteFile(path, b, 0o755); err != nil {
			t.Fatal(err)
		}
		runner := []string{path}
		if arch != runtime.GOARCH {
			q, err := exec.LookPath("qemu-" + map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch] + "-static")
			if err != nil {
				t.Logf("%s: not run (no qemu-user-static)", arch)
				continue
			}
			runner = []string{q, path}
		}
		cmd := exec.Command(runner[0], runner[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("%s: exited at once: %v", arch, err)
		case <-time.After(300 * time.Millisecond):
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: still running after SIGINT", arch)
		}
	}
	if _, err := staticApp("s390x"); err == nil {
		t.Error("an architecture without a program gave one")
	}
}

// TestFixturesAgree: the test Trivy DB (built from testdata/trivy-db)
// holds exactly the advisories the checks know, with their severity.
func TestFixturesAgree(t *testing.T) {
	type fixture struct {
		Bucket string    `yaml:"bucket"`
		Key    string    `yaml:"key"`
		Value  any       `yaml:"value"`
		Pairs  []fixture `yaml:"pairs"`
	}
	read := func(file string) []fixture {
		b, err := os.ReadFile(filepath.Join("testdata", "trivy-db", file))
		if err != nil {
			t.Fatal(err)
		}
		var f []fixture
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	fixed := map[string]string{} // release/pkg/id → fixed version
	for _, rel := range read("alpine.yaml") {
		for _, pkg := range rel.Pairs {
			for _, adv := range pkg.Pairs {
				fixed[rel.Bucket+"/"+pkg.Bucket+"/"+adv.Key] = adv.Value.(map[string]any)["FixedVersion"].(string)
			}
		}
	}
	severity := map[string]string{}
	for _, b := range read("vulnerability.yaml") {
		for _, v := range b.Pairs {
			severity[v.Key] = v.Value.(map[string]any)["Severity"].(string)
		}
	}
	sources := map[string]bool{}
	for _, b := range read("data-source.yaml") {
		for _, s := range b.Pairs {
			sources[s.Key] = true
		}
	}
	if len(fixed) != len(Advisories) {
		t.Errorf("the fixtures hold %d advisories, the checks know %d", len(fixed), len(Advisories))
	}
	for _, a := range Advisories {
		if got := fixed[a.Release+"/"+a.Package+"/"+a.ID]; got != a.Fixed {
			t.Errorf("%s: fixture fixed in %q, checks say %q", a.ID, got, a.Fixed)
		}
		if severity[a.ID] != a.Severity {
			t.Errorf("%s: fixture severity %q, checks say %q", a.ID, severity[a.ID], a.Severity)
		}
		if !sources[a.Release] {
			t.Errorf("%s: no data source for %s", a.ID, a.Release)
		}
	}
}

func TestApkLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{"1.2.12-r1", "1.2.12-r2", true},
		{"1.2.12-r2", "1.2.12-r2", false},
		{"1.2.12-r3", "1.2.12-r2", false},
		{"1.2.11-r9", "1.2.12-r0", true},
		{"1.2.13-r0", "1.2.12-r2", false},
		{"1.2.9-r0", "1.2.10-r0", true},
		{"1.2.12", "1.2.12-r0", true},
	} {
		if got := apkLess(tc.a, tc.b); got != tc.less {
			t.Errorf("apkLess(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}
