package check

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func init() {
	Register(Definition{
		Name:    "image.minimal",
		Params:  []string{"repository", "tag", "base", "max-size"},
		Needs:   NeedsRegistry,
		Watches: []*Subject{RegistryRepository},
		Resets:  []*Subject{RegistryRepository, LabImages},
		Criteria: []Criterion{
			{Name: "pushed", Doc: "the registry serves repository:tag", Gate: true},
			{Name: "non-root", Doc: "its config runs it as a numeric user other than 0"},
			{Name: "no-shell", Doc: "none of its layers holds a shell"},
			{Name: "size", Doc: "its layers and config together stay under the limit"},
			{Name: "base", Doc: "it is built on the lesson's base image and records that base by digest"},
			{Name: "no-secrets", Doc: "no secret in its ENV or its build history"},
		},
		Run: checkMinimal,
	})
}

// BaseDigestLabel is where an image records the digest of its base (the
// OCI annotation key, as a label or a manifest annotation): a build that
// pins FROM by digest says so here, since the FROM line itself is not in
// the image.
const BaseDigestLabel = "org.opencontainers.image.base.digest"

// secretName matches ENV names that hold a secret, and KEY=value pairs of
// them in a build history line.
var (
	secretName       = regexp.MustCompile(`(?i)(token|secret|passw|api_?key|credential|private_?key)`)
	secretAssignment = regexp.MustCompile(`(?i)\b[A-Z0-9_]*(token|secret|passw|api_?key|credential|private_?key)[A-Z0-9_]*\s*=\s*[^\s"']{4,}`)
)

// checkMinimal judges the image the registry serves as repository:tag
// from its manifest, config and files: numeric non-root user, no shell in
// any layer, size, built on the base (its layers first, its digest
// recorded), no secret in ENV or history.
func checkMinimal(ctx context.Context, env *Env, req Request) (Result, error) {
	ctx = withTagMemo(ctx)
	repo, tag := req.Params["repository"], req.Params["tag"]
	baseRepo, baseTag, ok := strings.Cut(req.Params["base"], ":")
	if !ok {
		return Result{}, fmt.Errorf("lesson parameter base %q is not repository:tag", req.Params["base"])
	}
	limit, err := resource.ParseQuantity(req.Params["max-size"])
	if err != nil {
		return Result{}, fmt.Errorf("lesson parameter max-size: %w", err)
	}
	want := fmt.Sprintf("%s:%s", env.Registry.Repo(repo), tag)
	digest, err := tagDigest(ctx, env, repo, tag)
	switch {
	case errors.Is(err, errNotFound):
		return fail(chargedTo("pushed", nearMisses(ctx, env, repo, tag))...), nil
	case err != nil:
		return Result{}, env.Errorf("asking the registry for %s: %w", want, err)
	}
	facts, err := factsOf(ctx, env, repo, digest)
	if err != nil {
		return Result{}, err
	}
	baseDigest, err := tagDigest(ctx, env, baseRepo, baseTag)
	if err != nil {
		return Result{}, env.Errorf("the base %s:%s is not in the registry (imagelab reset on this step pushes it): %w", env.Registry.Repo(baseRepo), baseTag, err)
	}
	base, err := factsOf(ctx, env, baseRepo, baseDigest)
	if err != nil {
		return Result{}, err
	}

	var found []Finding
	cf := facts.Configs[0]
	found = append(found, judgeUser(env, want, cf.Config.User)...)
	if len(facts.Contents.Shells) > 0 {
		found = append(found, Finding{Code: "minimal-has-shell", Criterion: "no-shell",
			Problem:  env.T("%s has a shell: /%s.", want, strings.Join(facts.Contents.Shells, ", /")),
			Expected: env.T("no shell in any layer (an attacker who gets in has nothing to run)"),
			Try:      env.T("Build on the shell-less base %s:%s instead of an image with a shell.", env.Registry.Repo(baseRepo), baseTag)})
	}
	if facts.Size > limit.Value() {
		found = append(found, Finding{Code: "minimal-too-big", Criterion: "size",
			Problem:  env.T("%s is %s (compressed layers and config), over the limit of %s.", want, humanBytes(facts.Size), humanBytes(limit.Value())),
			Expected: env.T("at most %s", humanBytes(limit.Value())),
			Try:      env.T("Start from the small base and copy in only what the app needs (a multi-stage build leaves build tools behind).")})
	}
	found = append(found, judgeBase(env, facts, base, want, fmt.Sprintf("%s:%s", env.Registry.Repo(baseRepo), baseTag), baseDigest)...)
	found = append(found, judgeSecrets(env, want, facts)...)
	if hasProblem(found) {
		return fail(found...), nil
	}
	return result(env.T("%s (%s) runs as user %s, has no shell, is %s, is built on %s by digest and carries no secret.",
		want, short(digest), cf.Config.User, humanBytes(facts.Size), short(baseDigest)), found...), nil
}

