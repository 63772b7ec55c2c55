package check

// The registry allowlist step's probes: dry-run creates and how the API server answered them.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// The images the probes run. Docker Hub's are never pulled: the probes are
// dry runs.
const (
	dockerHubImage  = "docker.io/library/nginx:1.27"
	shortNameImage  = "nginx:1.27"
	dockerHubInit   = "docker.io/library/busybox:1.36"
	lookAlikeSuffix = ".evil.example"
)

// probe is one object the API server is asked to admit (a dry run): a pod
// or a Deployment that differs from the others only in one image.
type probe struct {
	name      string // the object's name
	criterion string
	admit     bool   // the API server should admit it
	what      string // for the learner: "a pod whose container runs …"
	image     string // the image that decides
	init      bool   // the image is the init container's
	deploy    bool   // a Deployment rather than a pod
	private   string // the private image, for the other containers
}

// answer is what the API server said to a probe.
type answer struct {
	probe
	admitted bool
	// byPolicy: the refusal came from a ValidatingAdmissionPolicy.
	byPolicy bool
	// said is the refusal: from "ValidatingAdmissionPolicy '…" on when a
	// policy refused, the whole message otherwise.
	said     string
	warnings []string
}

var policyRefusal = regexp.MustCompile(`ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')?`)

// lookAlikes are registries whose names begin like reg's: reg with a digit
// more in its port (localhost:50010), or reg as the start of another host
// (registry.example.com.evil.example); only valid image names are kept.
func lookAlikes(reg, repo string) []string {
	var out []string
	for _, host := range []string{reg + "0", reg + lookAlikeSuffix} {
		if p, err := SplitImage(host + "/" + repo); err == nil && p.Registry == host {
			out = append(out, host+"/"+repo)
		}
	}
	return out
}

func registryProbes(env *Env, private string, parts ImageParts) []probe {
	repo := strings.TrimPrefix(private, parts.Registry+"/")
	ps := []probe{
		{name: "imagelab-probe-docker-io", criterion: "docker-io", what: env.T("a pod whose container runs %s", dockerHubImage), image: dockerHubImage},
		{name: "imagelab-probe-short-name", criterion: "docker-io", what: env.T("a pod whose container runs %s (a short name: the runtime pulls it from Docker Hub)", shortNameImage), image: shortNameImage},
		{name: "imagelab-probe-private", criterion: "private", admit: true, what: env.T("a pod whose container runs %s", private), image: private},
		{name: "imagelab-probe-private-deploy", criterion: "private", admit: true, deploy: true, what: env.T("a Deployment whose pod template runs %s", private), image: private},
		{name: "imagelab-probe-init", criterion: "init-containers", init: true, what: env.T("a pod whose init container runs %s (its container runs %s)", dockerHubInit, private), image: dockerHubInit},
		{name: "imagelab-probe-deploy", criterion: "deployments", deploy: true, what: env.T("a Deployment whose pod template runs %s", dockerHubImage), image: dockerHubImage},
	}
	for i, img := range lookAlikes(parts.Registry, repo) {
		ps = append(ps, probe{name: fmt.Sprintf("imagelab-probe-look-alike-%d", i+1), criterion: "look-alike", what: env.T("a pod whose container runs %s", img), image: img})
	}
	for i := range ps {
		ps[i].private = private
	}
	return ps
}

// podSpec is the probes' pod: restricted by Pod Security's rules and with
// resource limits, so that nothing but its image gives a reason to refuse it.
func (p probe) podSpec() corev1.PodSpec {
	yes, no := true, false
	c := func(name, image string) corev1.Container {
		return corev1.Container{Name: name, Image: image,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
	}
	spec := corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers:      []corev1.Container{c("app", p.image)},
	}
	if p.init {
		spec.Containers = []corev1.Container{c("app", p.private)}
		spec.InitContainers = []corev1.Container{c("init", p.image)}
	}
	return spec
}

// ask sends the probe to the API server as a dry run and reads its answer.
// An error means the API server could not be asked.
func (p probe) ask(ctx context.Context, env *Env) (answer, error) {
	lbl := map[string]string{"app.kubernetes.io/name": p.name, "app.kubernetes.io/managed-by": "imagelab"}
	meta := metav1.ObjectMeta{Name: p.name, Namespace: env.Namespace, Labels: lbl}
	var rc rest.Interface
	var obj runtime.Object
	kind := "pods"
	if p.deploy {
		rc, kind = env.Kube.AppsV1().RESTClient(), "deployments"
		obj = &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: lbl},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: p.podSpec()}}}
	} else {
		rc = env.Kube.CoreV1().RESTClient()
		obj = &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: meta, Spec: p.podSpec()}
	}
	var w warnings
	err := rc.Post().Namespace(env.Namespace).Resource(kind).
		VersionedParams(&metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}, scheme.ParameterCodec).
		Body(obj).WarningHandler(&w).Do(ctx).Error()
	return read(p, err, w.list)
}

// read turns the API server's reply into an answer; an error that is not
// the API server's answer (a broken connection) is returned as an error.
func read(p probe, err error, warned []string) (answer, error) {
	a := answer{probe: p, warnings: warned}
	if err == nil || apierrors.IsAlreadyExists(err) {
		a.admitted = true
		return a, nil
	}
	if !isAPIAnswer(err) {
		return answer{}, fmt.Errorf("asking the API server to admit %s: %w", p.what, err)
	}
	a.said = err.Error()
	if i := strings.Index(a.said, "ValidatingAdmissionPolicy '"); i >= 0 {
		a.byPolicy, a.said = true, a.said[i:]
	}
	return a, nil
}

// isAPIAnswer reports whether err is the API server's answer (a refusal),
// rather than a failure to reach it.
func isAPIAnswer(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}

// warnings collects the warnings the API server sends with a reply (a
// binding with validationActions [Warn] speaks only through them).
type warnings struct{ list []string }

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) { w.list = append(w.list, text) }

// who names the policy and binding a refusal came from.
func (a answer) who() string {
	m := policyRefusal.FindStringSubmatch(a.said)
	switch {
	case m == nil:
		return ""
	case m[2] == "":
		return fmt.Sprintf("ValidatingAdmissionPolicy %s", m[1])
	}
	return fmt.Sprintf("ValidatingAdmissionPolicy %s (binding %s)", m[1], m[2])
}

// evidence is what the API server said to the probe: its refusal, or the
// warnings it admitted it with.
func (a answer) evidence() string {
	if !a.admitted {
		return a.said
	}
	return strings.Join(a.warnings, "\n")
}
