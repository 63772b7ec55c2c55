package app

import (
	"context"
	"errors"
	"github.com/imagelab/imagelab/internal/i18n"
	"os"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop"
)

// sandboxFlags name an existing cluster and registry on the command line.
type sandboxFlags struct {
	kubeconfig, context, namespace       string
	registry, registryUser, registryPass string
	dockerConfig, workDir                string
}

func (f *sandboxFlags) add(fs *pflag.FlagSet, p *i18n.Printer) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", p.T("use the cluster of this kubeconfig file (read only, never written)"))
	fs.StringVar(&f.context, "context", "", p.T("use this kubeconfig context"))
	fs.StringVarP(&f.namespace, "namespace", "n", "", p.T("the namespace to work in (default imagelab)"))
	fs.StringVar(&f.registry, "registry", "", p.T("the private registry as host:port"))
	fs.StringVar(&f.registryUser, "registry-user", "", p.T("the registry user"))
	fs.StringVar(&f.registryPass, "registry-password", "", p.T("the registry password (or $IMAGELAB_REGISTRY_PASSWORD)"))
	fs.StringVar(&f.dockerConfig, "docker-config", "", p.T("the DOCKER_CONFIG dir docker login writes to (default: the sandbox's own)"))
	fs.StringVar(&f.workDir, "workdir", "", p.T("where your manifests are (default: the sandbox's work dir)"))
}

// namesCluster reports whether the flags name a cluster.
func (f *sandboxFlags) namesCluster() bool { return f.kubeconfig != "" || f.context != "" }

func (f *sandboxFlags) existingOptions(stateDir string) sandbox.ExistingOptions {
	pass := f.registryPass
	if pass == "" {
		pass = os.Getenv("IMAGELAB_REGISTRY_PASSWORD")
	}
	return sandbox.ExistingOptions{
		Kubeconfig: f.kubeconfig,
		Context:    f.context,
		Namespace:  f.namespace,
		Registry:   sandbox.Registry{Host: f.registry, User: f.registryUser, Password: pass},
		StateDir:   stateDir,
	}
}

// sandboxSource is where a command's sandbox comes from.
type sandboxSource int

const (
	// sourceNone: no cluster named and none saved. up makes a kind
	// sandbox; the other commands have none.
	sourceNone sandboxSource = iota
	// sourceNamed: the cluster and registry the flags name.
	sourceNamed
	// sourceSaved: the sandbox saved in the state dir (kind, or a cluster
	// named to an earlier up).
	sourceSaved
)

// sandboxChoice is which sandbox a command works with. choose makes it
// for every command: up and the app start from it (start), check and
// reset find the sandbox from it (resolve).
type sandboxChoice struct {
	source sandboxSource
	// saved is the sandbox saved in the state dir, if any. With
	// sourceNamed it may be the one up prepared on that cluster, which
	// still owns what it made.
	saved *sandbox.Sandbox
	// none says why there is no sandbox (sourceNone): sandbox.ErrNoSandbox.
	none error
}

// choose decides which sandbox: the cluster the flags name; else the one
// saved in stateDir; else none yet. A damaged sandbox record is an error,
// unless the flags name a cluster and the record is not needed.
func (f *sandboxFlags) choose(stateDir string) (sandboxChoice, error) {
	saved, err := sandbox.Load(stateDir)
	switch {
	case f.namesCluster():
		return sandboxChoice{source: sourceNamed, saved: saved}, nil
	case err == nil:
		return sandboxChoice{source: sourceSaved, saved: saved}, nil
	case errors.Is(err, sandbox.ErrNoSandbox):
		return sandboxChoice{source: sourceNone, none: err}, nil
	}
	return sandboxChoice{}, err
}

