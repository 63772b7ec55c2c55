// This file is long on purpose: it is the kind provider's one create and
// delete sequence, in the order kind's local-registry recipe gives it; split
// by phase, the recipe would be read across files.

package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindlog "sigs.k8s.io/kind/pkg/log"
	"sigs.k8s.io/yaml"
)

// Defaults of the kind sandbox.
const (
	DefaultName = "imagelab"
	// DefaultRegistryImage is kind's recipe's registry:3 by its full name:
	// Podman resolves short names only through aliases it may lack.
	DefaultRegistryImage = "docker.io/library/registry:3"
	// RegistryUser is the registry's one user.
	RegistryUser = "learner"
	// kindNetwork is the network kind puts its nodes on, unless
	// KIND_EXPERIMENTAL_DOCKER_NETWORK or KIND_EXPERIMENTAL_PODMAN_NETWORK
	// names another (kindNetworkFor).
	kindNetwork = "kind"
	// registryContainerPort is where the registry listens in its container.
	registryContainerPort = 5000
)

// KindOptions configure the kind sandbox.
type KindOptions struct {
	Name          string // cluster name (default imagelab)
	NodeImage     string // default: kind's own default node image
	RegistryImage string // default docker.io/library/registry:3; a mirror for air-gapped machines
	StateDir      string
	Seed          SeedOptions
	// Runtime is "docker" or "podman"; empty follows KIND_EXPERIMENTAL_PROVIDER
	// or detects, as kind does (chooseRuntime).
	Runtime string
	Report  Reporter
	// WaitForReady bounds the wait for the node to be Ready (default 3 minutes).
	WaitForReady time.Duration
}

func (o *KindOptions) defaults() {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.RegistryImage == "" {
		o.RegistryImage = DefaultRegistryImage
	}
	if o.WaitForReady == 0 {
		o.WaitForReady = 3 * time.Minute
	}
	if o.Report == nil {
		o.Report = NoReport
	}
}

func registryContainerName(sandbox string) string { return sandbox + "-registry" }

// KindConfig is the kind cluster configuration imagelab uses: one node
// whose containerd reads registry hosts from /etc/containerd/certs.d
// (kind's local-registry recipe).
func KindConfig(name, nodeImage string) *v1alpha4.Cluster {
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     name,
		Nodes:    []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole, Image: nodeImage}},
		ContainerdConfigPatches: []string{`[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"`},
	}
	return cfg
}

// HostsToml is the containerd hosts.toml that makes localhost:<port> on a
// node mean the registry container: localhost inside a node is the node.
func HostsToml(registryContainer string) string {
	return fmt.Sprintf("[host.\"http://%s:%d\"]\n  capabilities = [\"pull\", \"resolve\"]\n", registryContainer, registryContainerPort)
}

// HostsTomlPath is where HostsToml goes on each node.
func HostsTomlPath(registryHost string) string {
	return "/etc/containerd/certs.d/" + registryHost + "/hosts.toml"
}

// RegistryConfigMap documents the local registry (KEP-1755), as kind's recipe does.
func RegistryConfigMap(registryHost, sandbox string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "local-registry-hosting", Namespace: "kube-public",
			Labels: map[string]string{LabelManagedBy: ManagedBy, LabelSandbox: sandbox}},
		Data: map[string]string{"localRegistryHosting.v1": fmt.Sprintf("host: %q\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n", registryHost)},
	}
}

// registryCreateArgs are the docker create arguments of the registry
// container: published on loopback only, htpasswd auth, deletes allowed
// (for resets). The htpasswd file is copied in before it starts
// (registryAuthTar), never bind-mounted: Podman does not relabel a bind
// mount for SELinux, and Docker Desktop refuses a path outside its shared
// folders ("Mounts denied") — either way the registry could not read it.
func registryCreateArgs(sandbox, id, stateLabel, image string, port int) []string {
	return []string{
		"create", "--restart=always",
		"--name", registryContainerName(sandbox),
		"-p", fmt.Sprintf("127.0.0.1:%d:%d", port, registryContainerPort),
		"--network", "bridge",
		"--label", LabelManagedBy + "=" + ManagedBy,
		"--label", LabelSandbox + "=" + sandbox,
		"--label", LabelSandboxID + "=" + id,
		"--label", LabelStateDir + "=" + stateLabel,
		"-e", "REGISTRY_AUTH=htpasswd",
		"-e", "REGISTRY_AUTH_HTPASSWD_REALM=imagelab",
		"-e", "REGISTRY_AUTH_HTPASSWD_PATH=" + registryHtpasswdPath,
		"-e", "REGISTRY_STORAGE_DELETE_ENABLED=true",
		image,
	}
}

// registryHtpasswdPath is where the registry reads its htpasswd file.
const registryHtpasswdPath = "/auth/htpasswd"

