package check

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/imagelab/imagelab/internal/labimages"
	"github.com/imagelab/imagelab/internal/testenv"
)

// countingTransport counts the blob downloads a check makes.
type countingTransport struct {
	blobs atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
		c.blobs.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// labEnv is a registry holding a seed with a shell (as the sandbox's
// busybox seed) and the lesson's images built on it, a fake cluster and
// a work dir.
func labEnv(t testing.TB) (*Env, string) { return labEnvUnder(t, "") }

// labEnvUnder is labEnv with the learner's repositories under prefix (a
// workshop attendee's part of a shared registry); host is where image
// names begin.
func labEnvUnder(t testing.TB, prefix string) (env *Env, host string) {
	t.Helper()
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	env = &Env{Kube: fake.NewClientset(), Namespace: "lab", Kubelet: true, WorkDir: t.TempDir(),
		Registry: Registry{Host: reg.Host, Prefix: prefix, User: reg.User, Password: reg.Password}}
	pushTestImage(t, env, labimages.Seed, layerWith(t, map[string]string{"bin/busybox": "ELF", "bin/sh": "ELF"}), "", nil)
	for _, s := range labimages.Sets {
		if _, err := labimages.Push(context.Background(), env.labTarget(), s); err != nil {
			t.Fatal(err)
		}
	}
	return env, env.Registry.Repos()
}

func layerWith(t testing.TB, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pushTestImage pushes an image of layers on base (empty when nil) to
// repo:tag with user and labels, and returns its digest.
func pushTestImage(t testing.TB, env *Env, ref string, layer v1.Layer, user string, labels map[string]string, base ...v1.Image) v1.Hash {
	t.Helper()
	img := empty.Image
	if len(base) > 0 {
		img = base[0]
	}
	img, err := mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User = user
	cf.Config.Labels = labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(env.Registry.Repo(ref))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(env.adminAuth())); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

func digestOf(t *testing.T, env *Env, repoTag string) v1.Hash {
	t.Helper()
	repo, tag, _ := strings.Cut(repoTag, ":")
	d, err := tagDigest(context.Background(), env, repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustRun(t *testing.T, check string, env *Env, params map[string]string) Result {
	t.Helper()
	res, err := Run(context.Background(), check, env, Request{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func wantFinding(t *testing.T, res Result, passed bool, codes ...string) {
	t.Helper()
	if res.Passed != passed {
		t.Errorf("passed = %v, want %v; findings:", res.Passed, passed)
		for _, f := range res.Findings {
			t.Errorf("  %s: %s", f.Code, f.Problem)
		}
	}
	for _, c := range codes {
		if !res.HasFinding(c) {
			t.Errorf("no %s finding in:", c)
			for _, f := range res.Findings {
				t.Errorf("  %s: %s", f.Code, f.Problem)
			}
		}
	}
}

func labPod(name, image, imageID string) *corev1.Pod {
	p := runningPod(name, image, "default")
	p.Status.ContainerStatuses[0].ImageID = imageID
	return p
}

// TestScanJudgesByDigest: pods are judged by the digest they run; the
// pod of a condemned image whose repository's :latest is clean is the
// wrong-tag mistake; a clean pod deleted is a finding; an image's files
// are read once per digest.
func TestScanJudgesByDigest(t *testing.T) {
	for _, prefix := range []string{"", "ws-ana"} {
		t.Run("prefix="+prefix, func(t *testing.T) { testScanJudgesByDigest(t, prefix) })
	}
}

func testScanJudgesByDigest(t *testing.T, prefix string) {
	env, host := labEnvUnder(t, prefix)
	rt := &countingTransport{}
	env.Transport = rt
	params := map[string]string{"pods": "payments=apps/payments:1.4,catalog=apps/catalog:2.0,reports=apps/reports:3.1", "severity": "CRITICAL"}
	pods := map[string]*corev1.Pod{}
	for p, ref := range map[string]string{"payments": "apps/payments:1.4", "catalog": "apps/catalog:2.0", "reports": "apps/reports:3.1"} {
		repo, _, _ := strings.Cut(ref, ":")
		pods[p] = labPod(p, host+"/"+ref, host+"/"+repo+"@"+digestOf(t, env, ref).String())
	}
	reset := func(names ...string) {
		var objs []runtime.Object
		for _, n := range names {
			objs = append(objs, pods[n].DeepCopy())
		}
		env.Kube = fake.NewClientset(objs...)
	}

	reset("payments", "catalog", "reports")
	res := mustRun(t, "image.scan", env, params)
	wantFinding(t, res, false, "scan-wrong-tag", "scan-critical-running")
	if !strings.Contains(findingOf(res, "scan-critical-running").Evidence, "CVE-2022-37434 (CRITICAL) in zlib 1.2.12-r1") {
		t.Errorf("evidence: %+v", findingOf(res, "scan-critical-running"))
	}
	blobs := rt.blobs.Load()
	mustRun(t, "image.scan", env, params)
	if again := rt.blobs.Load() - blobs; again != 0 {
		t.Errorf("a second check downloaded %d blobs: images are read once per digest", again)
	}

	reset("catalog")
	wantFinding(t, mustRun(t, "image.scan", env, params), true)

	reset("reports")
	wantFinding(t, mustRun(t, "image.scan", env, params), false, "scan-clean-deleted", "scan-critical-running")

	// Made again from the clean tag: judged by what it runs, it may stay.
	latest := labPod("payments", host+"/apps/payments:latest", host+"/apps/payments@"+digestOf(t, env, "apps/payments:latest").String())
	env.Kube = fake.NewClientset(latest, pods["catalog"].DeepCopy())
	wantFinding(t, mustRun(t, "image.scan", env, params), true)

	// The tag moved to a clean image, but the node runs the old digest.
	pushTestImage(t, env, "apps/reports:3.1", layerWith(t, map[string]string{"www/index.html": "new"}), "", nil)
	reset("catalog", "reports")
	wantFinding(t, mustRun(t, "image.scan", env, params), false, "scan-critical-running")
}

func findingOf(res Result, code string) Finding {
	for _, f := range res.Findings {
		if f.Code == code {
			return f
		}
	}
	return Finding{}
}

// signer signs as cosign does: the simple signing payload for a digest,
// stored as a layer of the sha256-<hex>.sig image.
type signer struct {
	priv *ecdsa.PrivateKey
	pub  []byte
}

func newSigner(t *testing.T) signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signer{priv: priv, pub: pub}
}

// sign stores a signature for target whose payload names named.
func (s signer) sign(t *testing.T, env *Env, repo string, target, named v1.Hash, annotations map[string]string) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"critical": map[string]any{
		"identity": map[string]string{"docker-reference": env.Registry.Repo(repo)},
		"image":    map[string]string{"docker-manifest-digest": named.String()},
		"type":     "cosign container image signature"}, "optional": nil})
	sv, err := signature.LoadECDSASignerVerifier(s.priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sv.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{cosignSignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	for k, v := range annotations {
		ann[k] = v
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"), Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(env.Registry.Repo(repo) + ":" + sigTag(target))
	if err := remote.Write(ref, img, remote.WithAuth(env.adminAuth())); err != nil {
		t.Fatal(err)
	}
}

// TestSignedBoundToDigest: the signature must verify with the learner's
// key and name the digest the pod runs; signing the moved tag, another
// digest, another key, a copied signature and a missing or private key
// each have their own finding; a reset removes the signatures.
func TestSignedBoundToDigest(t *testing.T) {
	env, _ := labEnv(t)
	ctx := context.Background()
	if err := createLabImages(ctx, env, []byte("kind: LabImages\nmetadata: {name: sign}\nspec: {pod: release, pullSecret: lab-cred}\n")); err != nil {
		t.Fatal(err)
	}
	pod, err := env.Kube.CoreV1().Pods(env.Namespace).Get(ctx, "release", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, hex, _ := strings.Cut(pod.Spec.Containers[0].Image, "@")
	approved, _ := v1.NewHash(hex)
	rebuild := digestOf(t, env, "apps/release:1.0")
	if approved == rebuild {
		t.Fatal("the pod runs what the tag names: the tag did not move")
	}
	params := map[string]string{"pod": "release", "key": "cosign.pub", "tag": "1.0"}
	me, someone := newSigner(t), newSigner(t)
	pubFile := filepath.Join(env.WorkDir, "cosign.pub")

	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-no-key")
	os.WriteFile(pubFile, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nxx\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), 0o600)
	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-key-private")
	os.WriteFile(pubFile, []byte("not a key"), 0o644)
	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-key-invalid")
	os.WriteFile(pubFile, me.pub, 0o644)
	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-missing")

	me.sign(t, env, "apps/release", rebuild, rebuild, nil)
	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-tag-not-digest")

	someone.sign(t, env, "apps/release", approved, approved, nil)
	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-other-key")

	me.sign(t, env, "apps/release", approved, rebuild, nil)
	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-payload-mismatch")

	me.sign(t, env, "apps/release", approved, approved, map[string]string{cosignBundleAnnotation: "{}"})
	res := mustRun(t, "image.signed", env, params)
	wantFinding(t, res, true, "sign-tlog-uploaded")
	if !strings.Contains(res.Summary, approved.Hex[:12]) {
		t.Errorf("summary: %s", res.Summary)
	}

	if err := resetLabImages(ctx, env, "sign"); err != nil {
		t.Fatal(err)
	}
	wantFinding(t, mustRun(t, "image.signed", env, params), false, "sign-missing")

	other := pushTestImage(t, env, "apps/release:other", layerWith(t, map[string]string{"x": "y"}), "", nil)
	me.sign(t, env, "apps/release", other, other, nil)
	wantFinding(t, mustRun(t, "image.signed", env, map[string]string{"pod": "release"}), false, "sign-other-digest")
}

// TestSBOMDocuments: SPDX and CycloneDX JSON of the image pass, whichever
// tool wrote them; other formats, other images and missing packages
// each say what they are.
func TestSBOMDocuments(t *testing.T) {
	env, host := labEnv(t)
	ledger := digestOf(t, env, "apps/ledger:2.3")
	latest := digestOf(t, env, "apps/ledger:latest")
	params := map[string]string{"file": "sbom.json", "image": "apps/ledger:2.3", "package": "zlib"}
	write := func(body string) { os.WriteFile(filepath.Join(env.WorkDir, "sbom.json"), []byte(body), 0o644) }
	cdx := func(d v1.Hash, pkgs ...string) string {
		var comps []string
		for _, p := range pkgs {
			comps = append(comps, `{"type": "library", "name": "`+p+`", "version": "1"}`)
		}
		return `{"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"component": {"type": "container", "name": "` + host + `/apps/ledger:2.3",
			"purl": "pkg:oci/ledger@sha256%3A` + d.Hex + `?repository_url=` + host + `%2Fapps%2Fledger"}},
			"components": [{"type": "operating-system", "name": "alpine", "version": "3.16.2"}, ` + strings.Join(comps, ", ") + `]}`
	}

	wantFinding(t, mustRun(t, "image.sbom", env, params), false, "sbom-missing")
	os.WriteFile(filepath.Join(env.WorkDir, "ledger.cdx.json"), []byte(cdx(ledger, "zlib")), 0o644)
	if res := mustRun(t, "image.sbom", env, params); !strings.Contains(res.Findings[0].Problem, "ledger.cdx.json") {
		t.Errorf("the SBOM under another name is not pointed at: %+v", res.Findings)
	}

	write(cdx(ledger, "musl", "zlib"))
	wantFinding(t, mustRun(t, "image.sbom", env, params), true)

	write(`{"spdxVersion": "SPDX-2.3", "name": "x", "packages": [
		{"SPDXID": "SPDXRef-img", "name": "` + host + `/apps/ledger:2.3", "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:oci/ledger@sha256:` + ledger.Hex + `"}]},
		{"SPDXID": "SPDXRef-zlib", "name": "zlib", "versionInfo": "1.2.12-r1"}],
		"relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-img"}]}`)
	wantFinding(t, mustRun(t, "image.sbom", env, params), true)

	write(cdx(latest, "musl"))
	res := mustRun(t, "image.sbom", env, params)
	wantFinding(t, res, false, "sbom-other-image", "sbom-package-missing")
	if !strings.Contains(findingOf(res, "sbom-other-image").Problem, "apps/ledger:latest") {
		t.Errorf("the other image is not named: %+v", findingOf(res, "sbom-other-image"))
	}

	for body, code := range map[string]string{
		"SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n":                 "sbom-not-json",
		"┌────────┐\n│ Target │\n":                                      "sbom-not-json",
		`{"SchemaVersion": 2, "ArtifactName": "x", "Results": []}`:      "sbom-scan-report",
		`{"bomFormat": "CycloneDX", "specVersion": "1.6", "components"`: "sbom-invalid-json",
		"":                "sbom-empty",
		`{"kind": "Pod"}`: "sbom-unknown-format",
		`{"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"component": {"name": "dir"}}, "components": [{"name": "zlib"}]}`: "sbom-no-digest",
	} {
		write(body)
		res := mustRun(t, "image.sbom", env, params)
		if res.Passed || !res.HasFinding(code) {
			t.Errorf("%q: want %s, got %+v", body, code, res.Findings)
		}
	}
}

// TestMinimalImage: the legacy image fails every criterion it should;
// one on the base with a named user and no recorded pin says so; the
// right build passes; too big and a wrong pin are findings.
func TestMinimalImage(t *testing.T) {
	env, _ := labEnv(t)
	params := map[string]string{"repository": "apps/slim", "tag": "1.0", "base": "apps/static-base:1.0", "max-size": "1Mi"}
	wantFinding(t, mustRun(t, "image.minimal", env, params), false, "push-missing")

	baseRef, _ := name.ParseReference(env.Registry.Repos() + "/apps/static-base:1.0")
	base, err := remote.Image(baseRef, remote.WithAuth(env.adminAuth()))
	if err != nil {
		t.Fatal(err)
	}
	baseDigest, _ := base.Digest()
	legacyRef, _ := name.ParseReference(env.Registry.Repos() + "/apps/legacy:1.0")
	legacy, err := remote.Image(legacyRef, remote.WithAuth(env.adminAuth()))
	if err != nil {
		t.Fatal(err)
	}
	slim, _ := name.ParseReference(env.Registry.Repos() + "/apps/slim:1.0")
	if err := remote.Write(slim, legacy, remote.WithAuth(env.adminAuth())); err != nil {
		t.Fatal(err)
	}
	wantFinding(t, mustRun(t, "image.minimal", env, params), false,
		"minimal-runs-as-root", "minimal-has-shell", "minimal-not-on-base", "minimal-secret-in-env", "minimal-secret-in-history")

	app := layerWith(t, map[string]string{"app.conf": "x"})
	pushTestImage(t, env, "apps/slim:1.0", app, "nonroot", nil, base)
	wantFinding(t, mustRun(t, "image.minimal", env, params), false, "minimal-user-not-numeric", "minimal-base-not-recorded")

	pushTestImage(t, env, "apps/slim:1.0", app, "65532:65532", map[string]string{BaseDigestLabel: "sha256:" + strings.Repeat("0", 64)}, base)
	wantFinding(t, mustRun(t, "image.minimal", env, params), false, "minimal-base-digest-mismatch")

	pushTestImage(t, env, "apps/slim:1.0", app, "65532:65532", map[string]string{BaseDigestLabel: baseDigest.String()}, base)
	wantFinding(t, mustRun(t, "image.minimal", env, params), true)

	big, _ := random.Layer(2<<20, types.DockerLayer)
	pushTestImage(t, env, "apps/slim:1.0", big, "65532", map[string]string{BaseDigestLabel: baseDigest.String()}, base)
	wantFinding(t, mustRun(t, "image.minimal", env, params), false, "minimal-too-big")
}

func hardenedPod(image string) *corev1.Pod {
	yes, no, uid := true, false, int64(65532)
	p := runningPod("web", image, "default")
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid}
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	q := resource.MustParse("64Mi")
	c := resource.MustParse("100m")
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: c, corev1.ResourceMemory: q},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: c, corev1.ResourceMemory: q}}
	return p
}

// TestHardenedPod: what the running pod lacks, each by its criterion; a
// file fixed but not applied; a hardened pod that no longer starts, by
// the kubelet's word or, with no kubelet, by the image's user.
func TestHardenedPod(t *testing.T) {
	env, host := labEnv(t)
	image := host + "/apps/internal-app:1.0"
	pushTestImage(t, env, "apps/internal-app:1.0", layerWith(t, map[string]string{"bin/sh": "ELF"}), "", nil)
	params := map[string]string{"pod": "web", "file": "web.yaml"}

	wantFinding(t, mustRun(t, "pod.hardened", env, params), false, "hardened-pod-missing")

	yes := true
	insecure := runningPod("web", image, "default")
	insecure.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes, Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}
	env.Kube = fake.NewClientset(insecure)
	res := mustRun(t, "pod.hardened", env, params)
	wantFinding(t, res, false, "hardened-root-allowed", "hardened-escalation-allowed", "hardened-root-writable",
		"hardened-privileged", "hardened-capabilities-kept", "hardened-capabilities-added", "hardened-no-resources")
	if res.HasFinding("hardened-not-applied") {
		t.Error("no file, yet not-applied")
	}

	fixed := hardenedPod(image)
	fixed.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	fixed.Status = corev1.PodStatus{}
	data, _ := json.Marshal(fixed)
	os.WriteFile(filepath.Join(env.WorkDir, "web.yaml"), data, 0o644)
	wantFinding(t, mustRun(t, "pod.hardened", env, params), false, "hardened-not-applied")

	env.Kube = fake.NewClientset(hardenedPod(image))
	wantFinding(t, mustRun(t, "pod.hardened", env, params), true)

	broken := hardenedPod(image)
	broken.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting failed container"}}
	env.Kube = fake.NewClientset(broken)
	wantFinding(t, mustRun(t, "pod.hardened", env, params), false, "hardened-not-running")

	env.Kubelet = false
	noUID := hardenedPod(image)
	noUID.Spec.SecurityContext.RunAsUser = nil
	env.Kube = fake.NewClientset(noUID)
	wantFinding(t, mustRun(t, "pod.hardened", env, params), false, "hardened-would-not-start")
	env.Kube = fake.NewClientset(hardenedPod(image))
	wantFinding(t, mustRun(t, "pod.hardened", env, params), true, "no-kubelet")
}
