package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imagelab/imagelab/internal/labimages"
)

func init() {
	Register(Definition{
		Name:    "image.sbom",
		Tool:    RoleSBOM,
		Params:  []string{"file", "image", "package"},
		Needs:   NeedsRegistry,
		Watches: []*Subject{WorkFiles, RegistryRepository},
		Resets:  []*Subject{WorkFiles, LabImages},
		Criteria: []Criterion{
			{Name: "parses", Doc: "the file is an SPDX or CycloneDX JSON document", Gate: true},
			{Name: "names-image", Doc: "it describes the image, named by its digest"},
			{Name: "lists-package", Doc: "it lists the package the step points at"},
		},
		Run: checkSBOM,
	})
}

// sbomDoc is what the check reads of an SBOM, whichever its format.
type sbomDoc struct {
	Format string // "CycloneDX 1.6", "SPDX-2.3"
	// Subject is the raw JSON of what the document describes (CycloneDX's
	// metadata.component, SPDX's described packages).
	Subject  []byte
	Packages []sbomPackage
}

type sbomPackage struct{ Name, Version string }

// sbomCache keeps parsed files by path, size and modification time: the
// app checks again every 400 ms while the step is on screen.
var sbomCache = struct {
	sync.Mutex
	m map[string]sbomParsed
}{m: map[string]sbomParsed{}}

type sbomParsed struct {
	doc     *sbomDoc
	finding *Finding
}

// checkSBOM passes when the file is an SBOM (SPDX or CycloneDX JSON) of
// the image — its subject names one of the image's digests — that lists
// the package the step points at. The document is read as data: which
// tool wrote it does not matter.
func checkSBOM(ctx context.Context, env *Env, req Request) (Result, error) {
	ctx = withTagMemo(ctx)
	file, image, pkg := req.Params["file"], req.Params["image"], req.Params["package"]
	if env.WorkDir == "" {
		return Result{}, env.Errorf("this step reads a file from the work dir, and the sandbox has none")
	}
	repo, tag, ok := strings.Cut(image, ":")
	if !ok {
		return Result{}, fmt.Errorf("lesson parameter image %q is not repository:tag", image)
	}
	full := fmt.Sprintf("%s:%s", env.Registry.Repo(repo), tag)
	try := fmt.Sprintf("trivy image --format cyclonedx --output %s %s (or --format spdx-json; syft %s -o cyclonedx-json=%s)", file, full, full, file)

	doc, bad, err := readSBOM(env, env.WorkDir, file)
	if err != nil {
		return Result{}, err
	}
	if bad != nil {
		bad.Try = try
		if bad.Code == "sbom-missing" {
			if others := otherSBOMs(env.WorkDir, file); len(others) > 0 {
				bad.Problem += env.T(" The work dir has %s, which look like SBOMs: the step reads %s.", strings.Join(others, ", "), file)
			}
		}
		return withToolAdvice(env, fail(*bad), RoleSBOM), nil
	}

	digest, err := tagDigest(ctx, env, repo, tag)
	if err != nil {
		return Result{}, env.Errorf("asking the registry for %s: %w", full, err)
	}
	facts, err := factsOf(ctx, env, repo, digest)
	if err != nil {
		return Result{}, err
	}
	var found []Finding
	subjectHexes := hexesIn(doc.Subject)
	named := false
	for _, h := range subjectHexes {
		if facts.names(h) {
			named = true
		}
	}
	if !named {
		found = append(found, notThisImage(ctx, env, subjectHexes, file, full, digest, try))
	}
	switch {
	case len(doc.Packages) == 0:
		found = append(found, Finding{Code: "sbom-no-packages", Criterion: "lists-package",
			Problem:  env.T("%s lists no packages.", file),
			Expected: env.T("the image's packages, %s among them", pkg),
			Try:      env.T("Scan the OS packages too (trivy's --pkg-types os,library is the default): %s", try)})
	case !hasPackage(doc.Packages, pkg):
		names := make([]string, 0, len(doc.Packages))
		for _, p := range doc.Packages {
			names = append(names, p.Name)
		}
		sort.Strings(names)
		found = append(found, Finding{Code: "sbom-package-missing", Criterion: "lists-package",
			Problem:  env.T("%s lists %d package(s), %s not among them: %s.", file, len(doc.Packages), pkg, truncateList(env, names, 8)),
			Expected: env.T("%s in the SBOM's packages", pkg),
			Try:      env.T("%s's package database lists %s; make the SBOM of that image: %s", full, pkg, try)})
	}
	if hasProblem(found) {
		return withToolAdvice(env, fail(found...), RoleSBOM), nil
	}
	return result(env.T("%s is a %s SBOM of %s (%s) listing %d packages, %s among them.", file, doc.Format, full, short(digest), len(doc.Packages), pkg), found...), nil
}