// registryAuthTar is the tar stream `docker cp - <container>:/` unpacks:
// auth/htpasswd, readable by the registry whatever user it runs as (the
// file holds a bcrypt hash only).
func registryAuthTar(htpasswdLine string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: "auth/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(registryHtpasswdPath, "/"), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(htpasswdLine)), ModTime: mtime}); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(tw, htpasswdLine); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// registryRunCommands are the commands that start the registry container,
// as up --dry-run shows them.
func registryRunCommands(rt, sandbox, id, stateLabel, image string, port int) []string {
	name := registryContainerName(sandbox)
	cmd := append([]string{rt}, registryCreateArgs(sandbox, id, stateLabel, image, port)...)
	return append(cmd, "&&", "<tar of auth/htpasswd>", "|", rt, "cp", "-", name+":/", "&&", rt, "start", name)
}

// HtpasswdCost is the bcrypt cost of the sandbox registry's htpasswd.
// The registry checks the hash on every authenticated request; at the
// default cost (10) that is about 70 ms on a 2-core machine, which every
// live check would pay several times. The password is 20 random
// characters (over 110 bits), so the cost factor adds no real protection
// against guessing: the lowest cost is used.
const HtpasswdCost = bcrypt.MinCost

// Htpasswd is one htpasswd line with a bcrypt hash, as the registry reads it.
func Htpasswd(user, password string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), HtpasswdCost)
	if err != nil {
		return "", err
	}
	return user + ":" + string(hash) + "\n", nil
}

// RandomPassword makes a registry password: letters and digits only, so
// it is easy to type and paste.
func RandomPassword() (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

// freePort finds a free TCP port on loopback, preferring the short ones
// kind's own recipe uses (5001…): learners type it in every image name.
// It skips the ports in tried: imagelab sees only the ports in use where it
// runs, and the engine may refuse one that looks free here (Docker Desktop
// on Windows refuses Hyper-V's reserved ranges, seen from WSL2 as free).
// After a few refusals it takes a port the kernel picks, far from the
// short range a reservation may cover.
func freePort(tried map[int]bool) (int, error) {
	if len(tried) < shortPortTries {
		for p := 5001; p < 5050; p++ {
			if tried[p] {
				continue
			}
			if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				ln.Close()
				return p, nil
			}
		}
	}
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !tried[p] {
			return p, nil
		}
	}
	return 0, errors.New("no free port on 127.0.0.1")
}

// shortPortTries is how many refused short ports send freePort to the
// kernel's; registryPortTries bounds the ports tried in all.
const (
	shortPortTries    = 3
	registryPortTries = 6
)

// Plan is what imagelab up would create: printed by up --dry-run.
type Plan struct {
	Name          string
	NodeImage     string
	Runtime       string
	ClusterConfig string
	RegistryImage string
	RegistryHost  string
	RegistryRun   []string
	NetworkJoin   []string
	HostsTomlPath string
	HostsToml     string
	ConfigMap     string
	Kubeconfig    string
}

// PlanKind describes the kind sandbox without creating anything.
func PlanKind(opts KindOptions) (*Plan, error) {
	opts.defaults()
	port, err := freePort(nil)
	if err != nil {
		return nil, err
	}
	rt := "docker"
	if r, err := chooseRuntime(context.Background(), opts.Runtime, nil); err == nil {
		rt = r.bin
		opts.RegistryImage = r.imageName(context.Background(), opts.RegistryImage)
	}
	cfg, err := yaml.Marshal(KindConfig(opts.Name, opts.NodeImage))
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("localhost:%d", port)
	cm, err := yaml.Marshal(RegistryConfigMap(host, opts.Name))
	if err != nil {
		return nil, err
	}
	nodeImage := opts.NodeImage
	if nodeImage == "" {
		nodeImage = defaults.Image
	}
	return &Plan{
		Name: opts.Name, NodeImage: nodeImage, Runtime: rt, ClusterConfig: string(cfg),
		RegistryImage: opts.RegistryImage, RegistryHost: host,
		RegistryRun:   registryRunCommands(rt, opts.Name, "<random id>", StateLabel(opts.StateDir), opts.RegistryImage, port),
		NetworkJoin:   []string{rt, "network", "connect", kindNetworkFor(rt), registryContainerName(opts.Name)},
		HostsTomlPath: HostsTomlPath(host), HostsToml: HostsToml(registryContainerName(opts.Name)),
		ConfigMap: string(cm), Kubeconfig: filepath.Join(opts.StateDir, "kubeconfig"),
	}, nil
}

// kindSession holds what one Up or Down needs.
type kindSession struct {
	opts     KindOptions
	rt       containerRuntime
	provider *cluster.Provider
	// registryLimit bounds the wait for the registry (default 30 s).
	registryLimit time.Duration
	// lock is the state dir's, held while the sandbox is made or removed.
	lock *stateLock
	// kindRunning is kind's Create, still running after a Ctrl-C.
	kindRunning <-chan error
}

