package sandbox

import (
	"context"
	"errors"
	"fmt"
	"github.com/imagelab/imagelab/internal/fsutil"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// DefaultNamespace is where the learner works unless told otherwise.
const DefaultNamespace = "imagelab"

// ExistingOptions name a cluster and a registry imagelab did not create.
type ExistingOptions struct {
	// Kubeconfig is the file to read the cluster from (never written).
	// Empty means the usual KUBECONFIG / ~/.kube/config.
	Kubeconfig string
	// Context in that file; empty means its current context. At least one
	// of Kubeconfig and Context must be named: imagelab never picks up a
	// cluster nobody named.
	Context   string
	Namespace string
	Registry  Registry
	StateDir  string
	Seed      SeedOptions
	// Transport reaches the registry; nil means http.DefaultTransport.
	Transport http.RoundTripper
	Report    Reporter
}

// ErrUnnamedCluster is returned when an existing cluster was not named.
var ErrUnnamedCluster = errors.New("name the cluster to use with --kubeconfig or --context: imagelab only uses a cluster it created or one you name")

// UseExisting prepares a sandbox on a named cluster and registry: imagelab's
// own kubeconfig (the chosen context alone, defaulting to the sandbox's
// namespace), the namespace and its default service account, the docker
// config and work dirs, and the seeded image. It creates only objects that
// carry imagelab's labels and never writes the learner's kubeconfig.
//
// It first makes sure the cluster and the registry answer, so a wrong flag
// leaves nothing behind; a failure after that removes what this call made.
func UseExisting(ctx context.Context, opts ExistingOptions) (sb *Sandbox, err error) {
	sb, err = describeExisting(opts)
	if err != nil {
		return nil, err
	}
	switch saved, lerr := Load(opts.StateDir); {
	case lerr == nil && saved.Provider != ProviderExisting:
		return nil, fmt.Errorf("a %s sandbox %q is set up in %s: run imagelab down first", saved.Provider, saved.Name, opts.StateDir)
	case lerr == nil && saved.Namespace == sb.Namespace:
		// Prepared before: the same sandbox, so what it made stays its own.
		sb.ID, sb.CreatedNamespace = saved.ID, saved.CreatedNamespace
	case lerr != nil && !errors.Is(lerr, ErrNoSandbox):
		return nil, lerr
	}
	report := opts.Report

	done := report.phase(PhaseConnect, TaskConnectCluster, "", "Connecting to the cluster")
	named, err := Existing(ctx, opts)
	if err != nil {
		return nil, err
	}
	client, err := named.Client()
	if err != nil {
		return nil, err
	}
	if err := Ping(ctx, client); err != nil {
		return nil, err
	}
	sb.Kubelet = named.Kubelet
	done()

	done = report.phase(PhaseRegistry, TaskCheckRegistry, sb.Registry.Host, "Checking the registry "+sb.Registry.Host)
	if err := PingRegistry(ctx, sb.Registry, opts.Transport); err != nil {
		return nil, err
	}
	done()

	// From here on, undo on failure what this call made. (The names are
	// copied: a failed return sets sb to nil before this runs.)
	var createdNamespace, wroteKubeconfig bool
	namespace, kubeconfig := sb.Namespace, sb.Kubeconfig
	defer func() {
		if err == nil {
			return
		}
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if createdNamespace {
			_ = client.CoreV1().Namespaces().Delete(cleanup, namespace, metav1.DeleteOptions{})
		}
		if wroteKubeconfig {
			_ = os.Remove(kubeconfig)
		}
	}()

	done = report.phase(PhaseNamespace, TaskPrepareNamespace, sb.Namespace, "Preparing namespace "+sb.Namespace)
	if createdNamespace, err = EnsureNamespace(ctx, client, sb.Namespace, sb); err != nil {
		return nil, err
	}
	sb.CreatedNamespace = sb.CreatedNamespace || createdNamespace
	if err = writeKubeconfig(opts, sb); err != nil {
		return nil, err
	}
	wroteKubeconfig = true
	for _, dir := range []string{sb.DockerConfigDir, sb.WorkDir} {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	done()

	done = report.phase(PhaseSeed, TaskSeed, sb.SeedImage(), "Seeding "+sb.SeedImage())
	seed := opts.Seed
	if seed.Transport == nil {
		seed.Transport = opts.Transport
	}
	if seed.Platform == nil {
		seed.Platform = nodePlatform(ctx, client) // nil: an index, for every platform
	}
	if _, err = Seed(ctx, sb.Registry, seed); err != nil {
		return nil, err
	}
	done()
	sb.Complete = true
	if err = sb.Save(opts.StateDir); err != nil {
		return nil, err
	}
	report.phase(PhaseReady, TaskReady, "", "Sandbox ready")()
	return sb, nil
}

// Existing describes a sandbox on a named cluster and registry without
// creating or writing anything: what imagelab check uses when the cluster
// is named on its command line. Its Kubeconfig is the named file itself.
func Existing(ctx context.Context, opts ExistingOptions) (*Sandbox, error) {
	sb, err := describeExisting(opts)
	if err != nil {
		return nil, err
	}
	sb.Kubeconfig = opts.Kubeconfig // "" means KUBECONFIG / ~/.kube/config, merged as kubectl does
	sb.Context = opts.Context
	client, err := sb.Client()
	if err != nil {
		return nil, err
	}
	sb.Kubelet = hasNodes(ctx, client)
	return sb, nil
}

// describeExisting fills in a Sandbox from the options without touching anything.
func describeExisting(opts ExistingOptions) (*Sandbox, error) {
	if opts.Kubeconfig == "" && opts.Context == "" {
		return nil, ErrUnnamedCluster
	}
	if opts.Registry.Host == "" {
		return nil, errors.New("name the private registry with --registry host:port (and --registry-user, --registry-password)")
	}
	if opts.StateDir == "" {
		return nil, errors.New("no state dir")
	}
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return &Sandbox{
		Provider:        ProviderExisting,
		Name:            "existing",
		ID:              NewID(),
		Kubeconfig:      filepath.Join(opts.StateDir, "kubeconfig"),
		Namespace:       ns,
		Registry:        opts.Registry,
		DockerConfigDir: filepath.Join(opts.StateDir, "docker"),
		WorkDir:         filepath.Join(opts.StateDir, "work"),
		CreatedAt:       time.Now().UTC().Truncate(time.Second),
	}, nil
}

// writeKubeconfig copies the chosen context (alone, credentials inlined)
// into imagelab's own kubeconfig, with the sandbox namespace as default.
func writeKubeconfig(opts ExistingOptions, sb *Sandbox) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: opts.Kubeconfig}
	}
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context}).RawConfig()
	if err != nil {
		return fmt.Errorf("reading kubeconfig: %w", err)
	}
	name := opts.Context
	if name == "" {
		name = raw.CurrentContext
	}
	kctx, ok := raw.Contexts[name]
	if !ok || name == "" {
		return fmt.Errorf("kubeconfig has no context %q", name)
	}
	out := clientcmdapi.NewConfig()
	out.Contexts[name] = kctx.DeepCopy()
	out.Contexts[name].Namespace = sb.Namespace
	if c, ok := raw.Clusters[kctx.Cluster]; ok {
		out.Clusters[kctx.Cluster] = c.DeepCopy()
	}
	if a, ok := raw.AuthInfos[kctx.AuthInfo]; ok {
		out.AuthInfos[kctx.AuthInfo] = a.DeepCopy()
	}
	out.CurrentContext = name
	if err := clientcmdapi.FlattenConfig(out); err != nil {
		return fmt.Errorf("reading the files your kubeconfig names: %w", err)
	}
	data, err := clientcmd.Write(*out)
	if err != nil {
		return err
	}
	sb.Context = name
	return fsutil.WriteFileAtomic(sb.Kubeconfig, data, 0o600)
}

