package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func init() {
	Register(Definition{
		Name:     "pod.hardened",
		Tool:     RoleStaticAnalysis,
		Params:   []string{"pod"},
		Optional: []string{"file"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{Pods, Events},
		Resets:   []*Subject{PodsWithManifest, Secrets},
		Criteria: []Criterion{
			{Name: "pod", Doc: "the pod exists", Gate: true},
			{Name: "non-root", Doc: "runAsNonRoot: true applies to every container"},
			{Name: "no-escalation", Doc: "every container sets allowPrivilegeEscalation: false"},
			{Name: "read-only-root", Doc: "every container's root filesystem is read-only"},
			{Name: "capabilities", Doc: "every container drops ALL capabilities, adds none and is not privileged"},
			{Name: "resources", Doc: "every container has CPU and memory requests and limits"},
			{Name: "runs", Doc: "the hardened pod still runs (or, with no kubelet, nothing keeps it from starting)"},
		},
		Run: checkHardened,
	})
}

// PodsWithManifest are pods a step starts from whose manifest is handed
// to the learner too, as <name>.yaml in the work dir: the file to fix, as
// an exam gives one. A reset writes it again.
var PodsWithManifest = func() *Subject {
	s := *Pods
	s.Create = func(ctx context.Context, env *Env, doc []byte) error {
		var head struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil || head.Metadata.Name == "" {
			return env.Errorf("reading a pod: %v", err)
		}
		if env.WorkDir != "" {
			body := strings.TrimLeft(string(doc), "\n")
			if err := os.WriteFile(filepath.Join(env.WorkDir, head.Metadata.Name+".yaml"), []byte(body), 0o644); err != nil {
				return err
			}
		}
		return Pods.Create(ctx, env, doc)
	}
	return &s
}()

// checkHardened judges the pod the API server keeps — what was applied,
// not the file — against the settings a static analyser (kubesec,
// kube-linter) asks for, then that it still runs: the kubelet's word
// where one runs, else whether the image's user lets runAsNonRoot start it.
func checkHardened(ctx context.Context, env *Env, req Request) (Result, error) {
	ctx = withTagMemo(ctx)
	podName := req.Params["pod"]
	file := req.Param("file", podName+".yaml")
	pod, err := env.Kube.CoreV1().Pods(env.Namespace).Get(ctx, podName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		try := fmt.Sprintf("kubectl apply -f %s", file)
		return withToolAdvice(env, fail(Finding{Code: "hardened-pod-missing", Criterion: "pod",
			Problem:  env.T("No pod %s in namespace %s.", podName, env.Namespace),
			Expected: env.T("pod %s, hardened", podName), Try: env.T("Create it again from your fixed file: %s", try)}), RoleStaticAnalysis), nil
	}
	if err != nil {
		return Result{}, env.Errorf("reading pod %s: %w", podName, err)
	}
	found := hardeningFindings(env, pod)
	if hasProblem(found) {
		found = append(found, notApplied(env, pod, file, found)...)
		return withToolAdvice(env, fail(found...), RoleStaticAnalysis), nil
	}
	runs, err := stillRuns(ctx, env, pod)
	if err != nil {
		return Result{}, err
	}
	if hasProblem(runs) {
		return fail(runs...), nil
	}
	return result(env.T("Pod %s runs as non-root, without privilege escalation or capabilities, on a read-only root filesystem, within its resources.", podName), runs...), nil
}

// hardeningFindings are what a pod's spec lacks, container by container.
func hardeningFindings(env *Env, pod *corev1.Pod) []Finding {
	var found []Finding
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		where := env.T("Container %s of pod %s", c.Name, pod.Name)
		nonRoot := psc.RunAsNonRoot
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			found = append(found, Finding{Code: "hardened-root-allowed", Criterion: "non-root",
				Problem:  env.T("%s may run as root: nothing sets runAsNonRoot: true.", where),
				Expected: env.T("securityContext.runAsNonRoot: true (pod or container), with runAsUser: 65532 when the image's user is root"),
				Try:      env.T("Under the pod's spec: securityContext: {runAsNonRoot: true, runAsUser: 65532}")})
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			found = append(found, Finding{Code: "hardened-escalation-allowed", Criterion: "no-escalation",
				Problem:  env.T("%s allows privilege escalation (setuid binaries can gain root).", where),
				Expected: "allowPrivilegeEscalation: false", Try: env.T("In the container's securityContext: allowPrivilegeEscalation: false")})
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			found = append(found, Finding{Code: "hardened-root-writable", Criterion: "read-only-root",
				Problem:  env.T("%s can write to its root filesystem.", where),
				Expected: "readOnlyRootFilesystem: true",
				Try:      env.T("In the container's securityContext: readOnlyRootFilesystem: true (mount an emptyDir where the app must write)")})
		}
		if sc.Privileged != nil && *sc.Privileged {
			found = append(found, Finding{Code: "hardened-privileged", Criterion: "capabilities",
				Problem:  env.T("%s is privileged: every capability and every device of the node.", where),
				Expected: env.T("privileged: false (or left out)"), Try: env.T("Remove privileged: true.")})
		}
		dropsAll := false
		var added []string
		if sc.Capabilities != nil {
			for _, d := range sc.Capabilities.Drop {
				dropsAll = dropsAll || strings.EqualFold(string(d), "ALL")
			}
			for _, a := range sc.Capabilities.Add {
				if !strings.EqualFold(string(a), "NET_BIND_SERVICE") {
					added = append(added, string(a))
				}
			}
		}
		if !dropsAll {
			found = append(found, Finding{Code: "hardened-capabilities-kept", Criterion: "capabilities",
				Problem:  env.T("%s keeps the runtime's default capabilities.", where),
				Expected: "capabilities: {drop: [ALL]}", Try: env.T("In the container's securityContext: capabilities: {drop: [ALL]}")})
		}
		if len(added) > 0 {
			found = append(found, Finding{Code: "hardened-capabilities-added", Criterion: "capabilities",
				Problem:  env.T("%s adds capabilities: %s.", where, strings.Join(added, ", ")),
				Expected: env.T("no capabilities added"), Try: env.T("Remove capabilities.add: the app does not need them.")})
		}
		var missing []string
		for _, r := range []struct {
			list corev1.ResourceList
			kind string
		}{{c.Resources.Requests, "requests"}, {c.Resources.Limits, "limits"}} {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := r.list[name]; !ok {
					missing = append(missing, r.kind+"."+string(name))
				}
			}
		}
		if len(missing) > 0 {
			found = append(found, Finding{Code: "hardened-no-resources", Criterion: "resources",
				Problem:  env.T("%s has no %s.", where, strings.Join(missing, ", ")),
				Expected: env.T("CPU and memory requests and limits"),
				Try:      "resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {cpu: 100m, memory: 64Mi}}"})
		}
	}
	return found
}

