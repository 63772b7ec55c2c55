package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

func init() {
	register(Definition{
		Name:   "image.full-name",
		Params: []string{"image"},
		Needs:  NeedsAnswer,
		Run:    checkFullName,
	})
	register(Definition{
		Name:   "image.part",
		Params: []string{"image", "part"},
		Needs:  NeedsAnswer,
		Run:    checkImagePart,
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
func invalidReference(f *findings, ref string, err error) {
	switch {
	case strings.TrimSpace(ref) == "":
		f.problem("answer-missing", "No answer yet.", "", "Type your answer and press enter (or pass --answer on the command line).")
	case errors.Is(err, reference.ErrNameContainsUppercase) || strings.Contains(err.Error(), "must be lowercase"):
		f.problem("image-uppercase", fmt.Sprintf("%q has capital letters: repository names must be lowercase.", ref),
			"a lowercase name such as docker.io/library/nginx:latest", "Write the name in lowercase.")
	case strings.Contains(ref, "://"):
		f.problem("image-scheme", fmt.Sprintf("%q starts with a scheme: image names never carry http:// or https://.", ref),
			"registry/account/image:tag", "Drop the scheme; the registry is just host[:port].")
	default:
		f.problem("image-invalid", fmt.Sprintf("%q is not a valid image reference: %v.", ref, err),
			"registry/account/image:tag", "Check for spaces, a trailing slash or a stray character.")
	}
}

// checkFullName asks for the fully qualified name of params.image and
// accepts every spelling that names registry, account, image and tag.
func checkFullName(_ context.Context, _ *Env, req Request) (Result, error) {
	want, err := SplitImage(req.Params["image"])
	if err != nil {
		return Result{}, fmt.Errorf("lesson parameter image: %w", err)
	}
	answer := strings.TrimSpace(req.Answer)
	var f findings
	got, err := SplitImage(answer)
	if err != nil {
		invalidReference(&f, answer, err)
		return f.result(""), nil
	}

	// Quiz findings explain the rule; they never print the answer itself.
	const form = "registry/account/image:tag, every part written out"
	if got.Registry != want.Registry {
		f.problem("wrong-registry", fmt.Sprintf("The registry in your answer, %s, is not where %s comes from.", got.Registry, req.Params["image"]),
			form, registryTry(req.Params["image"], want))
	}
	if got.Account != want.Account {
		f.problem("wrong-account", fmt.Sprintf("The account in your answer, %q, is not right.", got.Account),
			form, accountTry(want))
	}
	if got.Image != want.Image {
		f.problem("wrong-image", fmt.Sprintf("The image (repository) in your answer is %q.", got.Image),
			form, "The last part of the path is the image's own name.")
	}
	if got.Tag != want.Tag || got.Digest != want.Digest {
		f.problem("wrong-tag", fmt.Sprintf("The tag in your answer, %q, is not the one that is pulled.", got.Tag),
			form, "Look for a ':' after the last '/'; a name without a tag means the tag latest.")
	}
	if f.hasProblems() {
		return f.result(""), nil
	}

	// Equivalent, but a full name spells every part out.
	w := explicitParts(answer)
	if !w.registry {
		f.problem("registry-implied", fmt.Sprintf("%q leaves the registry to the default.", answer),
			form, registryTry(req.Params["image"], want))
	}
	if !w.account && want.Account != "" {
		f.problem("account-implied", fmt.Sprintf("%q leaves the account to the default.", answer),
			form, accountTry(want))
	}
	if !w.tag && want.Digest == "" {
		f.problem("tag-implied", fmt.Sprintf("%q leaves the tag to the default.", answer),
			form, "A name without a tag is pulled with a default tag: write it out.")
	}
	if strings.HasPrefix(answer, "index.docker.io/") {
		f.advice("index-docker-io", "index.docker.io is an old alias: docker.io is how the name is written today.", "")
	}
	return f.result(want.Full + " is the full name."), nil
}

func registryTry(image string, want ImageParts) string {
	if want.Registry == "docker.io" {
		return fmt.Sprintf("%q names no registry (its first part has no '.' or ':' and is not localhost), so it is on Docker Hub: docker.io.", image)
	}
	return "The registry is the first part of the name, up to the first '/': it has a '.' or a ':' or is localhost."
}

func accountTry(want ImageParts) string {
	if want.Registry == "docker.io" && want.Account == "library" {
		return "A Docker Hub image with no account belongs to the account library."
	}
	return "The account is what stands between the registry and the image name."
}

// checkImagePart asks which part of params.image is params.part
// (registry, account, image or tag).
func checkImagePart(_ context.Context, _ *Env, req Request) (Result, error) {
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
	var f findings
	if answer == "" {
		f.problem("answer-missing", "No answer yet.", "", "Type your answer and press enter (or pass --answer on the command line).")
		return f.result(""), nil
	}
	if strings.EqualFold(answer, expected) || (part == "tag" && strings.TrimPrefix(answer, ":") == expected) {
		return f.result(fmt.Sprintf("%s is the %s of %s.", expected, part, want.Full)), nil
	}
	// Name the part the learner did give, when it is one.
	for _, other := range PartNames {
		if other != part && want.part(other) != "" && strings.EqualFold(answer, want.part(other)) {
			f.problem("wrong-part", fmt.Sprintf("%s is the %s of %s, not its %s.", answer, other, want.Full, part),
				fmt.Sprintf("the %s", part), partTry(part))
			return f.result(""), nil
		}
	}
	if part == "registry" && answer == "localhost" && strings.HasPrefix(expected, "localhost:") {
		f.problem("registry-port-missing", "The port is part of the registry's name.", "host:port",
			"Keep the host and its port together, as docker login takes them.")
		return f.result(""), nil
	}
	f.problem("wrong-answer", fmt.Sprintf("%q is not the %s of %s.", answer, part, want.Full),
		fmt.Sprintf("the %s", part), partTry(part))
	return f.result(""), nil
}

func partTry(part string) string {
	switch part {
	case "registry":
		return "The registry is the first part when it has a '.' or ':' or is localhost; otherwise it is docker.io."
	case "account":
		return "The account sits between the registry and the image name; Docker Hub's official images use library."
	case "image":
		return "The image (repository) name is the last part of the path, before the tag."
	case "tag":
		return "The tag follows the last ':' after the last '/'; none written means latest."
	}
	return ""
}
