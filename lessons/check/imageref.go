package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

func init() {
	Register(Definition{
		Name:     "image.full-name",
		Params:   []string{"image"},
		Needs:    NeedsAnswer,
		Criteria: []Criterion{{Name: "answer", Doc: "the fully qualified name, every part written out"}},
		Run:      checkFullName,
	})
	Register(Definition{
		Name:     "image.part",
		Params:   []string{"image", "part"},
		Needs:    NeedsAnswer,
		Criteria: []Criterion{{Name: "answer", Doc: "the part of the name asked for"}},
		Run:      checkImagePart,
	})
}

// ImageParts is an image reference split the way the docker CLI and
// containerd read it.
type ImageParts struct {
	Registry string // docker.io, gcr.io, localhost:5055
	Account  string // library, apps; "" when the path has one component outside Docker Hub
	Image    string // the last path component: nginx, internal-app
	Tag      string // latest when none is written
	Digest   string
	// Full is the normalized name with its tag or digest:
	// docker.io/library/nginx:latest.
	Full string
}

// Repository is the name without tag or digest: docker.io/library/nginx.
func (p ImageParts) Repository() string {
	if p.Account == "" {
		return p.Registry + "/" + p.Image
	}
	return p.Registry + "/" + p.Account + "/" + p.Image
}

// Same reports whether p names the image want names: the same repository
// and, when want is pinned by digest, the same digest (a tag written next
// to a digest is ignored, as the runtime ignores it); otherwise the same tag.
func (p ImageParts) Same(want ImageParts) bool {
	if p.Repository() != want.Repository() {
		return false
	}
	if want.Digest != "" {
		return p.Digest == want.Digest
	}
	return p.Digest == "" && p.Tag == want.Tag
}

// PartNames lists the parts image.part can ask for.
var PartNames = []string{"registry", "account", "image", "tag"}

func (p ImageParts) part(name string) string {
	switch name {
	case "registry":
		return p.Registry
	case "account":
		return p.Account
	case "image":
		return p.Image
	case "tag":
		return p.Tag
	}
	return ""
}

// SplitImage normalizes ref (nginx → docker.io/library/nginx:latest) and
// splits it into its parts.
func SplitImage(ref string) (ImageParts, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(ref))
	if err != nil {
		return ImageParts{}, err
	}
	p := ImageParts{Registry: reference.Domain(named)}
	path := reference.Path(named)
	if i := strings.LastIndex(path, "/"); i >= 0 {
		p.Account, p.Image = path[:i], path[i+1:]
	} else {
		p.Image = path
	}
	if d, ok := named.(reference.Digested); ok {
		p.Digest = d.Digest().String()
	}
	if t, ok := named.(reference.Tagged); ok {
		p.Tag = t.Tag()
	} else if p.Digest == "" {
		p.Tag = "latest"
	}
	if p.Digest == "" {
		named = reference.TagNameOnly(named)
	}
	p.Full = named.String()
	return p, nil
}

// writtenParts says which parts a learner wrote out rather than left to
// the defaults: the first path component is a registry only when it is
// localhost or contains "." or ":" (the docker CLI's rule).
type writtenParts struct {
	registry, account, tag bool
}

func explicitParts(ref string) writtenParts {
	var w writtenParts
	name := ref
	if i := strings.Index(name, "@"); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		w.tag = true
		name = name[:i]
	}
	parts := strings.Split(name, "/")
	if len(parts) > 1 && (parts[0] == "localhost" || strings.ContainsAny(parts[0], ".:")) {
		w.registry = true
		parts = parts[1:]
	}
	w.account = len(parts) > 1
	return w
}

// invalidReference explains why ref is not an image reference at all.
func invalidReference(env *Env, ref string, err error) Finding {
	switch {
	case strings.TrimSpace(ref) == "":
		return noAnswer(env, "")
	case errors.Is(err, reference.ErrNameContainsUppercase) || strings.Contains(err.Error(), "must be lowercase"):
		return Finding{Code: "image-uppercase", Criterion: "answer",
			Problem:  env.T("%s has capital letters: repository names must be lowercase.", quote(env, ref)),
			Expected: env.T("a lowercase name such as docker.io/library/nginx:latest"), Try: env.T("Write the name in lowercase.")}
	case strings.Contains(ref, "://"):
		return Finding{Code: "image-scheme", Criterion: "answer",
			Problem:  env.T("%s starts with a scheme: image names never carry http:// or https://.", quote(env, ref)),
			Expected: env.T("registry/account/image:tag"), Try: env.T("Drop the scheme; the registry is just host[:port].")}
	default:
		return Finding{Code: "image-invalid", Criterion: "answer",
			Problem:  env.T("%s is not a valid image reference: %v.", quote(env, ref), err),
			Expected: env.T("registry/account/image:tag"), Try: env.T("Check for spaces, a trailing slash or a stray character.")}
	}
}

