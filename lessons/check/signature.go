package check

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	Register(Definition{
		Name:     "image.signed",
		Tool:     RoleSigner,
		Params:   []string{"pod"},
		Optional: []string{"key", "tag"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{Pods, RegistryRepository, WorkFiles},
		Resets:   []*Subject{Pods, Secrets, LabImages},
		Criteria: []Criterion{
			{Name: "key", Doc: "a public key the learner made is in the work dir", Gate: true},
			{Name: "signature", Doc: "a signature stored in the registry verifies with that key and is bound to the digest the pod runs"},
		},
		Run: checkSigned,
	})
}

// cosign's classic signature storage: an OCI image in the signed image's
// repository, tagged sha256-<hex>.sig, one layer per signature whose blob
// is the signed payload (simple signing JSON) and whose annotation holds
// the signature.
const (
	cosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	cosignBundleAnnotation    = "dev.sigstore.cosign/bundle"
	cosignCertAnnotation      = "dev.sigstore.cosign/certificate"
)

// cosign 3 stores a sigstore bundle instead: an OCI referrer of the
// image (found through the registry's referrers API, or the fallback tag
// sha256-<hex>) whose one layer is the bundle, a DSSE envelope around an
// in-toto statement naming the image's digest.
const (
	sigstoreBundleType   = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cosignSignPredicate  = "https://sigstore.dev/cosign/sign/v1"
	inTotoPayloadType    = "application/vnd.in-toto+json"
	inTotoStatementType  = "https://in-toto.io/Statement/v1"
	inTotoStatementType1 = "https://in-toto.io/Statement/v0.1"
)

// cosignSig is one signature found next to an image, in either format.
type cosignSig struct {
	// signed are the bytes the signature is over: the simple signing
	// payload, or a DSSE envelope's pre-authentication encoding.
	signed, sig []byte
	// binds is the digest what was signed names ("" when it names none,
	// or is not a cosign image signature).
	binds string
	// bundle: cosign 3's format. tlog: the signature carries a
	// transparency log entry (it was uploaded to Rekor); keyless: a
	// certificate instead of a key.
	bundle, tlog, keyless bool
}

// sigCache keeps the signatures read from a signature manifest, by its
// digest: a manifest's content never changes.
var sigCache = struct {
	sync.Mutex
	m map[string][]cosignSig
}{m: map[string][]cosignSig{}}

// checkSigned passes when a signature stored in the registry for the
// digest the pod runs verifies with the learner's public key, and its
// signed payload names that digest: cosign verify's own test, made with
// sigstore's verifier, offline (no transparency log asked).
func checkSigned(ctx context.Context, env *Env, req Request) (Result, error) {
	ctx = withTagMemo(ctx)
	podName, keyFile := req.Params["pod"], req.Param("key", "cosign.pub")
	pod, err := env.Kube.CoreV1().Pods(env.Namespace).Get(ctx, podName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fail(Finding{Code: "sign-pod-missing", Criterion: "signature",
			Problem:  env.T("Pod %s is gone: it ran the image this step signs.", podName),
			Expected: env.T("pod %s", podName), Try: env.T("imagelab reset on this step makes it again.")}), nil
	}
	if err != nil {
		return Result{}, env.Errorf("reading pod %s: %w", podName, err)
	}
	repo, target, _, err := podDigest(ctx, env, pod)
	if err != nil {
		return Result{}, err
	}
	byDigest := fmt.Sprintf("%s@%s", env.Registry.Repo(repo), target)

	verifier, keyFindings := readPublicKey(env, env.WorkDir, keyFile)
	if len(keyFindings) > 0 {
		return withToolAdvice(env, fail(keyFindings...), RoleSigner), nil
	}
	sigs, err := signaturesOf(ctx, env, repo, target)
	if err != nil {
		return Result{}, err
	}
	if len(sigs) > 0 {
		return judgeSignatures(env, sigs, verifier, target, byDigest, keyFile), nil
	}
	return withToolAdvice(env, fail(noSignature(ctx, env, repo, target, byDigest, podName, req.Params["tag"], verifier)), RoleSigner), nil
}

