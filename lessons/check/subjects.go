package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// The subjects the built-in checks judge. A check for a new kind of
// object declares its own subject next to it, with KubeObjects.
var (
	Pods            = KubeObjects("pod", func(c kubernetes.Interface, ns string) ObjectClient[*corev1.Pod] { return c.CoreV1().Pods(ns) })
	Secrets         = KubeObjects("secret", func(c kubernetes.Interface, ns string) ObjectClient[*corev1.Secret] { return c.CoreV1().Secrets(ns) })
	ServiceAccounts = KubeObjects("serviceaccount", func(c kubernetes.Interface, ns string) ObjectClient[*corev1.ServiceAccount] {
		return c.CoreV1().ServiceAccounts(ns)
	})
	Deployments = KubeObjects("deployment", func(c kubernetes.Interface, ns string) ObjectClient[*appsv1.Deployment] {
		return c.AppsV1().Deployments(ns)
	})
	// Events carry the kubelet's verdict on a pull; nothing resets them.
	Events = &Subject{Kind: "event", Seen: SeenByWatch, Namespaced: true,
		Watch: func(c kubernetes.Interface, ns string) WatchFunc { return c.CoreV1().Events(ns).Watch }}

	// DockerLogin is the sandbox docker config's login to the registry.
	DockerLogin = &Subject{Kind: "docker-login", Seen: SeenInDockerConfig, Reset: resetDockerLogin}
	// RegistryRepository is a repository in the sandbox registry; nothing
	// tells when it changes, so steps on it poll.
	RegistryRepository = &Subject{Kind: "registry-repository", Seen: SeenByPolling, Reset: resetRegistryRepository}
)

// WatchFunc opens one watch.
type WatchFunc func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)

// WatchOpener gives the watch on a subject's objects in a namespace.
type WatchOpener func(c kubernetes.Interface, ns string) WatchFunc

// ObjectClient is what a typed client-go client of a namespaced kind
// offers (PodInterface, SecretInterface…): enough to set up, watch, reset
// and wait.
type ObjectClient[T runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// KubeObjects is the subject for a namespaced kind of Kubernetes object,
// watched in the learner's namespace and reset by deleting it.
func KubeObjects[T runtime.Object](kind string, client func(c kubernetes.Interface, ns string) ObjectClient[T]) *Subject {
	var subject *Subject
	subject = &Subject{
		Kind: kind, Seen: SeenByWatch, Namespaced: true,
		Watch: func(c kubernetes.Interface, ns string) WatchFunc { return client(c, ns).Watch },
		Create: func(ctx context.Context, env *Env, doc []byte) error {
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				return fmt.Errorf("reading a %s: %w", kind, err)
			}
			typed, ok := obj.(T)
			if !ok {
				return fmt.Errorf("a %T is not a %s", obj, kind)
			}
			acc, err := meta.Accessor(typed)
			if err != nil {
				return err
			}
			acc.SetNamespace(env.Namespace)
			// What the step starts from replaces whatever is there.
			if err := subject.Reset(ctx, env, acc.GetName()); err != nil {
				return err
			}
			if _, err := client(env.Kube, env.Namespace).Create(ctx, typed, metav1.CreateOptions{}); err != nil {
				return env.Errorf("creating %s %s: %w", kind, acc.GetName(), err)
			}
			return nil
		},
		Reset: func(ctx context.Context, env *Env, objName string) error {
			oc := client(env.Kube, env.Namespace)
			// No grace period: a sandbox object has nothing to finish.
			// Background propagation takes a Deployment's pods along.
			now, bg := int64(0), metav1.DeletePropagationBackground
			err := oc.Delete(ctx, objName, metav1.DeleteOptions{GracePeriodSeconds: &now, PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return env.Errorf("deleting %s %s: %w", kind, objName, err)
			}
			// Wait until it is gone, so the step's check fails again at once.
			return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := oc.Get(ctx, objName, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
		},
	}
	return subject
}

// resetDockerLogin removes the sandbox registry's login from the sandbox's
// docker config (from its credential store too), as docker logout does.
func resetDockerLogin(_ context.Context, env *Env, _ string) error {
	cfg, err := dockerconfig.Load(env.DockerConfigDir)
	if err != nil {
		return err
	}
	host := env.Registry.Host
	// As docker logout: a login that is not there is not an error.
	if err := cfg.GetCredentialsStore(host).Erase(host); err != nil && !strings.Contains(strings.ToLower(err.Error()), "not found") {
		return env.Errorf("docker logout %s: %w", host, err)
	}
	return cfg.Save()
}

// resetRegistryRepository deletes every tag of a repository of the
// sandbox registry; a repository that is not there is already reset.
func resetRegistryRepository(ctx context.Context, env *Env, repo string) error {
	r, err := name.NewRepository(env.Registry.Repo(repo))
	if err != nil {
		return err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(env.adminAuth()), remote.WithTransport(env.transport())}
	tags, err := remote.List(r, opts...)
	if err != nil {
		if err := registryError(err); errors.Is(err, errNotFound) {
			return nil
		}
		return env.Errorf("listing %s: %w", r, registryError(err))
	}
	for _, t := range tags {
		desc, err := remote.Head(r.Tag(t), opts...)
		if err != nil {
			if errors.Is(registryError(err), errNotFound) {
				continue // deleted meanwhile, or a tag of a deleted digest
			}
			return env.Errorf("reading %s:%s: %w", r, t, registryError(err))
		}
		if err := remote.Delete(r.Digest(desc.Digest.String()), opts...); err != nil && !errors.Is(registryError(err), errNotFound) {
			return env.Errorf("deleting %s:%s: %w", r, t, err)
		}
	}
	return nil
}