// notApplied explains a pod that lacks what the learner's file has: the
// file was fixed, the pod was not made again from it (a pod's security
// settings cannot change in place).
func notApplied(env *Env, pod *corev1.Pod, file string, running []Finding) []Finding {
	if env.WorkDir == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(env.WorkDir, file))
	if errors.Is(err, os.ErrNotExist) || err != nil {
		return nil
	}
	var fromFile corev1.Pod
	if err := yaml.Unmarshal(data, &fromFile); err != nil || fromFile.Kind != "Pod" {
		return nil
	}
	fromFile.Name = pod.Name
	inFile := map[string]bool{}
	for _, f := range hardeningFindings(env, &fromFile) {
		inFile[f.Code] = true
	}
	var fixed []string
	criterion := ""
	for _, f := range running {
		if !inFile[f.Code] {
			fixed = append(fixed, f.Criterion)
			if criterion == "" {
				criterion = f.Criterion
			}
		}
	}
	if len(fixed) == 0 {
		return nil
	}
	return []Finding{{Code: "hardened-not-applied", Criterion: criterion,
		Problem:  env.T("%s in your work dir fixes %s, but pod %s runs without it: the file was changed, the pod was not made again from it.", file, strings.Join(appendNew(nil, fixed...), ", "), pod.Name),
		Expected: env.T("pod %s created from the fixed file", pod.Name),
		Try:      env.T("A pod's security settings cannot change in place (kubectl apply is refused): kubectl delete pod %s && kubectl apply -f %s", pod.Name, file)}}
}

