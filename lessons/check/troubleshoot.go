package check

import (
	"context"
)

func init() {
	Register(Definition{
		Name:     "pod.troubleshoot",
		Params:   []string{"pod", "image"},
		Optional: []string{"secret"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{Pods, Events, Secrets, ServiceAccounts, Deployments},
		Resets:   []*Subject{Pods, Secrets, ServiceAccounts},
		Criteria: pulledCriteria,
		Run:      checkTroubleshoot,
	})
}

// What a troubleshooting step says while the pod does not run: where to
// look, not what is wrong. Finding the cause from the cluster's own words
// is the exercise; hints and the solution are there on request.
func troubleshootHint(env *Env, criterion string) string {
	switch criterion {
	case "pod":
		return env.T("kubectl get pods shows what runs; the pod's spec (kubectl get pod -o yaml) what it was asked to run.")
	case "serviceaccount":
		return env.T("Which service account does the pod run as, and what does that account hand its pods?")
	case "pull-secret":
		return env.T("kubectl describe pod shows the kubelet's events at the bottom; compare the secrets the pod names with the secrets that exist, and what is inside them.")
	case "pulled":
		return env.T("kubectl describe pod: the kubelet's last events say what it tried and what the registry answered.")
	}
	return ""
}

// checkTroubleshoot judges as pod.pulled does, but keeps its diagnosis to
// itself: each criterion not met says where to look, with the kubelet's
// own words when there are any.
func checkTroubleshoot(ctx context.Context, env *Env, req Request) (Result, error) {
	res, err := checkPulled(ctx, env, req)
	if err != nil || res.Passed {
		return res, err
	}
	podName := req.Params["pod"]
	var out []Finding
	seen := map[string]bool{}
	for _, f := range res.Problems() {
		if seen[f.Criterion] {
			continue
		}
		seen[f.Criterion] = true
		out = append(out, Finding{Code: "troubleshoot-" + f.Criterion, Criterion: f.Criterion, Evidence: f.Evidence,
			Problem: env.T("%s does not run yet: something about %s is still wrong.", podName, criterionWords(env, f.Criterion)),
			Try:     troubleshootHint(env, f.Criterion)})
	}
	return fail(out...), nil
}

func criterionWords(env *Env, c string) string {
	switch c {
	case "pod":
		return env.T("the pod itself")
	case "serviceaccount":
		return env.T("its service account")
	case "pull-secret":
		return env.T("the credentials it pulls with")
	}
	return env.T("the pull")
}
