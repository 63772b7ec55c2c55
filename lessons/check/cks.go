package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	register(Definition{
		Name:     "quiz.choice",
		Params:   []string{"correct", "options"},
		Optional: []string{"explain-*"},
		Needs:    NeedsAnswer,
		Run:      checkChoice,
	})
	register(Definition{
		Name:   "serviceaccount.pull-secret",
		Params: []string{"serviceaccount", "secret"},
		Needs:  NeedsCluster,
		Run:    checkServiceAccountSecret,
	})
	register(Definition{
		Name:     "pod.digest",
		Params:   []string{"pod", "repository", "tag"},
		Optional: []string{"secret"},
		Needs:    NeedsCluster | NeedsRegistry,
		Run:      checkPinnedByDigest,
	})
}

// checkChoice grades a multiple-choice answer; params explain-<option>
// say why an option is wrong (or right).
func checkChoice(_ context.Context, _ *Env, req Request) (Result, error) {
	options := strings.Split(req.Params["options"], ",")
	for i := range options {
		options[i] = strings.ToLower(strings.TrimSpace(options[i]))
	}
	correct := strings.ToLower(req.Params["correct"])
	answer := strings.ToLower(strings.Trim(strings.TrimSpace(req.Answer), "().) "))
	var f findings
	switch {
	case answer == "":
		f.problem("answer-missing", "No answer yet.", "one of "+strings.Join(options, ", "), "Type the letter of your choice and press enter (or pass --answer).")
	case !slices.Contains(options, answer):
		f.problem("answer-not-an-option", fmt.Sprintf("%q is not one of the options.", req.Answer), "one of "+strings.Join(options, ", "), "Answer with the option's letter.")
	case answer != correct:
		f.problem("wrong-choice", fmt.Sprintf("%s is not right.", answer), "", req.Params["explain-"+answer])
	}
	return f.result(req.Params["explain-"+correct]), nil
}

// checkServiceAccountSecret passes when the service account lists the pull
// secret, which then reaches every pod created with it.
func checkServiceAccountSecret(ctx context.Context, env *Env, req Request) (Result, error) {
	saName, secretName := req.Params["serviceaccount"], req.Params["secret"]
	var f findings
	sa, err := env.Kube.CoreV1().ServiceAccounts(env.Namespace).Get(ctx, saName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		f.problem("serviceaccount-missing", fmt.Sprintf("No service account %s in namespace %s yet.", saName, env.Namespace),
			"service account "+saName, "kubectl create serviceaccount "+saName)
		return f.result(""), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading service account %s: %w", saName, err)
	}
	names := make([]string, 0, len(sa.ImagePullSecrets))
	for _, s := range sa.ImagePullSecrets {
		names = append(names, s.Name)
	}
	patch := fmt.Sprintf(`kubectl patch serviceaccount %s -p '{"imagePullSecrets": [{"name": "%s"}]}'`, saName, secretName)
	if !slices.Contains(names, secretName) {
		if slices.ContainsFunc(sa.Secrets, func(r corev1.ObjectReference) bool { return r.Name == secretName }) {
			f.problem("serviceaccount-secret-in-secrets", fmt.Sprintf("Service account %s lists %s under secrets, which is for mounted tokens, not pulls.", saName, secretName),
				"imagePullSecrets: [{name: "+secretName+"}]", patch)
		} else {
			f.problem("serviceaccount-no-pull-secret", fmt.Sprintf("Service account %s has no imagePullSecrets naming %s (it has: %s).", saName, secretName, listOrNone(names)),
				"imagePullSecrets: [{name: "+secretName+"}]", patch)
		}
		return f.result(""), nil
	}
	if _, err := env.Kube.CoreV1().Secrets(env.Namespace).Get(ctx, secretName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if err := missingSecret(ctx, env, secretName, &f); err != nil {
			return Result{}, err
		}
	} else if err != nil {
		return Result{}, err
	}
	return f.result(fmt.Sprintf("Service account %s hands %s to every pod created with it.", saName, secretName)), nil
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// checkPinnedByDigest passes when the pod names its image by the digest the
// registry serves for repository:tag, and can pull it.
func checkPinnedByDigest(ctx context.Context, env *Env, req Request) (Result, error) {
	podName, repo, tag := req.Params["pod"], req.Params["repository"], req.Params["tag"]
	tagged := fmt.Sprintf("%s/%s:%s", env.Registry.Host, repo, tag)
	desc, err := headManifest(ctx, env.transport(), tagged, env.adminAuth())
	if errors.Is(err, errNotFound) {
		return Result{}, fmt.Errorf("%s is not in the registry: the sandbox is incomplete (imagelab up seeds it): %w", tagged, err)
	}
	if err != nil {
		return Result{}, fmt.Errorf("asking the registry for %s: %w", tagged, err)
	}
	pinned := fmt.Sprintf("%s/%s@%s", env.Registry.Host, repo, desc.Digest)

	var f findings
	pod, err := env.Kube.CoreV1().Pods(env.Namespace).Get(ctx, podName, metav1.GetOptions{})
	if err == nil {
		for _, c := range pod.Spec.Containers {
			got, err := SplitImage(c.Image)
			if err != nil || got.Repository() != env.Registry.Host+"/"+repo {
				continue
			}
			switch {
			case got.Digest == "":
				f.problem("pod-image-not-pinned", fmt.Sprintf("Pod %s names %s by tag: the tag can be moved to other content at any time.", podName, c.Image),
					pinned, "Find the digest (crane digest, docker inspect, or the registry), then use image: "+pinned)
				return f.result(""), nil
			case got.Digest != desc.Digest.String():
				f.problem("pod-digest-mismatch", fmt.Sprintf("Pod %s pins %s, but %s is %s now.", podName, got.Digest, tagged, desc.Digest),
					pinned, "Copy the digest again: it is the sha256 of the manifest, not of the image config or a layer.")
				return f.result(""), nil
			}
		}
	}
	res, err := checkPulled(ctx, env, Request{Params: map[string]string{"pod": podName, "image": pinned, "secret": req.Param("secret", "regcred")}})
	if err != nil || !res.Passed {
		return res, err
	}
	res.Summary = fmt.Sprintf("Pod %s runs %s by digest: the registry can't hand it other content.", podName, pinned)
	return res, nil
}
