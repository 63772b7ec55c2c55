package check

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagelab/imagelab/internal/labimages"
)

func init() {
	Register(Definition{
		Name: "image.scan",
		Tool: RoleScanner,
		// pods: name=repository:tag,… — the pods the step starts from and
		// the image each was made with.
		Params:   []string{"pods"},
		Optional: []string{"severity"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{Pods},
		Resets:   []*Subject{Pods, Secrets, LabImages},
		Criteria: []Criterion{
			{Name: "critical-removed", Doc: "no pod runs an image with a vulnerability of the severity asked for"},
			{Name: "clean-kept", Doc: "every pod whose image has none still runs"},
		},
		Run: checkScan,
	})
}

// scanPod is one pod of the step and the image it was made with.
type scanPod struct {
	pod, repo, tag string
}

func parseScanPods(s string) ([]scanPod, error) {
	var out []scanPod
	for _, item := range strings.Split(s, ",") {
		podName, image, ok := strings.Cut(strings.TrimSpace(item), "=")
		repo, tag, ok2 := strings.Cut(image, ":")
		if !ok || !ok2 || podName == "" {
			return nil, fmt.Errorf("lesson parameter pods: %q is not pod=repository:tag", item)
		}
		out = append(out, scanPod{pod: podName, repo: repo, tag: tag})
	}
	return out, nil
}

// checkScan passes when the pods whose images have a vulnerability of the
// severity asked for (CRITICAL) are gone and the others remain. Each pod
// is judged by the digest it runs — the kubelet's image ID where a
// kubelet runs, else the digest its image names now — and each digest by
// what the image holds (its package database against the advisories
// imagelab knows), read once per digest: no scanner runs, and nothing the
// learner's scanner printed is trusted.
func checkScan(ctx context.Context, env *Env, req Request) (Result, error) {
	ctx = withTagMemo(ctx)
	pods, err := parseScanPods(req.Params["pods"])
	if err != nil {
		return Result{}, err
	}
	severity := strings.ToUpper(req.Param("severity", "CRITICAL"))
	list, err := env.Kube.CoreV1().Pods(env.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return Result{}, env.Errorf("listing pods in %s: %w", env.Namespace, err)
	}
	running := map[string]*corev1.Pod{}
	for i := range list.Items {
		running[list.Items[i].Name] = &list.Items[i]
	}
	// Ask the registry for every tag at once (the run's memo keeps the
	// answers); errors come again, in order, below.
	var wg sync.WaitGroup
	for _, sp := range pods {
		wg.Go(func() { _, _ = tagDigest(ctx, env, sp.repo, sp.tag) })
		if p := running[sp.pod]; p != nil && len(p.Spec.Containers) > 0 {
			if parts, err := SplitImage(p.Spec.Containers[0].Image); err == nil && parts.Digest == "" {
				wg.Go(func() { _, _, _, _ = podDigest(ctx, env, p) })
			}
		}
	}
	wg.Wait()
	var found []Finding
	var removed, kept []string
	for _, sp := range pods {
		// The image the pod was made with, as the registry serves it now.
		orig, err := tagDigest(ctx, env, sp.repo, sp.tag)
		if errors.Is(err, errNotFound) {
			return Result{}, env.Errorf("%s:%s is not in the registry: the step's images are missing (imagelab reset puts them back): %w", env.Registry.Repo(sp.repo), sp.tag, err)
		}
		if err != nil {
			return Result{}, err
		}
		origFacts, err := factsOf(ctx, env, sp.repo, orig)
		if err != nil {
			return Result{}, err
		}
		origVulns := atSeverity(origFacts.Contents.Vulnerabilities(), severity)
		pod, ok := running[sp.pod]
		if !ok || pod.DeletionTimestamp != nil {
			if len(origVulns) > 0 {
				removed = append(removed, sp.pod)
				continue
			}
			found = append(found, Finding{Code: "scan-clean-deleted", Criterion: "clean-kept",
				Problem:  env.T("Pod %s is gone, but its image %s:%s (%s) has no %s vulnerability.", sp.pod, env.Registry.Repo(sp.repo), sp.tag, short(orig), severity),
				Expected: env.T("pod %s running", sp.pod),
				Try:      env.T("Delete only the pods a scan of their own image condemns. imagelab reset on this step brings every pod back.")})
			continue
		}
		repo, digest, how, err := podDigest(ctx, env, pod)
		if err != nil {
			return Result{}, err
		}
		facts, err := factsOf(ctx, env, repo, digest)
		if err != nil {
			return Result{}, err
		}
		vulns := atSeverity(facts.Contents.Vulnerabilities(), severity)
		if len(vulns) == 0 {
			kept = append(kept, sp.pod)
			continue
		}
		found = append(found, criticalRunning(ctx, env, sp, pod, repo, digest, how, vulns, severity))
	}
	if hasProblem(found) {
		return withToolAdvice(env, fail(found...), RoleScanner), nil
	}
	return result(env.T("Removed: %s (their images have %s vulnerabilities); still running: %s.", listOrNone(env, removed), severity, listOrNone(env, kept)), found...), nil
}

// criticalRunning explains a pod that still runs a condemned image: when
// another tag of its repository is clean, the learner most likely scanned
// that one (the repository without a tag is :latest).
func criticalRunning(ctx context.Context, env *Env, sp scanPod, pod *corev1.Pod, repo string, digest v1.Hash, how string, vulns []labimages.Vulnerability, severity string) Finding {
	evidence := describeVulns(vulns)
	image := pod.Spec.Containers[0].Image
	own := ""
	if parts, err := SplitImage(image); err == nil && parts.Digest == "" {
		own = parts.Tag
		if now, err := tagDigest(ctx, env, repo, own); err == nil && now != digest {
			return Finding{Code: "scan-critical-running", Criterion: "critical-removed",
				Problem: env.T("Pod %s runs %s (%s, %s), which has a %s vulnerability. The tag names another image now (%s), so a scan of the tag says nothing about this pod.",
					sp.pod, image, short(digest), how, severity, short(now)),
				Expected: env.T("pod %s deleted", sp.pod), Evidence: evidence,
				Try: env.T("The node keeps running what it pulled: kubectl delete pod %s.", sp.pod)}
		}
	}
	tags, _ := listTags(ctx, env.transport(), env.Registry.Repo(repo), env.adminAuth())
	sort.Strings(tags)
	for _, t := range tags {
		if strings.HasPrefix(t, "sha256-") || t == own {
			continue
		}
		d, err := tagDigest(ctx, env, repo, t)
		if err != nil || d == digest {
			continue
		}
		other, err := factsOf(ctx, env, repo, d)
		if err != nil || len(atSeverity(other.Contents.Vulnerabilities(), severity)) > 0 {
			continue
		}
		called := fmt.Sprintf("%s:%s", env.Registry.Repo(repo), t)
		if t == "latest" {
			called = env.T("%s (no tag means :latest)", env.Registry.Repo(repo))
		}
		return Finding{Code: "scan-wrong-tag", Criterion: "critical-removed",
			Problem: env.T("Pod %s runs %s (%s, %s), which has a %s vulnerability. A scan of %s finds none — but that is another image (%s).",
				sp.pod, image, short(digest), how, severity, called, short(d)),
			Expected: env.T("pod %s deleted", sp.pod), Evidence: evidence,
			Try: env.T("Scan the image the pod runs, as the pod names it: trivy image --severity %s %s — then kubectl delete pod %s.", severity, image, sp.pod)}
	}
	return Finding{Code: "scan-critical-running", Criterion: "critical-removed",
		Problem:  env.T("Pod %s runs %s (%s, %s), which has a %s vulnerability.", sp.pod, image, short(digest), how, severity),
		Expected: env.T("pod %s deleted", sp.pod), Evidence: evidence,
		Try: env.T("trivy image --severity %s %s shows it; delete the pod: kubectl delete pod %s.", severity, image, sp.pod)}
}

// podDigest is the repository and digest a pod's first container runs:
// the kubelet's image ID where it has pulled, else the digest the image
// names (by digest, or what its tag names now).
func podDigest(ctx context.Context, env *Env, pod *corev1.Pod) (repo string, digest v1.Hash, how string, err error) {
	if len(pod.Spec.Containers) == 0 {
		return "", v1.Hash{}, "", env.Errorf("pod %s has no container", pod.Name)
	}
	c := pod.Spec.Containers[0]
	parts, err := SplitImage(c.Image)
	if err != nil {
		return "", v1.Hash{}, "", env.Errorf("pod %s's image %q: %w", pod.Name, c.Image, err)
	}
	repo, ok := strings.CutPrefix(parts.Repository(), parts.Registry+"/")
	if env.Registry.Prefix != "" {
		repo, ok = strings.CutPrefix(repo, env.Registry.Prefix+"/")
	}
	if !sameRegistryHost(parts.Registry, env.Registry.Host) || !ok {
		return "", v1.Hash{}, "", env.Errorf("pod %s's image %s is not from the sandbox registry's %s", pod.Name, c.Image, env.Registry.Repos())
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == c.Name {
			if _, hex, ok := strings.Cut(cs.ImageID, "@sha256:"); ok {
				if h, err := v1.NewHash("sha256:" + hex); err == nil {
					return repo, h, env.T("the digest the kubelet pulled"), nil
				}
			}
		}
	}
	if parts.Digest != "" {
		h, err := v1.NewHash(parts.Digest)
		return repo, h, env.T("named by digest"), err
	}
	h, err := tagDigest(ctx, env, repo, parts.Tag)
	if err != nil {
		return "", v1.Hash{}, "", env.Errorf("asking the registry for %s: %w", c.Image, err)
	}
	return repo, h, env.T("what its tag names now"), nil
}

func atSeverity(vs []labimages.Vulnerability, severity string) []labimages.Vulnerability {
	var out []labimages.Vulnerability
	for _, v := range vs {
		if v.Severity == severity {
			out = append(out, v)
		}
	}
	return out
}

func describeVulns(vs []labimages.Vulnerability) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s (%s) in %s %s, fixed in %s: %s", v.ID, v.Severity, v.Package, v.Installed, v.Fixed, v.Title)
	}
	return strings.Join(out, "\n")
}
