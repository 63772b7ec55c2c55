package labimages

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Advisory is one published vulnerability of a package of a release, as
// a vulnerability database lists it.
type Advisory struct {
	ID string
	// Release is the data source's bucket ("alpine 3.16").
	Release string
	Package string
	// Fixed is the first version without it; every older one has it.
	Fixed    string
	Severity string
	Title    string
}

// Advisories are the vulnerabilities the lesson's images carry: the same
// entries as the test Trivy DB's fixtures (testdata/trivy-db), which a
// test keeps in step, and as Alpine's secdb and Trivy's real DB publish
// them.
var Advisories = []Advisory{
	{ID: "CVE-2022-37434", Release: "alpine 3.16", Package: "zlib", Fixed: "1.2.12-r2", Severity: "CRITICAL",
		Title: "zlib: heap-based buffer over-read and overflow in inflate() in inflate.c via a large gzip header extra field"},
}

// Contents is what an image holds, as the checks need it.
type Contents struct {
	// OS is the release its files name ("alpine 3.16.2"); "" when none.
	OS string
	// Packages are its package database's entries (Alpine's).
	Packages []Package
	// Shells are the shells it has (bin/sh…), as paths without the leading slash.
	Shells []string
}

// Vulnerability is an advisory that applies to a package of an image.
type Vulnerability struct {
	Advisory
	Installed string
}

// shellPaths are where images keep a shell (or busybox, which is one).
var shellPaths = []string{"bin/sh", "bin/bash", "bin/ash", "bin/dash", "bin/zsh", "bin/busybox",
	"usr/bin/sh", "usr/bin/bash", "usr/bin/dash", "usr/bin/zsh", "usr/bin/busybox", "usr/local/bin/sh"}

// Inspect reads an image's files (every layer, whiteouts applied) for its
// OS release, its package database and its shells.
func Inspect(img v1.Image) (*Contents, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	c := &Contents{}
	var alpine, osRelease, installed string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's files: %w", err)
		}
		p := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		switch {
		case slices.Contains(shellPaths, p) && h.Typeflag != tar.TypeDir:
			c.Shells = append(c.Shells, p)
		case p == "etc/alpine-release":
			alpine = readSmall(tr)
		case p == "etc/os-release" || p == "usr/lib/os-release" && osRelease == "":
			osRelease = readSmall(tr)
		case p == "lib/apk/db/installed":
			b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return nil, err
			}
			installed = string(b)
		}
	}
	switch {
	case alpine != "":
		c.OS = "alpine " + strings.TrimSpace(alpine)
	case osRelease != "":
		kv := map[string]string{}
		for _, l := range strings.Split(osRelease, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				kv[k] = strings.Trim(v, `"`)
			}
		}
		if kv["ID"] != "" {
			c.OS = strings.TrimSpace(kv["ID"] + " " + kv["VERSION_ID"])
		}
	}
	c.Packages = parseApk(installed)
	slices.Sort(c.Shells)
	return c, nil
}

func readSmall(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	return string(b)
}

// parseApk reads apk's installed database: blocks of KEY:value lines.
func parseApk(db string) []Package {
	var out []Package
	var cur Package
	flush := func() {
		if cur.Name != "" {
			out = append(out, cur)
		}
		cur = Package{}
	}
	sc := bufio.NewScanner(strings.NewReader(db))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "P":
			cur.Name = v
		case "V":
			cur.Version = v
		case "o":
			if v != cur.Name {
				cur.Origin = v
			}
		}
	}
	flush()
	return out
}

// Vulnerabilities are the advisories that apply to c's packages: same
// release (major.minor), same package (or its origin), a version older
// than the fix.
func (c *Contents) Vulnerabilities() []Vulnerability {
	release := releaseBucket(c.OS)
	var out []Vulnerability
	for _, p := range c.Packages {
		for _, a := range Advisories {
			if a.Release == release && (a.Package == p.Name || a.Package == p.Origin) && apkLess(p.Version, a.Fixed) {
				out = append(out, Vulnerability{Advisory: a, Installed: p.Version})
			}
		}
	}
	return out
}

// Package returns the package called pkgName, if the database lists it.
func (c *Contents) Package(pkgName string) (Package, bool) {
	i := slices.IndexFunc(c.Packages, func(p Package) bool { return p.Name == pkgName })
	if i < 0 {
		return Package{}, false
	}
	return c.Packages[i], true
}

// releaseBucket is a vulnerability database's name for an OS release:
// "alpine 3.16.2" → "alpine 3.16".
func releaseBucket(osName string) string {
	id, ver, ok := strings.Cut(osName, " ")
	if !ok {
		return ""
	}
	parts := strings.Split(ver, ".")
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return id + " " + strings.Join(parts, ".")
}

// apkLess compares two apk versions (1.2.12-r1 < 1.2.12-r2 < 1.2.13-r0):
// runs of digits compare as numbers, anything else as text, and the -rN
// release last. Enough for the versions the lesson's advisories name;
// apk's _alpha/_rc suffixes (which sort before a release) are not used.
func apkLess(a, b string) bool {
	ta, tb := versionTokens(a), versionTokens(b)
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if ta[i] == tb[i] {
			continue
		}
		na, ea := strconv.Atoi(ta[i])
		nb, eb := strconv.Atoi(tb[i])
		if ea == nil && eb == nil {
			return na < nb
		}
		return ta[i] < tb[i]
	}
	return len(ta) < len(tb)
}

func versionTokens(v string) []string {
	var out []string
	start := 0
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 1; i <= len(v); i++ {
		if i == len(v) || isDigit(v[i]) != isDigit(v[i-1]) {
			out = append(out, v[start:i])
			start = i
		}
	}
	return out
}