// judgeUser wants a numeric user other than root: Kubernetes'
// runAsNonRoot can only verify a number.
func judgeUser(env *Env, image, user string) []Finding {
	name, _, _ := strings.Cut(user, ":")
	switch {
	case name == "" || name == "0" || name == "root":
		what := env.T("root")
		if user == "" {
			what = env.T("root (no USER)")
		}
		return []Finding{{Code: "minimal-runs-as-root", Criterion: "non-root",
			Problem:  env.T("%s runs as %s.", image, what),
			Expected: env.T("USER 65532:65532 (any number but 0)"),
			Try:      env.T("Add USER 65532:65532 to the Dockerfile: the base has a nonroot user with that id.")}}
	case !isNumber(name):
		return []Finding{{Code: "minimal-user-not-numeric", Criterion: "non-root",
			Problem:  env.T("%s runs as the user %q: a name the kubelet cannot check against runAsNonRoot (it refuses to start the container).", image, user),
			Expected: env.T("a numeric user: USER 65532:65532"),
			Try:      env.T("Write the id, not the name: USER 65532:65532.")}}
	}
	return nil
}

func isNumber(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// judgeBase wants the image built on the base (the base's layers first)
// and the base's digest recorded in the image.
func judgeBase(env *Env, facts, base *imageFacts, image, baseName string, baseDigest v1.Hash) []Finding {
	onBase := false
	for _, ids := range facts.DiffIDs {
		for _, bids := range base.DiffIDs {
			if len(ids) >= len(bids) && slices.Equal(ids[:len(bids)], bids) {
				onBase = true
			}
		}
	}
	if !onBase {
		return []Finding{{Code: "minimal-not-on-base", Criterion: "base",
			Problem:  env.T("%s is not built on %s: its first layers are not the base's.", image, baseName),
			Expected: env.T("FROM %s pinned by digest", baseName),
			Try:      fmt.Sprintf("FROM %s@%s", baseRepoName(baseName), baseDigest)}}
	}
	recorded := facts.Annotations[BaseDigestLabel]
	for _, cf := range facts.Configs {
		if v := cf.Config.Labels[BaseDigestLabel]; v != "" {
			recorded = v
		}
	}
	from := fmt.Sprintf("%s@%s", baseRepoName(baseName), baseDigest)
	switch {
	case recorded == "":
		return []Finding{{Code: "minimal-base-not-recorded", Criterion: "base",
			Problem:  env.T("%s is built on %s, but does not say by which digest: the FROM line is not part of the image.", image, baseName),
			Expected: env.T("the label %s=%s", BaseDigestLabel, baseDigest),
			Try:      env.T("Pin FROM and record it: ARG BASE=%s, FROM ${BASE}, LABEL %s=%s", from, BaseDigestLabel, baseDigest)}}
	case !base.names(strings.TrimPrefix(recorded, "sha256:")):
		return []Finding{{Code: "minimal-base-digest-mismatch", Criterion: "base",
			Problem:  env.T("%s records its base as %s, but %s is %s.", image, recorded, baseName, baseDigest),
			Expected: fmt.Sprintf("%s=%s", BaseDigestLabel, baseDigest),
			Try:      env.T("Copy the digest again (crane digest, or the Docker-Content-Digest header): it is the manifest's, not the config's.")}}
	}
	return nil
}

func baseRepoName(baseName string) string {
	i := strings.LastIndex(baseName, ":")
	if i < 0 || strings.Contains(baseName[i:], "/") {
		return baseName
	}
	return baseName[:i]
}

// judgeSecrets looks for secrets in the config's ENV and in the build
// history (an ENV or ARG value is recorded there even when a later step
// unsets it).
func judgeSecrets(env *Env, image string, facts *imageFacts) []Finding {
	var found []Finding
	for _, cf := range facts.Configs {
		for _, e := range cf.Config.Env {
			k, v, _ := strings.Cut(e, "=")
			if v != "" && secretName.MatchString(k) {
				found = append(found, Finding{Code: "minimal-secret-in-env", Criterion: "no-secrets",
					Problem:  env.T("%s carries %s in its ENV: anyone who can pull it can read it (docker inspect).", image, k),
					Expected: env.T("no secret in the image"),
					Try:      env.T("Leave the ENV line out; give the app its secret at run time (a Kubernetes Secret as an env var or a file).")})
			}
		}
		for _, h := range cf.History {
			if m := secretAssignment.FindString(h.CreatedBy); m != "" {
				k, _, _ := strings.Cut(m, "=")
				found = append(found, Finding{Code: "minimal-secret-in-history", Criterion: "no-secrets",
					Problem:  env.T("%s's build history records %s with its value (docker history --no-trunc shows it).", image, strings.TrimSpace(k)),
					Expected: env.T("no secret in the build history"),
					Try:      env.T("A value set by ENV or ARG stays in the history even if a later line removes it: build without it (BuildKit: RUN --mount=type=secret).")})
			}
		}
		if len(found) > 0 {
			break // one platform says it all
		}
	}
	return found
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
