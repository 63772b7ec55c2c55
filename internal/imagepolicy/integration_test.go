package imagepolicy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/imagelab/imagelab/internal/testenv"
)

// The tests run the real thing: a kube-apiserver (envtest) with
// --enable-admission-plugins=ImagePolicyWebhook and an
// AdmissionConfiguration whose imagePolicy block names a kubeconfig
// WriteKubeconfig wrote; pods are created with server-side dry run.

const allowed = "localhost:5001"

// policy is the imagePolicy block: the smallest TTLs the plugin accepts
// (1 s; 0 would mean the defaults, 5 min and 30 s), fail closed.
func policy(kubeconfig string, retryBackoffMS int) string {
	return fmt.Sprintf(`imagePolicy:
  kubeConfigFile: %s
  allowTTL: 1
  denyTTL: 1
  retryBackoff: %d
  defaultAllow: false
`, kubeconfig, retryBackoffMS)
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+by) + "\n"
}

// embedded is an AdmissionConfiguration holding the block (configuration:).
func embedded(block string) string {
	return `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ImagePolicyWebhook
    configuration:
` + indent(block, "      ")
}

// pointing is an AdmissionConfiguration naming a file with the block (path:).
func pointing(path string) string {
	return `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ImagePolicyWebhook
    path: ` + path + "\n"
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startKubeAPIServer starts a kube-apiserver with the ImagePolicyWebhook
// plugin configured by admissionConfig; it stops at cleanup.
func startKubeAPIServer(t *testing.T, admissionConfig string) kubernetes.Interface {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: testenv.BinDir()}
	apiserver := env.ControlPlane.GetAPIServer()
	// envtest's own default stays: ServiceAccount off (no controller makes
	// default service accounts here).
	apiserver.Configure().
		Set("enable-admission-plugins", "ImagePolicyWebhook").
		Set("admission-control-config-file", admissionConfig)
	logs := &lockedBuffer{}
	apiserver.Out, apiserver.Err = logs, logs
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v\n%s", err, logs)
	}
	t.Logf("kube-apiserver with ImagePolicyWebhook ready in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log (tail):\n%s", tail(logs.String(), 40))
		}
		_ = env.Stop()
	})
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// pods creates dry-run pods, each with a new name.
type pods struct {
	c kubernetes.Interface
	n int
}

// create creates a pod with containers of images (and init containers of
// initImages) by server-side dry run; it returns the pod's name, the
// API server's error and how long the create took.
func (p *pods) create(images, initImages []string) (name string, took time.Duration, err error) {
	p.n++
	name = fmt.Sprintf("pod-%d", p.n)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	for i, img := range images {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
	}
	for i, img := range initImages {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("init%d", i), Image: img})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	// The default namespace appears a moment after the API server is ready.
	for range 50 {
		start = time.Now()
		_, err = p.c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if !apierrors.IsNotFound(err) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return name, time.Since(start), err
}

// admitted fails the test unless the pod is admitted.
func (p *pods) admitted(t *testing.T, images ...string) {
	t.Helper()
	if _, took, err := p.create(images, nil); err != nil {
		t.Fatalf("%v refused (%v): %v", images, took, err)
	}
}

// refused fails the test unless the pod is forbidden; it returns the error text.
func (p *pods) refused(t *testing.T, images, initImages []string) (name, msg string, took time.Duration) {
	t.Helper()
	name, took, err := p.create(images, initImages)
	if err == nil {
		t.Fatalf("%v (init %v) admitted", images, initImages)
	}
	if !apierrors.IsForbidden(err) {
		t.Fatalf("%v: %v, want Forbidden", images, err)
	}
	return name, err.Error(), took
}

// reviewOf finds the recorded review that asked about exactly images.
func reviewOf(s *Server, images ...string) (Review, bool) {
	for _, r := range slices.Backward(s.Reviews()) {
		if slices.Equal(r.Images(), images) {
			return r, true
		}
	}
	return Review{}, false
}

// fromAPIServer fails the test unless r came from the API server: an
// ImageReview of imagepolicy.k8s.io/v1alpha1 for the pod's namespace,
// over TLS with the client certificate of the kubeconfig. (The user agent
// proves nothing: the plugin's client sends Go's default,
// "Go-http-client/1.1".)
func fromAPIServer(t *testing.T, r Review) {
	t.Helper()
	if r.Request.APIVersion != "imagepolicy.k8s.io/v1alpha1" || r.Request.Kind != "ImageReview" ||
		r.Request.Spec.Namespace != "default" || r.Client != ClientName {
		t.Fatalf("review not from the API server: %+v", r)
	}
}

