package check

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

func init() {
	register(Definition{
		Name:   "registry.image",
		Params: []string{"repository", "tag"},
		Needs:  NeedsRegistry,
		Run:    checkPushed,
	})
}

// checkPushed passes when the registry serves repository:tag; otherwise it
// looks for the near misses learners make (another tag, another account).
func checkPushed(ctx context.Context, env *Env, req Request) (Result, error) {
	host := env.Registry.Host
	repo, tag := req.Params["repository"], req.Params["tag"]
	want := fmt.Sprintf("%s/%s:%s", host, repo, tag)
	rt, auth := env.transport(), env.adminAuth()
	var f findings

	desc, err := headManifest(ctx, rt, want, auth)
	switch {
	case err == nil:
		return f.result(fmt.Sprintf("%s is in the registry (%s).", want, desc.Digest)), nil
	case errors.Is(err, errUnauthorized):
		return Result{}, fmt.Errorf("the registry refused the sandbox's own credentials: %w", err)
	case !errors.Is(err, errNotFound):
		return Result{}, fmt.Errorf("asking the registry for %s: %w", want, err)
	}

	// The near-miss lookups are optional: registries that forbid listing
	// (Harbor, hosted ones) still get "not pushed yet".
	tags, _ := listTags(ctx, rt, host+"/"+repo, auth)
	if len(tags) > 0 {
		f.problem("push-wrong-tag", fmt.Sprintf("%s/%s is in the registry with the tag(s) %s, not %s.", host, repo, strings.Join(tags, ", "), tag),
			want, fmt.Sprintf("Tag it again and push: docker tag %s/%s:%s %s && docker push %s", host, repo, tags[0], want, want))
		return f.result(""), nil
	}

	repos, _ := catalog(ctx, rt, host, auth)
	base := path.Base(repo)
	for _, r := range repos {
		if r != repo && path.Base(r) == base {
			f.problem("push-wrong-repository", fmt.Sprintf("You pushed %s/%s, but the step asks for %s/%s.", host, r, host, repo),
				want, fmt.Sprintf("The account is part of the name: docker tag <image> %s && docker push %s", want, want))
		}
	}
	if !f.hasProblems() {
		f.problem("push-missing", fmt.Sprintf("%s is not in the registry yet.", want), want,
			fmt.Sprintf("Tag an image with the registry's name, then push it: docker tag <image> %s && docker push %s", want, want))
	}
	return f.result(""), nil
}