// clearKindLock removes a stale kind lock on kubeconfig (stateLock.clearKindLock).
func (s *kindSession) clearKindLock(kubeconfig string) error {
	if s.lock == nil {
		return nil
	}
	return s.lock.clearKindLock(kubeconfig, func(msg string) {
		s.opts.Report(Event{Phase: PhaseCluster, Log: true, Message: msg})
	})
}

func newKindSession(ctx context.Context, opts KindOptions) (*kindSession, error) {
	opts.defaults()
	if opts.StateDir == "" {
		return nil, errors.New("no state dir")
	}
	rt, err := chooseRuntime(ctx, opts.Runtime, func(task Task, subject, msg string) {
		opts.Report(Event{Phase: PhaseConnect, Log: true, Task: task, Subject: subject, Message: msg})
	})
	if err != nil {
		return nil, err
	}
	popt := cluster.ProviderWithDocker()
	if rt.bin == "podman" {
		popt = cluster.ProviderWithPodman()
	}
	opts.RegistryImage = rt.imageName(ctx, opts.RegistryImage)
	return &kindSession{opts: opts, rt: rt, provider: cluster.NewProvider(popt, cluster.ProviderWithLogger(kindLogger{opts.Report}))}, nil
}

// UpKind creates the kind sandbox, or reuses the one imagelab made before.
// On failure or cancellation (Ctrl-C) it removes what it made.
func UpKind(ctx context.Context, opts KindOptions) (*Sandbox, error) {
	if opts.StateDir == "" {
		return nil, errors.New("no state dir")
	}
	lock, err := lockStateDir(opts.StateDir)
	if err != nil {
		return nil, err
	}
	var s *kindSession
	defer func() {
		if s != nil && s.kindRunning != nil {
			// kind still runs after a Ctrl-C (it can't be stopped): the
			// lock stays held until it returns.
			go func() { <-s.kindRunning; lock.release() }()
			return
		}
		lock.release()
	}()
	if old, err := Load(opts.StateDir); err == nil && opts.Runtime == "" {
		opts.Runtime = old.Runtime // reuse with the runtime that made it
	}
	s, err = newKindSession(ctx, opts)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	var phases openPhases
	s.opts.Report = phases.watch(s.opts.Report)
	opts = s.opts
	if old, err := Load(opts.StateDir); err == nil {
		if old.Provider != ProviderKind || old.Name != opts.Name {
			return nil, fmt.Errorf("a %s sandbox %q is set up in %s: run imagelab down first", old.Provider, old.Name, opts.StateDir)
		}
		sb, err := s.reuse(ctx, old)
		switch {
		case err == nil, errors.Is(err, ErrSeed):
			return sb, err
		case errors.Is(err, errRemake):
			// Definitely not usable (never finished, or its cluster is
			// gone): clean up and make it again.
			opts.Report(Event{Phase: PhaseConnect, Log: true, Task: TaskRemake, Subject: err.Error(), Message: "the sandbox from before " + err.Error() + "; making it again"})
			if err := s.remove(context.WithoutCancel(ctx), old); err != nil {
				return nil, err
			}
		default:
			// Slow or cancelled: the learner's work stays; they decide.
			return nil, fmt.Errorf("the sandbox from before does not answer: %w (imagelab down removes it, then imagelab up makes a new one)", err)
		}
	} else if !errors.Is(err, ErrNoSandbox) {
		return nil, err
	}
	if err := s.refuseClash(ctx); err != nil {
		return nil, err
	}

	sb, err := s.create(ctx)
	if errors.Is(err, ErrSeed) {
		return sb, err // the sandbox is made; the next up retries the seed
	}
	if err != nil {
		phases.fail(opts.Report)
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if sb != nil {
			remove := s.remove
			if errors.Is(err, errKeepRecord) {
				remove = s.removeKeepingRecord
			}
			if rerr := remove(cleanupCtx, sb); rerr != nil {
				err = fmt.Errorf("%w\n(and cleaning up failed: %v; imagelab down retries)", err, rerr)
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cancelled; what was made is removed: %w", ctx.Err())
		}
		return nil, err
	}
	return sb, nil
}

// refuseClash stops when a cluster or container with our names exists
// that imagelab's state does not know: it is someone else's.
func (s *kindSession) refuseClash(ctx context.Context) error {
	clusters, err := s.provider.List()
	if err != nil {
		return fmt.Errorf("listing kind clusters: %w", err)
	}
	if slices.Contains(clusters, s.opts.Name) {
		return fmt.Errorf("%w: kind cluster %q (choose another name with --name, or delete it yourself: kind delete cluster --name %s)", ErrNameClash, s.opts.Name, s.opts.Name)
	}
	c, err := s.rt.inspect(ctx, registryContainerName(s.opts.Name))
	if err != nil {
		return err
	}
	if c != nil && c.Labels[LabelManagedBy] != ManagedBy {
		return fmt.Errorf("%w: container %q (choose another name with --name)", ErrNameClash, registryContainerName(s.opts.Name))
	}
	if c != nil && c.Labels[LabelStateDir] != StateLabel(s.opts.StateDir) {
		// imagelab's, but another state dir's (another IMAGELAB_HOME):
		// its sandbox may be in use.
		return fmt.Errorf("%w: container %q belongs to the imagelab sandbox of another state dir (IMAGELAB_HOME); run imagelab down there, or choose another name with --name", ErrNameClash, registryContainerName(s.opts.Name))
	}
	if c != nil { // ours, left by a crashed run
		_, err := s.rt.run(ctx, nil, "rm", "-f", registryContainerName(s.opts.Name))
		return err
	}
	return nil
}

// create makes registry, cluster and wiring. It saves the sandbox early
// (Complete false) so a crash mid-way leaves a record imagelab down can
// clean up from. The returned sandbox is non-nil once anything was made.
func (s *kindSession) create(ctx context.Context) (*Sandbox, error) {
	o := s.opts
	password, err := RandomPassword()
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{
		Provider: ProviderKind, Name: o.Name, ID: NewID(), Runtime: s.rt.bin,
		Kubeconfig: filepath.Join(o.StateDir, "kubeconfig"), Context: "kind-" + o.Name,
		Namespace:       DefaultNamespace,
		Registry:        Registry{User: RegistryUser, Password: password, Container: registryContainerName(o.Name)},
		DockerConfigDir: filepath.Join(o.StateDir, "docker"),
		WorkDir:         filepath.Join(o.StateDir, "work"),
		Kubelet:         true,
		CreatedAt:       time.Now().UTC().Truncate(time.Second),
	}
	if err := sb.Save(o.StateDir); err != nil {
		return nil, err
	}

	done := o.Report.phase(PhaseRegistry, TaskStartRegistry, "", "Starting the private registry")
	if err := s.startRegistry(ctx, sb); err != nil {
		return sb, err
	}
	if err := sb.Save(o.StateDir); err != nil {
		return sb, err
	}
	done()

	// Seed now: it needs the registry alone, and a failure (Docker Hub's
	// limits, no network) must not cost the cluster: up finishes the
	// sandbox and says so, and the next up retries the seed alone. The
	// engine's architecture is the node's: the node runs on it.
	seeded := LinuxPlatform(s.rt.arch)
	seedErr := s.seed(ctx, sb, seeded, false)
	if ctx.Err() != nil {
		return sb, ctx.Err()
	}

	done = o.Report.phase(PhaseCluster, TaskCreateCluster, "", "Creating the kind cluster (about a minute)")
	if err := s.createCluster(ctx, sb); err != nil {
		return sb, err
	}
	// What down may delete: these node containers, not a cluster that
	// has the name later.
	if err := s.recordNodes(ctx, sb); err != nil {
		return sb, err
	}
	client, err := sb.Client()
	if err != nil {
		return sb, err
	}
	// Ready means Ready: kind's own wait returns nil on timeout.
	if err := waitNodesReady(ctx, client, o.WaitForReady); err != nil {
		return sb, fmt.Errorf("%w\n(kind export logs --name %s gathers the node's logs)", err, sb.Name)
	}
	done()

	done = o.Report.phase(PhaseWire, TaskWire, "", "Wiring the registry into the cluster")
	if err := s.wire(ctx, sb, client); err != nil {
		return sb, err
	}
	done()

	done = o.Report.phase(PhaseNamespace, TaskPrepareNamespace, sb.Namespace, "Preparing namespace "+sb.Namespace)
	if _, err := EnsureNamespace(ctx, client, sb.Namespace, sb); err != nil {
		return sb, err
	}
	for _, dir := range []string{sb.DockerConfigDir, sb.WorkDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return sb, err
		}
	}
	done()

	if p := nodePlatform(ctx, client); seedErr == nil && seeded != nil && p != nil && !p.Equals(*seeded) {
		// The node is not what the engine said: seed again for the node.
		// (Seeded for no platform, the seed is an index of every one.)
		seedErr = s.seed(ctx, sb, p, true)
	}
	sb.Complete = true
	if err := sb.Save(o.StateDir); err != nil {
		return sb, err
	}
	if seedErr != nil {
		return sb, seedErr
	}
	o.Report.phase(PhaseReady, TaskReady, "", "Sandbox ready")()
	return sb, nil
}