// resetBackend takes the backend's address and resets every connection
// once the client has spoken: the transient failure the plugin retries.
func resetBackend(t *testing.T, addr string) (count func() int64, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			buf := make([]byte, 512)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(buf) // the ClientHello
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close() // RST
		}
	}()
	return n.Load, func() { ln.Close(); <-done }
}

func TestIntegrationImagePolicyWebhook(t *testing.T) {
	testenv.Require(t, "kube-apiserver", "etcd")
	dir := t.TempDir()
	backend, err := New(allowed, filepath.Join(dir, "imagepolicy"), WithAddr(":0"), WithHosts("127.0.0.1", "localhost", "imagelab-webhook"))
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Stop(context.Background()) })
	// In the backend's directory: the kubeconfig names its files relatively.
	kubeconfig := filepath.Join(backend.Dir(), "kubeconfig.yaml")
	url := backend.URL("127.0.0.1")
	if err := backend.WriteKubeconfig(kubeconfig, url); err != nil {
		t.Fatal(err)
	}
	admission := filepath.Join(dir, "admission.yaml")
	if err := os.WriteFile(admission, []byte(embedded(policy(kubeconfig, 100))), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pods{c: startKubeAPIServer(t, admission)}

	t.Run("allowed registry admitted", func(t *testing.T) {
		_, took, err := p.create([]string{"localhost:5001/app:1"}, nil)
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		r, ok := reviewOf(backend, "localhost:5001/app:1")
		if !ok {
			t.Fatal("admitted, but the backend was never asked")
		}
		fromAPIServer(t, r)
		t.Logf("admitted in %v; review from %q, user agent %q", took, r.Client, r.UserAgent)

		// The plugin caches the answer for allowTTL, keyed by the review's
		// spec (images, namespace, annotations): the same pod again is not asked about.
		before := len(backend.Reviews())
		p.admitted(t, "localhost:5001/app:1")
		if since := time.Since(r.Time); since < time.Second && len(backend.Reviews()) != before {
			t.Fatalf("asked again %v after an allow with allowTTL 1s", since)
		}
		time.Sleep(1100 * time.Millisecond)
		p.admitted(t, "localhost:5001/app:1")
		if len(backend.Reviews()) != before+1 {
			t.Fatalf("after allowTTL: %d new reviews, want 1", len(backend.Reviews())-before)
		}
	})

	t.Run("docker.io refused with the backend's reason", func(t *testing.T) {
		name, msg, took := p.refused(t, []string{"nginx"}, nil)
		r, ok := reviewOf(backend, "nginx")
		if !ok {
			t.Fatal("refused, but the backend was never asked")
		}
		fromAPIServer(t, r)
		want := fmt.Sprintf("pods %q is forbidden: image policy webhook backend denied one or more images: %s", name, r.Status.Reason)
		if msg != want {
			t.Fatalf("error\n%s\nwant\n%s", msg, want)
		}
		if !strings.Contains(msg, `image "nginx" (docker.io/library/nginx) is from docker.io, not from the allowed registry localhost:5001`) {
			t.Fatalf("reason: %s", msg)
		}
		t.Logf("refused in %v: %s", took, msg)
	})

	t.Run("look-alike registries refused", func(t *testing.T) {
		for _, img := range []string{"localhost:50010/app:1", "localhost:5001.evil/app:1", "localhost.evil:5001/app:1", "127.0.0.1:5001/app:1"} {
			_, msg, _ := p.refused(t, []string{img}, nil)
			if !strings.Contains(msg, fmt.Sprintf("image %q", img)) || !strings.Contains(msg, "localhost:5001") {
				t.Errorf("%s: %s", img, msg)
			}
			t.Logf("%s: %s", img, msg)
		}
	})

	t.Run("init containers are reviewed too", func(t *testing.T) {
		_, msg, _ := p.refused(t, []string{"localhost:5001/app:2"}, []string{"busybox:1.36"})
		r, ok := reviewOf(backend, "localhost:5001/app:2", "busybox:1.36")
		if !ok {
			t.Fatalf("no review listing the init container's image: %s", msg)
		}
		fromAPIServer(t, r)
		if !strings.Contains(msg, `"busybox:1.36" (docker.io/library/busybox:1.36)`) {
			t.Fatalf("%s", msg)
		}
	})

	t.Run("backend stopped: fail closed", func(t *testing.T) {
		allowedAt := time.Now()
		p.admitted(t, "localhost:5001/app:cached")
		if err := backend.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Within allowTTL the plugin's cache still admits what it allowed.
		_, _, err := p.create([]string{"localhost:5001/app:cached"}, nil)
		cachedOK := err == nil
		since := time.Since(allowedAt)

		name, msg, took := p.refused(t, []string{"localhost:5001/app:3"}, nil)
		port := backend.Port()
		want := fmt.Sprintf(`pods %q is forbidden: Post "%s?timeout=30s": dial tcp 127.0.0.1:%d: connect: connection refused`, name, url, port)
		if msg != want {
			t.Fatalf("error\n%s\nwant\n%s", msg, want)
		}
		t.Logf("refused in %v (connection refused is not retried): %s", took, msg)
		if since < 900*time.Millisecond && !cachedOK {
			t.Fatalf("a pod allowed %v ago refused with the backend down: %v", since, err)
		}
		t.Logf("a pod allowed just before the stop: admitted again %v after the allow, from the plugin's cache", since)
		time.Sleep(1100 * time.Millisecond)
		p.refused(t, []string{"localhost:5001/app:cached"}, nil)
	})

	t.Run("backend resetting connections: retried with retryBackoff, then fail closed", func(t *testing.T) {
		count, stop := resetBackend(t, backend.Addr())
		name, msg, took := p.refused(t, []string{"localhost:5001/app:4"}, nil)
		stop()
		want := fmt.Sprintf(`pods %q is forbidden: Post "%s?timeout=30s": read tcp `, name, url)
		if !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, "read: connection reset by peer") {
			t.Fatalf("error\n%s\nwant %s…read: connection reset by peer", msg, want)
		}
		// 5 tries, 4 waits of retryBackoff × 1, 1.5, 2.25, 3.375 (+ up to 20% jitter).
		if n := count(); n != 5 {
			t.Errorf("%d connections, want 5 tries", n)
		}
		if took < 800*time.Millisecond || took > 5*time.Second {
			t.Errorf("took %v, want about 0.8–1 s for retryBackoff 100 ms", took)
		}
		t.Logf("refused after %d tries in %v: %s", count(), took, msg)
	})

	t.Run("a backend with a new CA is not trusted", func(t *testing.T) {
		// What a restarted imagelab process would be: new certificates on
		// the same address. The API server read the CA file at its start.
		other, err := New(allowed, filepath.Join(dir, "other"), WithAddr(backend.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		name, msg, _ := p.refused(t, []string{"localhost:5001/app:6"}, nil)
		_ = other.Stop(context.Background())
		want := fmt.Sprintf(`pods %q is forbidden: Post "%s?timeout=30s": tls: failed to verify certificate: x509: certificate signed by unknown authority`, name, url)
		if msg != want {
			t.Fatalf("error\n%s\nwant\n%s", msg, want)
		}
		if len(other.Reviews()) != 0 {
			t.Fatal("the untrusted backend was asked")
		}
		t.Logf("%s", msg)
	})

	t.Run("backend back: admitted again", func(t *testing.T) {
		if err := backend.Start(); err != nil {
			t.Fatal(err)
		}
		p.admitted(t, "localhost:5001/app:5")
		if _, ok := reviewOf(backend, "localhost:5001/app:5"); !ok {
			t.Fatal("not asked")
		}
	})
}

// A pod's image update and kubectl debug's ephemeral containers are
// reviewed too (the plugin handles create and update of pods and of the
// ephemeralcontainers subresource).
func TestIntegrationImagePolicyWebhookUpdatesAndEphemeralContainers(t *testing.T) {
	testenv.Require(t, "kube-apiserver", "etcd")
	dir := t.TempDir()
	backend, err := New(allowed, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Stop(context.Background()) })
	kubeconfig := filepath.Join(dir, "kubeconfig.yaml")
	if err := backend.WriteKubeconfig(kubeconfig, backend.URL("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	admission := filepath.Join(dir, "admission.yaml")
	if err := os.WriteFile(admission, []byte(embedded(policy(kubeconfig, 100))), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startKubeAPIServer(t, admission)
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "localhost:5001/web:1"}}}}
	var created *corev1.Pod
	for range 50 { // the default namespace appears a moment after start
		if created, err = c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}

	upd := created.DeepCopy()
	upd.Spec.Containers[0].Image = "nginx"
	_, err = c.CoreV1().Pods("default").Update(ctx, upd, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `image "nginx" (docker.io/library/nginx)`) {
		t.Fatalf("image update to nginx: %v", err)
	}
	t.Logf("update: %v", err)

	debug := created.DeepCopy()
	debug.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"}, TargetContainerName: "web"}}
	_, err = c.CoreV1().Pods("default").UpdateEphemeralContainers(ctx, "web", debug, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `image "busybox" (docker.io/library/busybox)`) {
		t.Fatalf("ephemeral container busybox: %v", err)
	}
	r, ok := reviewOf(backend, "busybox")
	if !ok {
		t.Fatal("no review of the ephemeral container alone")
	}
	fromAPIServer(t, r)
	t.Logf("ephemeral container: %v", err)

	debug.Spec.EphemeralContainers[0].Image = "localhost:5001/debug:1"
	if _, err := c.CoreV1().Pods("default").UpdateEphemeralContainers(ctx, "web", debug, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("ephemeral container from the allowed registry: %v", err)
	}
}