// notThisImage explains an SBOM whose subject does not name the image:
// it names another image imagelab knows (another tag, another lesson
// image), or no digest at all.
func notThisImage(ctx context.Context, env *Env, hexes []string, file, full string, digest v1.Hash, try string) Finding {
	for _, h := range hexes {
		if other := knownImage(ctx, env, h); other != "" {
			return Finding{Code: "sbom-other-image", Criterion: "names-image",
				Problem:  env.T("%s describes %s, not %s (%s).", file, other, full, short(digest)),
				Expected: env.T("an SBOM of %s", full), Try: try}
		}
	}
	if len(hexes) > 0 {
		return Finding{Code: "sbom-other-image", Criterion: "names-image",
			Problem:  env.T("%s describes an image with digest sha256:%s, not %s (%s).", file, hexes[0][:12], full, short(digest)),
			Expected: env.T("an SBOM of %s", full), Try: try}
	}
	return Finding{Code: "sbom-no-digest", Criterion: "names-image",
		Problem:  env.T("%s names no image digest, so nothing says which image it describes (an SBOM of a directory or a local build?).", file),
		Expected: env.T("an SBOM of %s naming %s", full, short(digest)),
		Try:      env.T("Make it from the image in the registry, so its digest is recorded: %s", try)}
}

// knownImage names the lesson image (repository:tag) whose digest or
// image ID is hex, "" when none.
func knownImage(ctx context.Context, env *Env, hex string) string {
	seen := map[string]bool{}
	for _, set := range labimages.Sets {
		for _, im := range set.Images {
			key := im.Repository + ":" + im.Tag
			if seen[key] {
				continue
			}
			seen[key] = true
			d, err := tagDigest(ctx, env, im.Repository, im.Tag)
			if err != nil {
				continue
			}
			if d.Hex == hex {
				return env.Registry.Repo(key)
			}
			if f, err := factsOf(ctx, env, im.Repository, d); err == nil && f.names(hex) {
				return env.Registry.Repo(key)
			}
		}
	}
	return ""
}

var hexPattern = regexp.MustCompile(`[0-9a-f]{64}`)

// hexesIn lists the sha256 hex strings in b, each once ("sha256:…",
// or URL-encoded in a purl as "sha256%3A…").
func hexesIn(b []byte) []string {
	var out []string
	for _, m := range hexPattern.FindAll(b, -1) {
		out = appendNew(out, string(m))
	}
	return out
}