// resolve finds the sandbox: the one the flags name, else the saved one.
// It creates nothing.
func (f *sandboxFlags) resolve(ctx context.Context, stateDir string) (*sandbox.Sandbox, error) {
	c, err := f.choose(stateDir)
	if err != nil {
		return nil, err
	}
	var sb *sandbox.Sandbox
	switch c.source {
	case sourceNamed:
		if sb, err = sandbox.Existing(ctx, f.existingOptions(stateDir)); err != nil {
			return nil, err
		}
		// The sandbox up prepared here: what it made is still its own.
		if c.saved != nil && c.saved.Provider == sb.Provider && c.saved.Namespace == sb.Namespace {
			sb.ID, sb.CreatedNamespace = c.saved.ID, c.saved.CreatedNamespace
		}
	case sourceSaved:
		sb = c.saved
		if f.namespace != "" {
			sb.Namespace = f.namespace
		}
	default:
		return nil, c.none
	}
	return f.override(sb), nil
}

// override puts the learner's own docker config and work dir, when the
// flags name them, in place of the sandbox's.
func (f *sandboxFlags) override(sb *sandbox.Sandbox) *sandbox.Sandbox {
	if f.dockerConfig != "" {
		sb.DockerConfigDir = f.dockerConfig
	}
	if f.workDir != "" {
		sb.WorkDir = f.workDir
	}
	return sb
}

// checkEnv is what the checks see of a sandbox.
func checkEnv(sb *sandbox.Sandbox) (*check.Env, error) {
	client, err := sb.Client()
	if err != nil {
		return nil, err
	}
	rt, err := sb.Registry.Transport()
	if err != nil {
		return nil, err
	}
	node, noNode := nodeOf(sb)
	env := &check.Env{
		Node:            node,
		NoNode:          noNode,
		Kube:            client,
		Namespace:       sb.Namespace,
		StrayNamespaces: strayNamespaces(sb),
		Registry:        check.Registry{Host: sb.Registry.Host, Prefix: sb.Registry.Prefix, User: sb.Registry.User, Password: sb.Registry.Password},
		DockerConfigDir: sb.DockerConfigDir,
		WorkDir:         sb.WorkDir,
		Kubelet:         sb.Kubelet,
		Transport:       rt,
		PolicyBackend:   policyBackendOf(sb),
	}
	if sb.Provider == sandbox.ProviderWorkshop {
		// One namespace of a shared cluster: no node, nothing cluster-wide,
		// and no other namespace is the attendee's.
		env.NoNode, env.NoClusterScope, env.StrayNamespaces = workshop.NoNode, workshop.NoClusterScope, nil
	}
	return env, nil
}

// strayNamespaces are where a learner's object put in the wrong place may
// be: the namespace every kubectl command uses when none is named. A
// sandbox is the learner's own cluster (kind, or one they named); checks
// never look further, so a shared cluster's other namespaces stay unnamed.
func strayNamespaces(sb *sandbox.Sandbox) []string {
	if sb.Namespace == metav1.NamespaceDefault {
		return nil
	}
	return []string{metav1.NamespaceDefault}
}

// values are the sandbox's facts the lesson texts use.
func values(sb *sandbox.Sandbox) lessons.Values {
	if sb == nil {
		return lessons.Placeholder()
	}
	return lessons.NewValues(sb.Registry.Host, sb.Registry.User, sb.Registry.Password, sb.Namespace).WithPrefix(sb.Registry.Prefix)
}

// lazyEnv builds the check environment on first need, so quiz steps run
// with no sandbox at all.
type lazyEnv struct {
	flags    *sandboxFlags
	stateDir string
	// p writes the findings in the command's language.
	p    *i18n.Printer
	sb   *sandbox.Sandbox
	env  *check.Env
	err  error
	done bool
}

func (l *lazyEnv) get(ctx context.Context) (*sandbox.Sandbox, *check.Env, error) {
	if !l.done {
		l.done = true
		l.sb, l.err = l.flags.resolve(ctx, l.stateDir)
		if l.err == nil {
			l.env, l.err = checkEnv(l.sb)
		}
		if l.env != nil {
			l.env.Printer = l.p
		}
	}
	return l.sb, l.env, l.err
}