// judgeSignatures passes when one of the target's signatures verifies with
// the key and binds the target digest.
func judgeSignatures(env *Env, sigs []cosignSig, verifier signature.Verifier, target v1.Hash, byDigest, keyFile string) Result {
	var mismatch string
	keyless := false
	for _, s := range sigs {
		keyless = keyless || s.keyless
		if verifier.VerifySignature(bytes.NewReader(s.sig), bytes.NewReader(s.signed)) != nil {
			continue
		}
		if s.binds != target.String() {
			mismatch = s.binds
			if mismatch == "" {
				mismatch = env.T("no image digest (not a cosign image signature)")
			}
			continue
		}
		var advice []Finding
		if s.tlog {
			advice = append(advice, Finding{Code: "sign-tlog-uploaded", Severity: Advice,
				Problem: env.T("This signature was also uploaded to a transparency log (Rekor): the digest, your public key and the time are public now."),
				Try:     env.T("For a private image, sign offline: cosign sign --tlog-upload=false (cosign 3: with --use-signing-config=false), and verify with --insecure-ignore-tlog=true.")})
		}
		return result(env.T("%s is signed: the signature stored next to it verifies with %s and binds %s.", byDigest, keyFile, short(target)), advice...)
	}
	if mismatch != "" {
		return fail(Finding{Code: "sign-payload-mismatch", Criterion: "signature",
			Problem:  env.T("The signature stored for %s verifies with %s, but what it signed names %s: a signature copied from another image.", byDigest, keyFile, mismatch),
			Expected: env.T("a signed payload naming %s", target),
			Try:      env.T("Sign the image itself: %s", "cosign sign --key cosign.key --tlog-upload=false "+byDigest)})
	}
	why := env.T("made with another key")
	if keyless {
		why = env.T("made keyless (with a certificate), not with your key")
	}
	return fail(Finding{Code: "sign-other-key", Criterion: "signature",
		Problem:  env.T("%s has %d signature(s), none of which verifies with %s: %s.", byDigest, len(sigs), keyFile, why),
		Expected: env.T("a signature made with the private key of %s", keyFile),
		Try:      env.T("A new key pair replaces both files; sign again with the cosign.key that goes with %s: cosign sign --key cosign.key --tlog-upload=false %s", keyFile, byDigest)})
}

// noSignature explains a digest with no signature: the tag was signed
// and names another digest now; another digest of the repository was
// signed; or nothing was.
func noSignature(ctx context.Context, env *Env, repo string, target v1.Hash, byDigest, podName, tag string, verifier signature.Verifier) Finding {
	try := env.T("cosign sign --key cosign.key --tlog-upload=false %s (cosign 3: add --use-signing-config=false), then cosign verify --key cosign.pub --insecure-ignore-tlog=true %s", byDigest, byDigest)
	if tag != "" {
		if now, err := tagDigest(ctx, env, repo, tag); err == nil && now != target {
			if sigs, err := signaturesOf(ctx, env, repo, now); err == nil && len(sigs) > 0 {
				return Finding{Code: "sign-tag-not-digest", Criterion: "signature",
					Problem: env.T("You signed %s:%s: cosign resolved the tag to %s, the rebuild it names now. Pod %s runs %s, which is not signed.",
						env.Registry.Repo(repo), tag, short(now), podName, short(target)),
					Expected: env.T("a signature for %s", target),
					Try:      env.T("A signature binds one digest, and a tag can name another at any time: sign what the pod runs, by digest. %s", try)}
			}
		}
	}
	tags, _ := listTags(ctx, env.transport(), env.Registry.Repo(repo), env.adminAuth())
	var others []string
	for _, t := range tags {
		hex, isSig := strings.CutPrefix(strings.TrimSuffix(t, ".sig"), "sha256-")
		if isSig && len(hex) == 64 && hex != target.Hex && !strings.HasSuffix(t, ".att") && !strings.HasSuffix(t, ".sbom") {
			others = appendNew(others, "sha256:"+hex[:12])
		}
	}
	if len(others) > 0 {
		sort.Strings(others)
		return Finding{Code: "sign-other-digest", Criterion: "signature",
			Problem:  env.T("%s has signatures for %s, none for %s, the digest pod %s runs.", env.Registry.Repo(repo), strings.Join(others, ", "), short(target), podName),
			Expected: env.T("a signature for %s", target), Try: try}
	}
	return Finding{Code: "sign-missing", Criterion: "signature",
		Problem:  env.T("%s has no signature in the registry yet (cosign 2 keeps one as the tag %s, cosign 3 as an OCI referrer of the image).", byDigest, sigTag(target)),
		Expected: env.T("a signature for %s", target), Try: try}
}