// ErrSeed means the sandbox is ready but its image could not be seeded.
// The sandbox stays: imagelab up again retries the seed alone.
var ErrSeed = errors.New("the sandbox is ready, but the image " + SeedRepository + ":" + SeedTag + " could not be put in its registry")

// seed puts the seed image into the registry for platform (nil: every
// platform), unless it is there already (force pushes again). A failure
// is an ErrSeed, reported and left for the next up.
func (s *kindSession) seed(ctx context.Context, sb *Sandbox, platform *v1.Platform, force bool) error {
	report := s.opts.Report
	opts := s.opts.Seed
	if opts.Platform == nil {
		opts.Platform = platform
	}
	opts.Force = opts.Force || force
	opts.engine = &s.rt
	opts.note = func(msg string) { report(Event{Phase: PhaseSeed, Log: true, Message: msg}) }
	done := report.phase(PhaseSeed, TaskSeed, sb.SeedImage(), "Seeding "+sb.SeedImage())
	if _, err := Seed(ctx, sb.Registry, opts); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		report(Event{Phase: PhaseSeed, Log: true, Task: TaskSeedFailed, Subject: err.Error(), Message: "seeding failed; the sandbox goes on without it: " + err.Error()})
		return fmt.Errorf("%w: %v\n(imagelab up again keeps the sandbox and retries only this; --seed-image names a mirror, or a docker-save tarball or OCI layout dir for a machine offline)", ErrSeed, err)
	}
	done()
	return nil
}