// Client returns a Kubernetes client for the sandbox.
func (s *Sandbox) Client() (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if s.Kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: s.Kubeconfig}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		rules, &clientcmd.ConfigOverrides{CurrentContext: s.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the sandbox kubeconfig %s: %w", s.Kubeconfig, err)
	}
	cfg.Timeout = 15 * time.Second
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	return kubernetes.NewForConfig(cfg)
}

// The client's rate limit: kubectl's own (50 per second, bursts of 300).
// Live checking stays far below it; it only stops a runaway loop.
var (
	ClientQPS   float32 = 50
	ClientBurst         = 300
)

// Ping checks that the API server answers.
func Ping(ctx context.Context, client kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		if _, verr := client.Discovery().ServerVersion(); verr != nil {
			return fmt.Errorf("the cluster's API server does not answer: %w", verr)
		}
	}
	return nil
}

// hasNodes tells whether a kubelet pulls images: some node is registered.
// When listing nodes is forbidden (a shared cluster), assume it is.
func hasNodes(ctx context.Context, client kubernetes.Interface) bool {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return true
	}
	return len(nodes.Items) > 0
}

// EnsureNamespace creates the namespace (labelled as the sandbox's) if it
// is missing, and makes sure its default service account exists: pods
// can't be created without it, and a bare API server has no controller to
// make it. It reports whether it created the namespace.
func EnsureNamespace(ctx context.Context, client kubernetes.Interface, ns string, sb *Sandbox) (created bool, err error) {
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelSandbox: sb.Name, LabelSandboxID: sb.ID}
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
	switch {
	case err == nil:
		created = true
	case !apierrors.IsAlreadyExists(err):
		return false, fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	if _, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
		return created, nil
	}
	if hasControllerManager(ctx, client) {
		// Its service-account controller makes it within a second.
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		})
		if err == nil {
			return created, nil
		}
	}
	_, err = client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: "default", Labels: labels},
		AutomountServiceAccountToken: new(bool),
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return created, fmt.Errorf("creating the default service account in %s: %w", ns, err)
	}
	return created, nil
}

// hasControllerManager tells whether a kube-controller-manager runs (it
// holds its leader lease). A bare API server, as in tests, has none. When
// the lease can't be read, assume a normal cluster.
func hasControllerManager(ctx context.Context, client kubernetes.Interface) bool {
	_, err := client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	return err == nil || !apierrors.IsNotFound(err)
}
