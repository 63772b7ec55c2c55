package check

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

func init() {
	Register(Definition{
		Name:     "registry.image",
		Params:   []string{"repository", "tag"},
		Needs:    NeedsRegistry,
		Watches:  []*Subject{RegistryRepository},
		Resets:   []*Subject{RegistryRepository},
		Criteria: []Criterion{{Name: "pushed", Doc: "the registry serves repository:tag"}},
		Run:      checkPushed,
	})
}

// checkPushed passes when the registry serves repository:tag; otherwise it
// looks for the near misses learners make (another tag, another account).
func checkPushed(ctx context.Context, env *Env, req Request) (Result, error) {
	repo, tag := req.Params["repository"], req.Params["tag"]
	want := fmt.Sprintf("%s:%s", env.Registry.Repo(repo), tag)
	rt, auth := env.transport(), env.adminAuth()

	desc, err := headManifest(ctx, rt, want, auth)
	switch {
	case err == nil:
		return result(env.T("%s is in the registry (%s).", want, desc.Digest)), nil
	case errors.Is(err, errUnauthorized):
		return Result{}, env.Errorf("the registry refused the sandbox's own credentials: %w", err)
	case !errors.Is(err, errNotFound):
		return Result{}, env.Errorf("asking the registry for %s: %w", want, err)
	}
	return fail(nearMisses(ctx, env, repo, tag)...), nil
}

// nearMisses explains an image that is not in the registry: pushed with
// another tag, or under another account, or not pushed at all. The
// lookups are optional: registries that forbid listing (Harbor, hosted
// ones) still get "not pushed yet".
func nearMisses(ctx context.Context, env *Env, repo, tag string) []Finding {
	host, full := env.Registry.Host, env.Registry.Repo(repo)
	want := fmt.Sprintf("%s:%s", full, tag)
	rt, auth := env.transport(), env.adminAuth()
	if tags, _ := listTags(ctx, rt, full, auth); len(tags) > 0 {
		return []Finding{{Code: "push-wrong-tag", Criterion: "pushed",
			Problem:  env.T("%s is in the registry with the tag(s) %s, not %s.", full, strings.Join(tags, ", "), tag),
			Expected: want, Try: env.T("Tag it again and push: docker tag %s:%s %s && docker push %s", full, tags[0], want, want)}}
	}
	var found []Finding
	// A shared registry's catalog is its admin's: the learner's own
	// credentials are refused it, and then there is nothing to compare.
	repos, _ := catalog(ctx, rt, host, auth)
	for _, r := range repos {
		if r != env.Registry.Path(repo) && path.Base(r) == path.Base(repo) {
			found = append(found, Finding{Code: "push-wrong-repository", Criterion: "pushed",
				Problem:  env.T("You pushed %s/%s, but the step asks for %s.", host, r, full),
				Expected: want, Try: env.T("The account is part of the name: docker tag <image> %s && docker push %s", want, want)})
		}
	}
	if len(found) == 0 {
		found = append(found, Finding{Code: "push-missing", Criterion: "pushed", Problem: env.T("%s is not in the registry yet.", want), Expected: want,
			Try: env.T("Tag an image with the registry's name, then push it: docker tag <image> %s && docker push %s", want, want)})
	}
	return found
}