// ensureSeed seeds a sandbox made before, when its image is missing (a
// seed that failed, or a registry emptied): for its node's platform.
func (s *kindSession) ensureSeed(ctx context.Context, sb *Sandbox) error {
	if !s.opts.Seed.Force && seedPresent(ctx, sb.Registry, s.opts.Seed.Transport) {
		return nil
	}
	platform := LinuxPlatform(s.rt.arch)
	if client, err := sb.Client(); err == nil {
		if p := nodePlatform(ctx, client); p != nil {
			platform = p
		}
	}
	return s.seed(ctx, sb, platform, false)
}

// startRegistry runs the registry container on a free loopback port and
// waits until it answers with the sandbox's credentials.
func (s *kindSession) startRegistry(ctx context.Context, sb *Sandbox) error {
	line, err := Htpasswd(sb.Registry.User, sb.Registry.Password)
	if err != nil {
		return err
	}
	auth, err := registryAuthTar(line)
	if err != nil {
		return err
	}
	if err := s.runRegistry(ctx, sb, auth); err != nil {
		return err
	}
	return s.waitRegistry(ctx, sb, s.registryWait())
}

// runRegistry creates the registry container on a free loopback port,
// copies its htpasswd file in and starts it. A port the engine refuses
// (taken, or reserved by the host) is not tried again: the next attempt
// takes another.
func (s *kindSession) runRegistry(ctx context.Context, sb *Sandbox, auth []byte) error {
	o := s.opts
	name := registryContainerName(o.Name)
	tried := map[int]bool{}
	var runErr error
	for range registryPortTries {
		port, err := freePort(tried)
		if err != nil {
			return err
		}
		tried[port] = true
		sb.Registry.Host = fmt.Sprintf("localhost:%d", port)
		if _, runErr = s.rt.run(ctx, nil, registryCreateArgs(o.Name, sb.ID, StateLabel(o.StateDir), o.RegistryImage, port)...); runErr != nil {
			break
		}
		if _, runErr = s.rt.run(ctx, bytes.NewReader(auth), "cp", "-", name+":/"); runErr != nil {
			runErr = fmt.Errorf("copying the htpasswd file into the registry container: %w", runErr)
			break
		}
		_, runErr = s.rt.run(ctx, nil, "start", name)
		if !errors.Is(runErr, ErrPortTaken) {
			break
		}
		o.Report(Event{Phase: PhaseRegistry, Log: true, Task: TaskPortTaken, Subject: strconv.Itoa(port), Message: fmt.Sprintf("port %d is not available; trying another", port)})
		// The container was made before its port was refused.
		_, _ = s.rt.run(ctx, nil, "rm", "-f", name)
	}
	switch {
	case errors.Is(runErr, ErrImagePull):
		return pullError(o.RegistryImage, "--registry-image", runErr)
	case errors.Is(runErr, ErrPortTaken):
		return fmt.Errorf("no port the engine accepts after %d tries: %w", registryPortTries, runErr)
	case runErr != nil && ctx.Err() == nil:
		return s.withRegistryLogs(ctx, name, runErr)
	}
	return runErr
}

func (s *kindSession) registryWait() time.Duration {
	if s.registryLimit > 0 {
		return s.registryLimit
	}
	return 30 * time.Second
}