func sigTag(h v1.Hash) string { return h.Algorithm + "-" + h.Hex + ".sig" }

// readPublicKey reads the learner's public key file, as cosign verify
// --key does: a PEM public key.
func readPublicKey(env *Env, workDir, file string) (signature.Verifier, []Finding) {
	path := filepath.Join(workDir, file)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, []Finding{{Code: "sign-no-key", Criterion: "key",
			Problem:  env.T("No %s in your work dir (%s) yet.", file, workDir),
			Expected: env.T("%s: your public key", file),
			Try:      env.T("In the work dir: COSIGN_PASSWORD=… cosign generate-key-pair writes cosign.key (private, password-protected) and cosign.pub.")}}
	}
	if err != nil {
		return nil, []Finding{{Code: "sign-key-invalid", Criterion: "key", Problem: env.T("%s cannot be read: %v.", file, err), Expected: env.T("%s: your public key", file)}}
	}
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		return nil, []Finding{{Code: "sign-key-private", Criterion: "key",
			Problem:  env.T("%s holds a private key: verification takes the public half, and the private one is never handed out.", file),
			Expected: env.T("%s: a PEM PUBLIC KEY", file), Try: env.T("cosign generate-key-pair writes both: the public one is cosign.pub.")}}
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, []Finding{{Code: "sign-key-invalid", Criterion: "key",
			Problem: env.T("%s is not a PEM public key: %v.", file, err), Expected: env.T("%s: a PEM PUBLIC KEY", file),
			Try: env.T("cosign generate-key-pair writes one (cosign.pub); cosign public-key --key cosign.key prints it again.")}}
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, []Finding{{Code: "sign-key-invalid", Criterion: "key", Problem: env.T("%s holds a key cosign cannot verify with: %v.", file, err), Expected: env.T("%s: an ECDSA, RSA or Ed25519 public key", file)}}
	}
	return verifier, nil
}

// signaturesOf reads the signatures stored for repo@digest in either
// format, none when there are none.
func signaturesOf(ctx context.Context, env *Env, repo string, digest v1.Hash) ([]cosignSig, error) {
	classic, err := classicSignatures(ctx, env, repo, digest)
	if err != nil {
		return nil, err
	}
	bundles, err := bundleSignatures(ctx, env, repo, digest)
	if err != nil {
		return nil, err
	}
	return append(classic, bundles...), nil
}

// classicSignatures reads cosign 2's sha256-<hex>.sig image.
func classicSignatures(ctx context.Context, env *Env, repo string, digest v1.Hash) ([]cosignSig, error) {
	ref, err := name.ParseReference(env.Registry.Repo(repo) + ":" + sigTag(digest))
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(env.adminAuth()), remote.WithTransport(env.transport())}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		if errors.Is(registryError(err), errNotFound) {
			return nil, nil
		}
		return nil, env.Errorf("asking the registry for %s: %w", ref, registryError(err))
	}
	key := env.Registry.Repo(repo) + "@" + desc.Digest.String()
	sigCache.Lock()
	sigs, ok := sigCache.m[key]
	sigCache.Unlock()
	if ok {
		return sigs, nil
	}
	img, err := remote.Image(ref.Context().Digest(desc.Digest.String()), opts...)
	if err != nil {
		return nil, env.Errorf("reading %s: %w", ref, registryError(err))
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		b64, ok := l.Annotations[cosignSignatureAnnotation]
		if !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue // not a signature cosign could have written
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, env.Errorf("reading a signature of %s: %w", ref, registryError(err))
		}
		p, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return nil, err
		}
		_, tlog := l.Annotations[cosignBundleAnnotation]
		_, cert := l.Annotations[cosignCertAnnotation]
		sigs = append(sigs, cosignSig{signed: p, sig: sig, binds: simpleSigningDigest(p), tlog: tlog, keyless: cert})
	}
	sigCache.Lock()
	if len(sigCache.m) >= factsCacheMax {
		clear(sigCache.m)
	}
	sigCache.m[key] = sigs
	sigCache.Unlock()
	return sigs, nil
}

