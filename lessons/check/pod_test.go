package check

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/imagelab/imagelab/internal/testenv"
)

// A fake clientset is enough here: these tests are about reading pod
// status, events and secrets the way the kubelet reports and reads them;
// the real API server runs in the integration tests.
func fakeEnv(t *testing.T, objs ...runtime.Object) (*Env, string) {
	t.Helper()
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	return &Env{Kube: fake.NewClientset(objs...), Namespace: "lab", Kubelet: true,
		Registry: Registry{Host: reg.Host, User: reg.User, Password: reg.Password}}, reg.Host
}

func regcred(name, server, user, pass string) *corev1.Secret {
	cfg := `{"auths": {"` + server + `": {"username": "` + user + `", "password": "` + pass + `"}}}`
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lab"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)}}
}

func runningPod(name, image, sa string, secrets ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lab", UID: types.UID("uid-" + name)},
		Spec:   corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: image}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, ImageID: "sha256:x"}}}}
	for _, s := range secrets {
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return p
}

func event(pod *corev1.Pod, reason, msg string, at time.Time) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: pod.Name + reason + at.String(), Namespace: "lab"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, UID: pod.UID, FieldPath: "spec.containers{app}"},
		Reason:         reason, Message: msg, LastTimestamp: metav1.NewTime(at)}
}

func TestPulledKeepsTheServiceAccountRequirement(t *testing.T) {
	env, host := fakeEnv(t)
	image := host + "/apps/internal-app:1.0"
	pod := runningPod("via-serviceaccount", image, "default", "regcred")
	env.Kube = fake.NewClientset(pod, regcred("regcred", host, "learner", testenv.TestPassword),
		event(pod, "Pulled", `Successfully pulled image "`+image+`" in 300ms`, time.Now()))
	res, err := Run(context.Background(), "pod.pulled", env, Request{Params: map[string]string{"pod": "via-serviceaccount", "image": image, "secret": "regcred", "serviceaccount": "puller"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || !res.HasFinding("pod-wrong-serviceaccount") {
		t.Errorf("a pod running as the wrong service account passed: %+v", res)
	}
}

func TestPulledFromCacheKeepsSecretFindings(t *testing.T) {
	env, host := fakeEnv(t)
	image := host + "/apps/internal-app:1.0"
	pod := runningPod("internal-app", image, "default", "regcred")
	env.Kube = fake.NewClientset(pod, regcred("regcred", host, "learner", "wrong"),
		event(pod, "Pulled", `Container image "`+image+`" already present on machine and can be accessed by the pod`, time.Now()))
	res, err := Run(context.Background(), "pod.pulled", env, Request{Params: map[string]string{"pod": "internal-app", "image": image, "secret": "regcred"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || !res.HasFinding("secret-wrong-password") {
		t.Errorf("a cached image hid a wrong password: %+v", res)
	}
}

func TestPullDeniedNeedsACredentialRefusal(t *testing.T) {
	env, host := fakeEnv(t)
	image := host + "/apps/internal-app:1.0"
	pod := runningPod("anonymous", image, "default")
	pod.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ErrImageNeverPull", Message: `Container image "` + image + `" is not present with pull policy of Never`}}}
	env.Kube = fake.NewClientset(pod)
	res, err := Run(context.Background(), "pod.pull-denied", env, Request{Params: map[string]string{"pod": "anonymous", "image": image}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || !res.HasFinding("pod-pull-failed-other") {
		t.Errorf("a pull that was never tried passed: %+v", res)
	}
}

func TestEventsOfAnotherPodAreIgnored(t *testing.T) {
	env, host := fakeEnv(t)
	image := host + "/apps/internal-app:1.0"
	pod := runningPod("anonymous", image, "default")
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	other := runningPod("anonymous", image, "default")
	other.UID = "an-older-pod"
	env.Kube = fake.NewClientset(pod, event(other, "Failed", `Failed to pull image "`+image+`": 401 Unauthorized`, time.Now()))
	res, err := Run(context.Background(), "pod.pull-denied", env, Request{Params: map[string]string{"pod": "anonymous", "image": image}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || !res.HasFinding("pod-waiting-for-kubelet") {
		t.Errorf("an older pod's event decided: %+v", res)
	}
}

func TestSecretAuthFieldWins(t *testing.T) {
	env, host := fakeEnv(t)
	wrongAuth := base64.StdEncoding.EncodeToString([]byte("learner:wrong"))
	s := regcred("regcred", host, "learner", testenv.TestPassword)
	s.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths": {"` + host + `": {"username": "learner", "password": "` + testenv.TestPassword + `", "auth": "` + wrongAuth + `"}}}`)
	env.Kube = fake.NewClientset(s)
	res, err := Run(context.Background(), "secret.pull", env, Request{Params: map[string]string{"secret": "regcred"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed {
		t.Errorf("passed, though the kubelet reads auth (learner:wrong): %+v", res)
	}
	newline := base64.StdEncoding.EncodeToString([]byte("learner:" + testenv.TestPassword + "\n"))
	s.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths": {"` + host + `": {"auth": "` + newline + `"}}}`)
	env.Kube = fake.NewClientset(s)
	res, _ = Run(context.Background(), "secret.pull", env, Request{Params: map[string]string{"secret": "regcred"}})
	if res.Passed || !res.HasFinding("secret-auth-newline") {
		t.Errorf("echo's newline not named: %+v", res)
	}
}

func TestExtraRegistryEntriesAreHarmless(t *testing.T) {
	env, host := fakeEnv(t)
	s := regcred("regcred", host, "learner", testenv.TestPassword)
	s.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths": {"` + host + `": {"username": "learner", "password": "` + testenv.TestPassword + `"}, "https://index.docker.io/v1/": {"username": "me", "password": "hub"}}}`)
	env.Kube = fake.NewClientset(s)
	res, err := Run(context.Background(), "secret.pull", env, Request{Params: map[string]string{"secret": "regcred"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed {
		t.Errorf("a Docker Hub entry next to the right one failed the step: %+v", res)
	}
}

func TestAuthRefusal(t *testing.T) {
	for evidence, want := range map[string]bool{
		`failed to resolve reference "localhost:5055/apps/internal-app:1.0": pulling from host 127.0.0.1:5055 failed with status code [manifests 1.0]: 401 Unauthorized`: true,
		`Container image "localhost:40123/apps/internal-app:1.0" is not present with pull policy of Never`:                                                               false,
		`failed to resolve reference "localhost:40312/x:1": not found`:                                                                                                   false,
		`pull access denied for x, repository does not exist or may require authorization`:                                                                               true,
	} {
		if got := authRefusal(evidence); got != want {
			t.Errorf("authRefusal(%q) = %v, want %v", evidence, got, want)
		}
	}
}