// stillRuns: the kubelet's verdict on the hardened pod, or, where no
// kubelet runs, what would keep it from starting: runAsNonRoot with an
// image whose user is root or a name, and no runAsUser.
func stillRuns(ctx context.Context, env *Env, pod *corev1.Pod) ([]Finding, error) {
	if env.Kubelet {
		return kubeletRuns(env, pod), nil
	}
	var found []Finding
	for _, c := range pod.Spec.Containers {
		var uid *int64
		if pod.Spec.SecurityContext != nil {
			uid = pod.Spec.SecurityContext.RunAsUser
		}
		if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
			uid = c.SecurityContext.RunAsUser
		}
		if uid != nil {
			if *uid == 0 {
				found = append(found, Finding{Code: "hardened-would-not-start", Criterion: "runs",
					Problem:  env.T("Container %s sets runAsUser: 0 with runAsNonRoot: true: the kubelet refuses to start it.", c.Name),
					Expected: env.T("a runAsUser other than 0"), Try: "runAsUser: 65532"})
			}
			continue
		}
		repo, digest, _, err := containerDigest(ctx, env, c.Image)
		if err != nil {
			return nil, err
		}
		facts, err := factsOf(ctx, env, repo, digest)
		if err != nil {
			return nil, err
		}
		user, _, _ := strings.Cut(facts.Configs[0].Config.User, ":")
		switch {
		case user == "" || user == "0" || user == "root":
			found = append(found, Finding{Code: "hardened-would-not-start", Criterion: "runs",
				Problem:  env.T("Container %s would not start: its image runs as root, and runAsNonRoot: true forbids that (the kubelet says: container has runAsNonRoot and image will run as root).", c.Name),
				Expected: env.T("runAsUser set to a non-zero id"), Try: env.T("Add runAsUser: 65532 next to runAsNonRoot: true.")})
		case !isNumber(user):
			found = append(found, Finding{Code: "hardened-would-not-start", Criterion: "runs",
				Problem:  env.T("Container %s would not start: its image's user %q is a name, which the kubelet cannot check against runAsNonRoot.", c.Name, user),
				Expected: env.T("runAsUser set to a non-zero id"), Try: env.T("Add runAsUser: 65532 next to runAsNonRoot: true.")})
		}
	}
	if hasProblem(found) {
		return found, nil
	}
	return []Finding{{Code: "no-kubelet", Severity: Advice, Problem: env.T("No kubelet runs in this sandbox: imagelab checked that the image's user lets the container start under these settings.")}}, nil
}

func kubeletRuns(env *Env, pod *corev1.Pod) []Finding {
	var found []Finding
	for _, c := range pod.Spec.Containers {
		var cs *corev1.ContainerStatus
		for i := range pod.Status.ContainerStatuses {
			if pod.Status.ContainerStatuses[i].Name == c.Name {
				cs = &pod.Status.ContainerStatuses[i]
			}
		}
		switch {
		case cs != nil && cs.State.Running != nil:
			continue
		case cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason != "ContainerCreating":
			found = append(found, Finding{Code: "hardened-not-running", Criterion: "runs",
				Problem:  env.T("Container %s does not run: %s.", c.Name, cs.State.Waiting.Reason),
				Expected: env.T("the container running"), Evidence: cs.State.Waiting.Message,
				Try: env.T("Hardening must leave the app working: read the message, fix the file, and make the pod again.")})
		case cs != nil && cs.State.Terminated != nil:
			found = append(found, Finding{Code: "hardened-not-running", Criterion: "runs",
				Problem:  env.T("Container %s exited (%s, code %d).", c.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode),
				Expected: env.T("the container running"), Evidence: cs.State.Terminated.Message,
				Try: env.T("A read-only root filesystem breaks apps that write: mount an emptyDir where it writes.")})
		default:
			found = append(found, waitingForKubelet(env, pod, "runs", env.T("its container has not started yet"), env.T("the container running")))
		}
	}
	return found
}

// containerDigest is the repository and digest an image reference of the
// sandbox registry names now.
func containerDigest(ctx context.Context, env *Env, image string) (repo string, digest v1.Hash, how string, err error) {
	return podDigest(ctx, env, &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}})
}