func hasPackage(ps []sbomPackage, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

func truncateList(env *Env, xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + env.T(" and %d more", len(xs)-n)
}

// readSBOM reads and parses the SBOM file, from the cache when the file
// did not change. A file that is not an SBOM is a finding, not an error.
func readSBOM(env *Env, dir, file string) (*sbomDoc, *Finding, error) {
	path := filepath.Join(dir, file)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &Finding{Code: "sbom-missing", Criterion: "parses", Problem: env.T("No %s in your work dir (%s) yet.", file, dir), Expected: env.T("%s: an SPDX or CycloneDX JSON SBOM", file)}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	key := fmt.Sprintf("%s\x00%d\x00%d\x00%s", path, fi.Size(), fi.ModTime().UnixNano(), env.printer().Lang()) // findings are in the learner's language
	sbomCache.Lock()
	p, ok := sbomCache.m[key]
	sbomCache.Unlock()
	if ok {
		return p.doc, copyFinding(p.finding), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	doc, bad := parseSBOM(env, file, data)
	sbomCache.Lock()
	if len(sbomCache.m) >= 64 {
		clear(sbomCache.m)
	}
	sbomCache.m[key] = sbomParsed{doc: doc, finding: bad}
	sbomCache.Unlock()
	return doc, copyFinding(bad), nil
}

func copyFinding(f *Finding) *Finding {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}

// parseSBOM reads an SPDX or CycloneDX JSON document; anything else is
// a finding that says what it is instead.
func parseSBOM(env *Env, file string, data []byte) (*sbomDoc, *Finding) {
	trimmed := bytes.TrimSpace(data)
	expected := env.T("%s: an SPDX or CycloneDX JSON SBOM", file)
	switch {
	case len(trimmed) == 0:
		return nil, &Finding{Code: "sbom-empty", Criterion: "parses", Problem: env.T("%s is empty: did the tool fail?", file), Expected: expected}
	case bytes.HasPrefix(trimmed, []byte("SPDXVersion:")):
		return nil, &Finding{Code: "sbom-not-json", Criterion: "parses",
			Problem: env.T("%s is SPDX tag-value (what --format spdx writes); the step asks for JSON.", file), Expected: expected}
	case trimmed[0] != '{':
		return nil, &Finding{Code: "sbom-not-json", Criterion: "parses",
			Problem: env.T("%s is not JSON (a table printed to the terminal?): it starts %q.", file, firstLine(trimmed)), Expected: expected}
	}
	var head struct {
		BOMFormat     string          `json:"bomFormat"`
		SpecVersion   string          `json:"specVersion"`
		SPDXVersion   string          `json:"spdxVersion"`
		SchemaVersion json.RawMessage `json:"SchemaVersion"`
		Results       json.RawMessage `json:"Results"`
	}
	if err := json.Unmarshal(trimmed, &head); err != nil {
		return nil, &Finding{Code: "sbom-invalid-json", Criterion: "parses",
			Problem: env.T("%s is not valid JSON: %v (cut short?).", file, err), Expected: expected}
	}
	switch {
	case head.BOMFormat == "CycloneDX":
		return parseCycloneDX(env, trimmed, head.SpecVersion)
	case strings.HasPrefix(head.SPDXVersion, "SPDX-"):
		return parseSPDX(env, trimmed, head.SPDXVersion)
	case head.SchemaVersion != nil && head.Results != nil:
		return nil, &Finding{Code: "sbom-scan-report", Criterion: "parses",
			Problem:  env.T("%s is a vulnerability report (trivy's --format json), not an SBOM.", file),
			Expected: expected}
	}
	return nil, &Finding{Code: "sbom-unknown-format", Criterion: "parses",
		Problem: env.T("%s is JSON but neither CycloneDX (bomFormat) nor SPDX (spdxVersion).", file), Expected: expected}
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 60 {
		line = line[:60]
	}
	return string(line)
}

type cdxComponent struct {
	Name       string         `json:"name"`
	Version    string         `json:"version"`
	Type       string         `json:"type"`
	Components []cdxComponent `json:"components"`
}

func parseCycloneDX(env *Env, data []byte, spec string) (*sbomDoc, *Finding) {
	var d struct {
		Metadata struct {
			Component json.RawMessage `json:"component"`
		} `json:"metadata"`
		Components []cdxComponent `json:"components"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, &Finding{Code: "sbom-invalid-json", Criterion: "parses", Problem: env.T("The CycloneDX document does not read: %v", err), Expected: "CycloneDX JSON"}
	}
	doc := &sbomDoc{Format: "CycloneDX " + spec, Subject: d.Metadata.Component}
	var walk func([]cdxComponent)
	walk = func(cs []cdxComponent) {
		for _, c := range cs {
			if c.Type != "operating-system" && c.Name != "" {
				doc.Packages = append(doc.Packages, sbomPackage{Name: c.Name, Version: c.Version})
			}
			walk(c.Components)
		}
	}
	walk(d.Components)
	return doc, nil
}

func parseSPDX(env *Env, data []byte, version string) (*sbomDoc, *Finding) {
	var d struct {
		DocumentDescribes []string          `json:"documentDescribes"`
		Packages          []json.RawMessage `json:"packages"`
		Relationships     []struct {
			Element string `json:"spdxElementId"`
			Type    string `json:"relationshipType"`
			Related string `json:"relatedSpdxElement"`
		} `json:"relationships"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, &Finding{Code: "sbom-invalid-json", Criterion: "parses", Problem: env.T("The SPDX document does not read: %v", err), Expected: "SPDX JSON"}
	}
	described := map[string]bool{}
	for _, id := range d.DocumentDescribes {
		described[id] = true
	}
	for _, r := range d.Relationships {
		if r.Element == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBES" {
			described[r.Related] = true
		}
	}
	doc := &sbomDoc{Format: version}
	var subject [][]byte
	for _, raw := range d.Packages {
		var p struct {
			ID      string `json:"SPDXID"`
			Name    string `json:"name"`
			Version string `json:"versionInfo"`
		}
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		if described[p.ID] {
			subject = append(subject, raw)
			continue
		}
		doc.Packages = append(doc.Packages, sbomPackage{Name: p.Name, Version: p.Version})
	}
	doc.Subject = bytes.Join(subject, []byte("\n"))
	return doc, nil
}

// otherSBOMs lists the work dir's other files that read as SBOMs: the
// learner may have named the file differently.
func otherSBOMs(dir, file string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() || e.Name() == file || info.Size() > 64<<20 || time.Since(info.ModTime()) > 24*time.Hour {
			continue
		}
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if doc, bad := parseSBOM(nil, e.Name(), data); doc != nil && bad == nil {
			out = append(out, e.Name())
		}
	}
	return out
}