// simpleSigningDigest is the image digest a cosign simple signing payload
// names, "" when it is not one.
func simpleSigningDigest(p []byte) string {
	var ssi payload.SimpleContainerImage
	if err := json.Unmarshal(p, &ssi); err != nil || ssi.Critical.Type != payload.CosignSignatureType {
		return ""
	}
	return ssi.Critical.Image.DockerManifestDigest
}

// sigstoreBundle is what the check reads of a sigstore bundle (v0.3).
type sigstoreBundle struct {
	VerificationMaterial struct {
		TlogEntries []json.RawMessage `json:"tlogEntries"`
		Certificate json.RawMessage   `json:"certificate"`
	} `json:"verificationMaterial"`
	DSSEEnvelope *struct {
		Payload     string `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

// bundleSignatures reads cosign 3's sigstore bundles: the referrers of
// repo@digest whose artifact type is a bundle.
func bundleSignatures(ctx context.Context, env *Env, repo string, digest v1.Hash) ([]cosignSig, error) {
	r, err := name.NewRepository(env.Registry.Repo(repo))
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(env.adminAuth()), remote.WithTransport(env.transport())}
	idx, err := remote.Referrers(r.Digest(digest.String()), opts...)
	if err != nil {
		if errors.Is(registryError(err), errNotFound) {
			return nil, nil
		}
		return nil, env.Errorf("asking the registry for the referrers of %s@%s: %w", r, digest, registryError(err))
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []cosignSig
	for _, d := range m.Manifests {
		if d.ArtifactType != sigstoreBundleType {
			continue
		}
		key := r.String() + "@" + d.Digest.String()
		sigCache.Lock()
		cached, ok := sigCache.m[key]
		sigCache.Unlock()
		if !ok {
			if cached, err = readBundle(r.Digest(d.Digest.String()), opts); err != nil {
				return nil, err
			}
			sigCache.Lock()
			if len(sigCache.m) >= factsCacheMax {
				clear(sigCache.m)
			}
			sigCache.m[key] = cached
			sigCache.Unlock()
		}
		out = append(out, cached...)
	}
	return out, nil
}

// readBundle reads the signatures of one referrer holding a bundle.
func readBundle(ref name.Digest, opts []remote.Option) ([]cosignSig, error) {
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, registryError(err))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out []cosignSig
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", ref, registryError(err))
		}
		data, err := io.ReadAll(io.LimitReader(rc, 4<<20))
		rc.Close()
		if err != nil {
			return nil, err
		}
		var b sigstoreBundle
		if json.Unmarshal(data, &b) != nil || b.DSSEEnvelope == nil {
			continue
		}
		p, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
		if err != nil {
			continue
		}
		signed := dssePAE(b.DSSEEnvelope.PayloadType, p)
		binds := ""
		if b.DSSEEnvelope.PayloadType == inTotoPayloadType {
			binds = statementDigest(p)
		}
		for _, s := range b.DSSEEnvelope.Signatures {
			sig, err := base64.StdEncoding.DecodeString(s.Sig)
			if err != nil {
				continue
			}
			out = append(out, cosignSig{signed: signed, sig: sig, binds: binds, bundle: true,
				tlog: len(b.VerificationMaterial.TlogEntries) > 0, keyless: len(b.VerificationMaterial.Certificate) > 0})
		}
	}
	return out, nil
}

// dssePAE is DSSE's pre-authentication encoding: what a DSSE signature
// is over.
func dssePAE(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// statementDigest is the digest a cosign signing statement names: its
// one subject's sha256, when its predicate is cosign's sign predicate.
func statementDigest(p []byte) string {
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(p, &st) != nil || (st.Type != inTotoStatementType && st.Type != inTotoStatementType1) ||
		st.PredicateType != cosignSignPredicate || len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] == "" {
		return ""
	}
	return "sha256:" + st.Subject[0].Digest["sha256"]
}
