package check

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kubelet's credential verification seen at work (KEP-2535): a pod
// with a pull secret pulls the private image onto the node; then a pod
// without one asks for the same image, cached, with imagePullPolicy
// IfNotPresent. Under AlwaysVerify and NeverVerifyPreloadedImages the
// kubelet checks the second pod's credentials with the registry and
// refuses it; under NeverVerify it runs — anyone on the node may use what
// someone else was allowed to pull.

// cachedImageProbe is what became of the pod without credentials.
type cachedImageProbe struct {
	ran      bool   // it ran the cached image
	evidence string // the kubelet's words
}

// probeCache keeps a verdict for a while: the probe starts two pods, and
// a step on the kubelet's config is asked again every few seconds.
var probeCache = struct {
	sync.Mutex
	m map[string]probeEntry
}{m: map[string]probeEntry{}}

type probeEntry struct {
	at    time.Time
	probe cachedImageProbe
}

const probeCacheTTL = 10 * time.Minute

// probeTimeout bounds each of the two pods' wait for the kubelet.
const probeTimeout = 90 * time.Second

// probeCachedImage runs the two pods in the learner's namespace, on the
// node, and removes them (and their pull secret) again.
func probeCachedImage(ctx context.Context, env *Env, policy string) (cachedImageProbe, error) {
	key := env.Node.Name() + "|" + env.Namespace + "|" + policy
	probeCache.Lock()
	e, ok := probeCache.m[key]
	probeCache.Unlock()
	if ok && time.Since(e.at) < probeCacheTTL {
		return e.probe, nil
	}

	image := env.Registry.Repo("apps/internal-app") + ":1.0"
	pods := env.Kube.CoreV1().Pods(env.Namespace)
	secrets := env.Kube.CoreV1().Secrets(env.Namespace)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	secretName := "imagelab-kep2535-" + suffix
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{env.Registry.Host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(env.Registry.User + ":" + env.Registry.Password)),
	}}})
	if err != nil {
		return cachedImageProbe{}, err
	}
	var made []string
	defer func() {
		// Gone whatever happened, even when ctx is over.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		zero := int64(0)
		for _, name := range made {
			_ = pods.Delete(bg, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		_ = secrets.Delete(bg, secretName, metav1.DeleteOptions{})
	}()
	if _, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Labels: map[string]string{"imagelab.dev/probe": "kep2535"}},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}, metav1.CreateOptions{}); err != nil {
		return cachedImageProbe{}, fmt.Errorf("the probe's pull secret: %w", err)
	}
	run := func(name string, withSecret bool) (kubeletVerdict, error) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"imagelab.dev/probe": "kep2535"}},
			Spec: corev1.PodSpec{
				NodeName:      env.Node.Name(),
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent}},
			},
		}
		if withSecret {
			pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: secretName}}
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return kubeletVerdict{}, fmt.Errorf("the probe pod %s: %w", name, err)
		}
		made = append(made, name)
		deadline := time.Now().Add(probeTimeout)
		for {
			got, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return kubeletVerdict{}, err
			}
			v, err := readVerdict(ctx, env, got, &got.Spec.Containers[0])
			if err != nil || v.Outcome != pullUnknown {
				return v, err
			}
			if time.Now().After(deadline) {
				return kubeletVerdict{}, env.Errorf("the kubelet said nothing about probe pod %s within %v", name, probeTimeout)
			}
			select {
			case <-ctx.Done():
				return kubeletVerdict{}, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	with, err := run("imagelab-kep2535-with-"+suffix, true)
	if err != nil {
		return cachedImageProbe{}, err
	}
	if with.Outcome != pullSucceeded {
		return cachedImageProbe{}, env.Errorf("a pod with the registry's credentials could not pull %s: %s", image, with.Evidence)
	}
	without, err := run("imagelab-kep2535-without-"+suffix, false)
	if err != nil {
		return cachedImageProbe{}, err
	}
	p := cachedImageProbe{ran: without.Outcome == pullSucceeded, evidence: without.Evidence}
	probeCache.Lock()
	probeCache.m[key] = probeEntry{at: time.Now(), probe: p}
	probeCache.Unlock()
	return p, nil
}

// judgeCachedImage says whether what the pod without credentials met is
// what the policy promises.
func judgeCachedImage(env *Env, policy string, p cachedImageProbe) *Finding {
	image := env.Registry.Repo("apps/internal-app") + ":1.0"
	switch {
	case policy == "NeverVerify" && !p.ran:
		return &Finding{Code: "kubelet-verifies-anyway", Criterion: "behaviour",
			Problem:  env.T("Under NeverVerify a pod without credentials should run %s once it is on the node, but the kubelet refused it.", image),
			Expected: env.T("the cached image used without credentials"), Evidence: p.evidence,
			Try: env.T("Is the image on the node at all? A pod with the pull secret pulls it first; then restart the kubelet so it reads its config.")}
	case policy != "NeverVerify" && p.ran:
		return &Finding{Code: "kubelet-cached-image-without-credentials", Criterion: "behaviour",
			Problem:  env.T("A pod without credentials ran %s, cached on the node by a pod with them: the kubelet did not check.", image),
			Expected: env.T("the pod without credentials refused (ErrImagePull)"),
			Try:      env.T("The running kubelet's policy is right, yet it let the pod in: is its KubeletEnsureSecretPulledImages feature gate off? (/configz shows featureGates.)")}
	}
	return nil
}