// waitRegistry waits until the registry container answers with the
// credentials. A container that stopped or keeps restarting fails at once
// (a registry that cannot start restarts forever); every failure carries
// the container's last log lines, which say why.
func (s *kindSession) waitRegistry(ctx context.Context, sb *Sandbox, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var checked time.Time
	for {
		err := PingRegistry(ctx, sb.Registry, nil)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(checked) > 500*time.Millisecond {
			checked = time.Now()
			c, ierr := s.rt.inspect(ctx, sb.Registry.Container)
			switch {
			case ierr != nil:
				return ierr
			case c == nil:
				return fmt.Errorf("the registry container %s is gone", sb.Registry.Container)
			case c.Restarting || c.RestartCount > 0:
				return s.withRegistryLogs(ctx, sb.Registry.Container, fmt.Errorf("the registry container %s keeps stopping (restarted %d times)", sb.Registry.Container, c.RestartCount))
			case !c.Running:
				return s.withRegistryLogs(ctx, sb.Registry.Container, fmt.Errorf("the registry container %s stopped", sb.Registry.Container))
			}
		}
		if time.Now().After(deadline) {
			return s.withRegistryLogs(ctx, sb.Registry.Container, fmt.Errorf("the registry container did not answer in %s: %w", limit, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// registryLogLines is how many of the container's last log lines a
// start-up error quotes.
const registryLogLines = 15

// withRegistryLogs adds the container's last log lines to err.
func (s *kindSession) withRegistryLogs(ctx context.Context, container string, err error) error {
	out, lerr := s.rt.combined(ctx, "logs", "--tail", strconv.Itoa(registryLogLines), container)
	out = strings.TrimSpace(out)
	if lerr != nil || out == "" {
		return err
	}
	return fmt.Errorf("%w\nthe registry container's last lines (%s logs %s):\n  %s", err, s.rt.bin, container, strings.ReplaceAll(out, "\n", "\n  "))
}

// createCluster runs kind's Create; kind is not cancellable, so on Ctrl-C
// the node is deleted under it, which makes Create return.
func (s *kindSession) createCluster(ctx context.Context, sb *Sandbox) error {
	o := s.opts
	opts := []cluster.CreateOption{
		cluster.CreateWithV1Alpha4Config(KindConfig(o.Name, o.NodeImage)),
		cluster.CreateWithKubeconfigPath(sb.Kubeconfig),
		// No wait in kind: it returns nil when its wait times out.
		// waitNodesReady waits through the API and says why not.
		cluster.CreateWithWaitForReady(0),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	}
	if o.NodeImage != "" {
		opts = append(opts, cluster.CreateWithNodeImage(o.NodeImage))
	}
	if err := s.clearKindLock(sb.Kubeconfig); err != nil {
		return err
	}
	result := make(chan error, 1)
	go func() { result <- s.provider.Create(o.Name, opts...) }()
	select {
	case err := <-result:
		if err != nil {
			return kindCreateError(err, o)
		}
	case <-ctx.Done():
		_ = s.provider.Delete(o.Name, sb.Kubeconfig)
		select {
		case <-result:
		case <-time.After(2 * time.Minute):
			// kind may still make the node after this: keep the record so
			// imagelab down (or the next up) removes it, and the state
			// dir's lock until kind returns.
			s.kindRunning = result
			return fmt.Errorf("%w: %w", errKeepRecord, ctx.Err())
		}
		return ctx.Err()
	}
	return setKubeconfigNamespace(sb)
}

// errKeepRecord asks UpKind's clean-up to keep the sandbox record.
var errKeepRecord = errors.New("kind is still creating the cluster")

// kindCreateError names the usual reasons kind fails.
func kindCreateError(err error, o KindOptions) error {
	msg := err.Error()
	if strings.Contains(msg, "failed to pull image") || strings.Contains(msg, "pull access denied") || strings.Contains(msg, "no such host") {
		img := o.NodeImage
		if img == "" {
			img = defaults.Image
		}
		return pullError(img, "--node-image", err)
	}
	return fmt.Errorf("creating the kind cluster: %w", err)
}

// setKubeconfigNamespace makes the sandbox namespace the kubeconfig's
// default, so the learner's kubectl needs no -n.
func setKubeconfigNamespace(sb *Sandbox) error {
	cfg, err := clientcmd.LoadFromFile(sb.Kubeconfig)
	if err != nil {
		return err
	}
	if c, ok := cfg.Contexts[sb.Context]; ok {
		c.Namespace = sb.Namespace
	}
	return clientcmd.WriteToFile(*cfg, sb.Kubeconfig)
}

// wire connects the registry to the cluster: the kind network, hosts.toml
// on every node, and the local-registry-hosting ConfigMap.
func (s *kindSession) wire(ctx context.Context, sb *Sandbox, client kubernetes.Interface) error {
	nodes, err := s.provider.ListNodes(sb.Name)
	if err != nil {
		return err
	}
	if err := s.joinNodeNetworks(ctx, sb, nodes); err != nil {
		return err
	}
	if err := writeHostsToml(nodes, sb); err != nil {
		return err
	}
	cm := RegistryConfigMap(sb.Registry.Host, sb.Name)
	_, err = client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = client.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{})
	}
	return err
}

// writeHostsToml writes the registry's hosts.toml on every node. Node
// paths are Linux paths whatever imagelab runs on: kind's WriteFile
// builds them with path, not path/filepath (backslashes on Windows).
func writeHostsToml(nodes []nodes.Node, sb *Sandbox) error {
	p := HostsTomlPath(sb.Registry.Host)
	for _, n := range nodes {
		if err := nodeutils.WriteFile(n, p, HostsToml(sb.Registry.Container)); err != nil {
			return fmt.Errorf("node %s: writing %s: %w", n, p, err)
		}
	}
	return nil
}

// joinNodeNetworks connects the registry container to every network the
// node containers are on, read from the nodes themselves: kind's "kind",
// or whatever KIND_EXPERIMENTAL_DOCKER_NETWORK / _PODMAN_NETWORK named
// when the cluster was made.
func (s *kindSession) joinNodeNetworks(ctx context.Context, sb *Sandbox, nodes []nodes.Node) error {
	reg, err := s.rt.inspect(ctx, sb.Registry.Container)
	if err != nil {
		return err
	}
	if reg == nil {
		return fmt.Errorf("the registry container %s is gone", sb.Registry.Container)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("kind cluster %s has no node container", sb.Name)
	}
	for _, n := range nodes {
		c, err := s.rt.inspect(ctx, n.String())
		if err != nil {
			return err
		}
		if c == nil {
			return fmt.Errorf("the node container %s is gone", n)
		}
		for _, network := range c.Networks {
			if slices.Contains(reg.Networks, network) {
				continue
			}
			if _, err := s.rt.run(ctx, nil, "network", "connect", network, sb.Registry.Container); err != nil {
				return fmt.Errorf("joining the registry to network %s of node %s: %w", network, n, err)
			}
			reg.Networks = append(reg.Networks, network)
		}
	}
	return nil
}

// kindNetworkFor is the network kind will put its nodes on with runtime rt.
func kindNetworkFor(rt string) string {
	env := "KIND_EXPERIMENTAL_DOCKER_NETWORK"
	if rt == "podman" {
		env = "KIND_EXPERIMENTAL_PODMAN_NETWORK"
	}
	if n := os.Getenv(env); n != "" {
		return n
	}
	return kindNetwork
}

// recordNodes saves the IDs of the cluster's node containers in the
// sandbox's record.
func (s *kindSession) recordNodes(ctx context.Context, sb *Sandbox) error {
	nodes, err := s.provider.ListNodes(sb.Name)
	if err != nil {
		return err
	}
	sb.NodeContainers = nil
	for _, n := range nodes {
		id, _, err := s.rt.identity(ctx, n.String())
		if err != nil {
			return err
		}
		sb.NodeContainers = append(sb.NodeContainers, id)
	}
	return sb.Save(s.opts.StateDir)
}

// ownsCluster tells whether the kind cluster named as the sandbox is the
// one it made: its node containers are those recorded — or, for a record
// without them (creation cut short before kind returned), made after the
// sandbox was. A cluster made under that name since (by the learner, say)
// is not the sandbox's. No cluster by that name (no clusterNodes, as the
// provider lists them) is nothing to refuse.
func (s *kindSession) ownsCluster(ctx context.Context, sb *Sandbox, clusterNodes []nodes.Node) (bool, string) {
	for _, n := range clusterNodes {
		id, created, err := s.rt.identity(ctx, n.String())
		switch {
		case err != nil:
			return false, fmt.Sprintf("kind cluster %s's node %s could not be inspected (%v)", sb.Name, n, err)
		case id == "":
			continue // gone meanwhile
		case len(sb.NodeContainers) > 0 && !slices.Contains(sb.NodeContainers, id):
			return false, fmt.Sprintf("kind cluster %s is not the one imagelab made (its node container %s is another)", sb.Name, n)
		case len(sb.NodeContainers) == 0 && !created.IsZero() && created.Before(sb.CreatedAt.Add(-time.Minute)):
			return false, fmt.Sprintf("kind cluster %s is older than imagelab's sandbox (its node %s was made %s)", sb.Name, n, created.Format(time.DateTime))
		}
	}
	return true, ""
}

// errRemake marks a saved sandbox that can't be used and may be made again
// without losing anything the learner would miss.
var errRemake = errors.New("cannot be used")

// reuse checks a sandbox made before and starts its containers if they
// were stopped (after a reboot, say).
func (s *kindSession) reuse(ctx context.Context, sb *Sandbox) (*Sandbox, error) {
	if !sb.Complete {
		return nil, fmt.Errorf("%w: it was never finished", errRemake)
	}
	report := s.opts.Report
	done := report.phase(PhaseConnect, TaskCheckPrevious, "", "Checking the sandbox from before")
	clusters, err := s.provider.List()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(clusters, sb.Name) {
		return nil, fmt.Errorf("%w: its kind cluster is gone", errRemake)
	}
	clusterNodes, _ := s.provider.ListNodes(sb.Name) // none listed: nothing to refuse
	if ours, why := s.ownsCluster(ctx, sb, clusterNodes); !ours {
		return nil, fmt.Errorf("%w: %s", errRemake, why)
	}
	quick, cancel := context.WithTimeout(ctx, 3*time.Second)
	h := Check(quick, sb)
	cancel()
	if !h.Ready() {
		nodes, _ := s.provider.ListNodes(sb.Name)
		names := []string{sb.Registry.Container}
		for _, n := range nodes {
			names = append(names, n.String())
		}
		if _, err := s.rt.run(ctx, nil, append([]string{"start"}, names...)...); err != nil {
			return nil, err
		}
		client, err := sb.Client()
		if err != nil {
			return nil, err
		}
		if err := waitAPIServer(ctx, client, time.Minute); err != nil {
			return nil, err
		}
		if err := waitNodesReady(ctx, client, s.opts.WaitForReady); err != nil {
			return nil, err
		}
		if err := s.waitRegistry(ctx, sb, s.registryWait()); err != nil {
			return nil, err
		}
	}
	done()
	if err := s.ensureSeed(ctx, sb); err != nil {
		return sb, err
	}
	report.phase(PhaseReady, TaskReady, "", "Sandbox ready")()
	return sb, nil
}

func waitAPIServer(ctx context.Context, client kubernetes.Interface, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := Ping(ctx, client)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// removeKeepingRecord removes what it can and keeps sandbox.json.
func (s *kindSession) removeKeepingRecord(ctx context.Context, sb *Sandbox) error {
	return s.removeWith(ctx, sb, false)
}

// remove deletes the kind cluster (imagelab's record says it made it),
// every container labelled as this sandbox's, and imagelab's files.
func (s *kindSession) remove(ctx context.Context, sb *Sandbox) error {
	return s.removeWith(ctx, sb, true)
}

func (s *kindSession) removeWith(ctx context.Context, sb *Sandbox, forget bool) error {
	report := s.opts.Report
	var errs []error
	// Always with our own kubeconfig path: kind edits the file it is given.
	kubeconfig := filepath.Join(s.opts.StateDir, "kubeconfig")
	if err := s.clearKindLock(kubeconfig); err != nil {
		return err
	}
	// A cluster that never got a node (up failed before it) is not
	// announced as deleted; kind still forgets its kubeconfig entry.
	done := func() {}
	clusterNodes, err := s.provider.ListNodes(sb.Name)
	if err != nil || len(clusterNodes) > 0 {
		done = report.phase(PhaseCluster, TaskDeleteCluster, sb.Name, "Deleting kind cluster "+sb.Name)
	}
	if ours, why := s.ownsCluster(ctx, sb, clusterNodes); !ours {
		report(Event{Phase: PhaseCluster, Log: true, Message: why + ": left alone"})
	} else if err := s.provider.Delete(sb.Name, kubeconfig); err != nil {
		errs = append(errs, fmt.Errorf("deleting kind cluster %s: %w", sb.Name, err))
	}
	done()
	done = report.phase(PhaseRegistry, TaskRemoveRegistry, "", "Removing the registry container")
	names, err := s.rt.listManaged(ctx, sb)
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range names {
		if _, err := s.rt.run(ctx, nil, "rm", "-f", "-v", n); err != nil {
			errs = append(errs, err)
		}
	}
	done()
	if len(errs) > 0 || !forget {
		return errors.Join(errs...)
	}
	_ = os.RemoveAll(filepath.Join(s.opts.StateDir, "registry"))
	return forgetFiles(sb, s.opts.StateDir)
}

// DownKind removes the kind sandbox recorded in opts.StateDir, also when
// its creation was cut short.
func DownKind(ctx context.Context, opts KindOptions, sb *Sandbox) error {
	if opts.Runtime == "" {
		opts.Runtime = sb.Runtime // the runtime that made it, not the first one found
	}
	if opts.StateDir == "" {
		return errors.New("no state dir")
	}
	lock, err := lockStateDir(opts.StateDir)
	if err != nil {
		return err
	}
	defer lock.release()
	s, err := newKindSession(ctx, opts)
	if err != nil {
		return err
	}
	s.lock = lock
	return s.remove(ctx, sb)
}

// kindLogger hands kind's log lines to the reporter: nothing may print
// to the terminal while the TUI owns it.
type kindLogger struct{ report Reporter }

func (l kindLogger) line(msg string) {
	msg = strings.TrimSpace(msg)
	if msg != "" {
		l.report(Event{Phase: PhaseCluster, Log: true, Message: msg})
	}
}
func (l kindLogger) Warn(m string)                        { l.line(m) }
func (l kindLogger) Warnf(f string, a ...any)             { l.line(fmt.Sprintf(f, a...)) }
func (l kindLogger) Error(m string)                       { l.line(m) }
func (l kindLogger) Errorf(f string, a ...any)            { l.line(fmt.Sprintf(f, a...)) }
func (l kindLogger) V(v kindlog.Level) kindlog.InfoLogger { return kindInfo{l: l, on: v <= 0} }

type kindInfo struct {
	l  kindLogger
	on bool
}

func (i kindInfo) Info(m string) {
	if i.on {
		i.l.line(m)
	}
}
func (i kindInfo) Infof(f string, a ...any) {
	if i.on {
		i.l.line(fmt.Sprintf(f, a...))
	}
}
func (i kindInfo) Enabled() bool { return i.on }