// noAnswer is the finding for a quiz not answered yet.
func noAnswer(env *Env, expected string) Finding {
	return Finding{Code: "answer-missing", Criterion: "answer", Problem: env.T("No answer yet."), Expected: expected,
		Try: env.T("Type your answer and press enter (or pass --answer on the command line).")}
}

// quoteLimit is how much of a learner's answer a finding quotes back.
const quoteLimit = 60

// quote quotes what the learner typed, cut short: a finding explains the
// answer, it does not need to repeat a pasted page of it.
func quote(env *Env, s string) string {
	r := []rune(s)
	if len(r) <= quoteLimit {
		return fmt.Sprintf("%q", s)
	}
	return env.T("%q (%d characters in all)", string(r[:quoteLimit])+"…", len(r))
}

// checkFullName asks for the fully qualified name of params.image and
// accepts every spelling that names registry, account, image and tag.
func checkFullName(_ context.Context, env *Env, req Request) (Result, error) {
	want, err := SplitImage(req.Params["image"])
	if err != nil {
		return Result{}, fmt.Errorf("lesson parameter image: %w", err)
	}
	answer := strings.TrimSpace(req.Answer)
	got, err := SplitImage(answer)
	if err != nil {
		return fail(invalidReference(env, answer, err)), nil
	}
	if wrong := wrongParts(env, req.Params["image"], want, got); len(wrong) > 0 {
		return fail(wrong...), nil
	}
	return result(env.T("%s is the full name.", want.Full), impliedParts(env, req.Params["image"], answer, want)...), nil
}

// fullNameForm is what a full name looks like; quiz findings explain the
// rule and never print the answer itself.
func fullNameForm(env *Env) string {
	return env.T("registry/[account/]image:tag, every part written out")
}

// wrongParts names each part of the answer that differs from the name.
func wrongParts(env *Env, image string, want, got ImageParts) []Finding {
	var out []Finding
	if got.Registry != want.Registry {
		out = append(out, Finding{Code: "wrong-registry", Criterion: "answer",
			Problem:  env.T("The registry in your answer, %s, is not where %s comes from.", quote(env, got.Registry), image),
			Expected: fullNameForm(env), Try: registryTry(env, image, want)})
	}
	if got.Account != want.Account {
		out = append(out, Finding{Code: "wrong-account", Criterion: "answer",
			Problem:  env.T("The account in your answer, %s, is not right.", quote(env, got.Account)),
			Expected: fullNameForm(env), Try: accountTry(env, want)})
	}
	if got.Image != want.Image {
		out = append(out, Finding{Code: "wrong-image", Criterion: "answer",
			Problem:  env.T("The image (repository) in your answer is %s.", quote(env, got.Image)),
			Expected: fullNameForm(env), Try: env.T("The last part of the path is the image's own name.")})
	}
	if got.Tag != want.Tag || got.Digest != want.Digest {
		out = append(out, Finding{Code: "wrong-tag", Criterion: "answer",
			Problem:  env.T("The tag in your answer, %s, is not the one that is pulled.", quote(env, got.Tag)),
			Expected: fullNameForm(env), Try: env.T("Look for a ':' after the last '/'; where there is none, the runtime fills in its default tag.")})
	}
	return out
}

// impliedParts names the parts an equivalent answer left to the defaults:
// a full name spells every part out.
func impliedParts(env *Env, image, answer string, want ImageParts) []Finding {
	var out []Finding
	w := explicitParts(answer)
	if !w.registry {
		out = append(out, Finding{Code: "registry-implied", Criterion: "answer",
			Problem: env.T("%s leaves the registry to the default.", quote(env, answer)), Expected: fullNameForm(env), Try: registryTry(env, image, want)})
	}
	if !w.account && want.Account != "" {
		out = append(out, Finding{Code: "account-implied", Criterion: "answer",
			Problem: env.T("%s leaves the account to the default.", quote(env, answer)), Expected: fullNameForm(env), Try: accountTry(env, want)})
	}
	if !w.tag && want.Digest == "" {
		out = append(out, Finding{Code: "tag-implied", Criterion: "answer",
			Problem: env.T("%s leaves the tag to the default.", quote(env, answer)), Expected: fullNameForm(env),
			Try: env.T("A name without a tag is pulled with a default tag: write it out.")})
	}
	if strings.HasPrefix(answer, "index.docker.io/") {
		out = append(out, Finding{Code: "index-docker-io", Severity: Advice,
			Problem: env.T("index.docker.io is an old alias: docker.io is how the name is written today.")})
	}
	return out
}