// The path: form: the AdmissionConfiguration names a file holding the
// imagePolicy block (relative to the AdmissionConfiguration's directory),
// and the kubeconfig sits outside the backend's directory (absolute
// paths). retryBackoff is 500 ms, the value most examples use.
func TestIntegrationImagePolicyWebhookPathForm(t *testing.T) {
	testenv.Require(t, "kube-apiserver", "etcd")
	dir := t.TempDir()
	backend, err := New(allowed, filepath.Join(dir, "backend"), WithAddr(":0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Stop(context.Background()) })
	confDir := filepath.Join(dir, "etc-kubernetes-imagepolicy")
	if err := os.MkdirAll(confDir, 0o700); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(confDir, "kubeconfig.yaml")
	url := backend.URL("localhost")
	if err := backend.WriteKubeconfig(kubeconfig, url); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "imagepolicy.yaml"), []byte(policy(kubeconfig, 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	admission := filepath.Join(confDir, "admission.yaml")
	if err := os.WriteFile(admission, []byte(pointing("imagepolicy.yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pods{c: startKubeAPIServer(t, admission)}

	p.admitted(t, "localhost:5001/team/app@sha256:4f0f6b9e3c1b2a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d")
	name, msg, _ := p.refused(t, []string{"docker.io/library/nginx:1.27", "localhost:5001/app:1"}, nil)
	r, ok := reviewOf(backend, "docker.io/library/nginx:1.27", "localhost:5001/app:1")
	if !ok {
		t.Fatal("the backend was never asked")
	}
	fromAPIServer(t, r)
	want := fmt.Sprintf(`pods %q is forbidden: image policy webhook backend denied one or more images: image "docker.io/library/nginx:1.27" is from docker.io, not from the allowed registry localhost:5001`, name)
	if msg != want {
		t.Fatalf("error\n%s\nwant\n%s", msg, want)
	}
	t.Logf("path: form: %s", msg)

	if err := backend.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A pod while nothing listens: a connection the API server kept from
	// the stopped backend fails now (EOF, not retried), not in the count.
	p.refused(t, []string{"localhost:5001/app:down"}, nil)
	count, stop := resetBackend(t, backend.Addr())
	defer stop()
	_, msg, took := p.refused(t, []string{"localhost:5001/app:2"}, nil)
	if !strings.Contains(msg, "connection reset by peer") || count() != 5 {
		t.Fatalf("%d tries: %s", count(), msg)
	}
	// 500 ms × (1 + 1.5 + 2.25 + 3.375) = 4.06 s, up to 4.9 s with jitter.
	if took < 4*time.Second || took > 10*time.Second {
		t.Errorf("took %v, want about 4–5 s", took)
	}
	t.Logf("retryBackoff 500 ms, backend resetting: refused after %d tries in %v", count(), took)
	stop()

	_, msg, took = p.refused(t, []string{"localhost:5001/app:3"}, nil)
	if !strings.Contains(msg, "connect: connection refused") || took > 2*time.Second {
		t.Fatalf("backend gone: %v: %s", took, msg)
	}
	t.Logf("backend gone: refused in %v: %s", took, msg)
}