func registryTry(env *Env, image string, want ImageParts) string {
	if want.Registry == "docker.io" {
		return env.T("%q names no registry (its first part has no '.' or ':' and is not localhost), so it is on Docker Hub: docker.io.", image)
	}
	return env.T("The registry is the first part of the name, up to the first '/': it has a '.' or a ':' or is localhost.")
}

func accountTry(env *Env, want ImageParts) string {
	if want.Registry == "docker.io" && want.Account == "library" {
		return env.T("A Docker Hub name with no account is one of Docker Hub's official images, which live under one account of their own.")
	}
	return env.T("The account is what stands between the registry and the image name; not every name has one.")
}

// checkImagePart asks which part of params.image is params.part
// (registry, account, image or tag).
func checkImagePart(_ context.Context, env *Env, req Request) (Result, error) {
	part := req.Params["part"]
	want, err := SplitImage(req.Params["image"])
	if err != nil {
		return Result{}, fmt.Errorf("lesson parameter image: %w", err)
	}
	expected := want.part(part)
	if expected == "" && part != "account" {
		return Result{}, fmt.Errorf("lesson parameter part: %q is not one of %s", part, strings.Join(PartNames, ", "))
	}
	answer := strings.Trim(strings.TrimSpace(req.Answer), "/")
	answer = strings.TrimPrefix(strings.TrimPrefix(answer, "https://"), "http://")
	if answer == "" {
		return fail(noAnswer(env, "")), nil
	}
	if strings.EqualFold(answer, expected) || (part == "tag" && strings.TrimPrefix(answer, ":") == expected) {
		return result(env.T("%s is the %s of %s.", expected, partName(env, part), want.Full)), nil
	}
	return fail(wrongPart(env, answer, part, req.Params["image"], want)), nil
}

// wrongPart explains a wrong answer: the part the learner did give, when
// it is one, or the rule for the part asked for. It names the image as the
// step wrote it: its normalized form would give defaults away.
func wrongPart(env *Env, answer, part, image string, want ImageParts) Finding {
	for _, other := range PartNames {
		if other != part && want.part(other) != "" && strings.EqualFold(answer, want.part(other)) {
			return Finding{Code: "wrong-part", Criterion: "answer",
				Problem:  env.T("%s is the %s of %s, not its %s.", quote(env, answer), partName(env, other), image, partName(env, part)),
				Expected: env.T("the %s", partName(env, part)), Try: partTry(env, part)}
		}
	}
	if part == "registry" && answer == "localhost" && strings.HasPrefix(want.part(part), "localhost:") {
		return Finding{Code: "registry-port-missing", Criterion: "answer", Problem: env.T("The port is part of the registry's name."),
			Expected: "host:port", Try: env.T("Keep the host and its port together, as docker login takes them.")}
	}
	return Finding{Code: "wrong-answer", Criterion: "answer",
		Problem:  env.T("%s is not the %s of %s.", quote(env, answer), partName(env, part), image),
		Expected: env.T("the %s", partName(env, part)), Try: partTry(env, part)}
}

func partTry(env *Env, part string) string {
	switch part {
	case "registry":
		return env.T("The registry is the first part when it has a '.' or ':' or is localhost; otherwise it is docker.io.")
	case "account":
		return env.T("The account sits between the registry and the image name; Docker Hub's official images use library.")
	case "image":
		return env.T("The image (repository) name is the last part of the path, before the tag.")
	case "tag":
		return env.T("The tag follows the last ':' after the last '/'; where none is written, the runtime fills in a default.")
	}
	return ""
}

// partName is the name of a part (PartNames) in the learner's language.
func partName(env *Env, part string) string {
	switch part {
	case "registry":
		return env.T("registry")
	case "account":
		return env.T("account")
	case "image":
		return env.T("image")
	case "tag":
		return env.T("tag")
	}
	return part
}
