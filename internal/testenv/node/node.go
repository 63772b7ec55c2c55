// (node.go is long on purpose: the start-up order of the control plane and
// the node, one process after another, reads best in one place.)
//
// Package node runs a real one-node Kubernetes cluster as local processes
// for integration tests: etcd, kube-apiserver, kube-scheduler and a kubelet
// from BinDir, with Debian's containerd, runc and CNI plugins (installed by
// hack/node-deps.sh). There is no kube-controller-manager: the harness
// creates each namespace's default ServiceAccount (PrepareNamespace) and
// removes the node's not-ready taint itself.
//
// With Options.StaticAPIServer the control plane runs the kubeadm way: the
// kube-apiserver is a static pod of the kubelet (manifest in
// <StateDir>/etc/kubernetes/manifests, kubelet config in
// <StateDir>/var/lib/kubelet/config.yaml), started from an image built
// here from BinDir's binary, and Node() is the node as the exam's shell
// sees it (static.go). check.APIServerFailure finds why that pod does not
// run. What it takes to restart, measured here: a manifest edit
// → the API server ready again in 15–45 s (the kubelet backs a replaced
// static pod off for 10–15 s, and an API server with clients watching
// does not exit on SIGTERM before the kubelet kills it at the 30 s grace
// period); for up to a minute after, the kubelet and the scheduler may
// not see new pods (their watches back off while the API server is down).
//
// It needs root and changes the host: the kubelet writes outside its root
// dir and sets sysctls, CNI makes a bridge. Start records what was there,
// Stop kills every process and puts the host back. One cluster runs per
// machine at a time (Start waits for a lock).
//
// What this kind of machine needs (cgroups v1, no CAP_SYS_RESOURCE, no
// internet) is in shared/notes/offline-kubernetes.md.
package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons/check"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
)

// Options configure Start.
type Options struct {
	// BinDir holds kube-apiserver, etcd, kube-scheduler, kubelet, kubectl.
	BinDir string
	// StateDir receives everything the cluster writes. Keep it short
	// (unix socket paths are limited to 107 bytes); Stop removes it.
	StateDir string
	// RegistryHosts maps a registry name the pods use (e.g. "localhost:5055")
	// to the URL containerd really reaches (e.g. "http://127.0.0.1:5055"),
	// written as containerd hosts.toml under config_path, like kind's
	// local-registry recipe.
	RegistryHosts map[string]string
	// ImageCredentialsVerification sets the kubelet's
	// imagePullCredentialsVerificationPolicy ("" = kubelet default).
	ImageCredentialsVerification string
	// StaticAPIServer runs the kube-apiserver the kubeadm way: as a static
	// pod of the node's kubelet (manifest in <StateDir>/etc/kubernetes/
	// manifests, image built locally from BinDir's kube-apiserver,
	// imagePullPolicy Never, hostNetwork), so that editing the manifest
	// restarts it as on an exam node. Node() then gives the node's shell
	// and files. The default (false) runs it as a process beside etcd.
	StaticAPIServer bool
	// Log receives the processes' output, each line prefixed with its
	// component; nil discards it.
	Log io.Writer
}

// Cluster is a running one-node cluster.
type Cluster struct {
	// Kubeconfig is an admin (system:masters) kubeconfig file.
	Kubeconfig string
	// NodeName is the node's name.
	NodeName string

	opts               Options
	stateDir           string
	claimedStateDir    bool // it was new or empty: Stop may empty it
	createdStateDir    bool // Start made it: Stop removes it
	client             kubernetes.Interface
	log                io.Writer
	containerdSock     string
	nodeIP             net.IP
	kubeletPort        int
	kubeletHealthzPort int

	// mu guards procs and kubelet against RestartKubelet during Stop.
	mu          sync.Mutex
	stopping    bool
	procs       []*proc // in start order
	kubelet     *proc
	kubeletArgs []string
	kubeletLog  *os.File // the kubelet's output, as journald would keep it
	apiPort     int
	host        *hostState
	lock        *os.File
	stopOnce    sync.Once
	stopErr     error
	readyTook   time.Duration
}

const (
	nodeName    = "imagelab-node"
	bridgeName  = "imagelab0"
	cgroupName  = "imagelab-node"
	podCIDR     = "10.217.0.0/24"
	bridgeIP    = "10.217.0.1" // the host's address on the bridge
	serviceCIDR = "10.217.128.0/24"
	clusterDNS  = "10.217.128.10"
	cniBinDir   = "/usr/lib/cni"
	lockFile    = "/run/imagelab-node.lock"
	// maxStateDir keeps <StateDir>/kubelet/pod-resources/kubelet.sock and
	// the plugin sockets below the kernel's 107-byte limit.
	maxStateDir = 64
)

// Paths in the state dir, laid out as on a kubeadm node (under / there).
const (
	pkiDir            = "etc/kubernetes/pki"
	manifestsDir      = "etc/kubernetes/manifests"
	admissionDir      = "etc/kubernetes/admission"
	apiServerManifest = manifestsDir + "/kube-apiserver.yaml"
	kubeletConfigFile = "var/lib/kubelet/config.yaml"
	podLogsDir        = "var/log/pods"
	kubeletLogFile    = "var/log/kubelet.log" // what journalctl -u kubelet shows there
	backupsDir        = "backups"
)

// hostTools are the Debian packages' files the node needs (hack/node-deps.sh).
var hostTools = []string{"/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/ctr", "/usr/sbin/runc",
	cniBinDir + "/bridge", cniBinDir + "/host-local", cniBinDir + "/loopback", "/usr/sbin/iptables"}

// binaries are the Kubernetes binaries Start runs from BinDir.
var binaries = []string{"etcd", "kube-apiserver", "kube-scheduler", "kubelet", "kubectl"}

// checkHost says why a node cannot start here, or nil.
// Require stops the test unless this machine can run a node (root, the
// Debian packages of hack/node-deps.sh, the Kubernetes binaries). Like
// testenv.Require it skips under plain go test and fails under
// IMAGELAB_INTEGRATION=1.
func Require(t testing.TB) {
	t.Helper()
	if err := checkHost(""); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	testenv.Require(t, binaries...)
}

func checkHost(binDir string) error {
	if os.Geteuid() != 0 {
		return errors.New("a kubelet and containerd need root (run the test as root)")
	}
	var missing []string
	for _, t := range hostTools {
		if _, err := os.Stat(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s missing: run hack/node-deps.sh", strings.Join(missing, ", "))
	}
	for _, t := range []string{"ip", "mount"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s not on PATH", t)
		}
	}
	if binDir != "" {
		for _, b := range binaries {
			if fi, err := os.Stat(filepath.Join(binDir, b)); err != nil || fi.IsDir() {
				missing = append(missing, b)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s not in %s: run hack/testbin.sh", strings.Join(missing, ", "), binDir)
		}
	}
	if len(cgroupHierarchies()) == 0 {
		return errors.New("no cgroup hierarchy mounted")
	}
	return nil
}

func (c *Cluster) path(rel string) string { return filepath.Join(c.stateDir, rel) }

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "[node] "+format+"\n", args...)
}

// Start brings up the cluster and returns once the node is Ready and
// schedulable and the default namespace has its default ServiceAccount.
// On error it has already cleaned up what it started.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	if opts.BinDir == "" || opts.StateDir == "" {
		return nil, errors.New("node.Start: BinDir and StateDir are required")
	}
	if err := checkHost(opts.BinDir); err != nil {
		return nil, fmt.Errorf("node.Start: %w", err)
	}
	stateDir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	if stateDir == "/" {
		return nil, errors.New("node.Start: StateDir must not be /")
	}
	if len(stateDir) > maxStateDir {
		return nil, fmt.Errorf("node.Start: StateDir %s is %d bytes; use one of at most %d (socket paths are limited)", stateDir, len(stateDir), maxStateDir)
	}
	c := &Cluster{NodeName: nodeName, opts: opts, stateDir: stateDir, log: opts.Log}
	if c.log == nil {
		c.log = io.Discard
	}
	if err := c.acquireLock(ctx); err != nil {
		return nil, err
	}
	if err := c.cleanUpEarlierRun(); err != nil {
		c.unlock() // keeping the saved state: the next Start tries again
		return nil, fmt.Errorf("node.Start: cleaning up after an earlier run: %w", err)
	}
	if err := c.start(ctx); err != nil {
		c.logf("start failed: %v", err)
		if stopErr := c.Stop(); stopErr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, stopErr)
		}
		return nil, fmt.Errorf("node.Start: %w", err)
	}
	c.logf("node %s Ready, %v after Start (kubelet start to Ready: %v)", nodeName, time.Since(began).Round(time.Millisecond), c.readyTook.Round(time.Millisecond))
	return c, nil
}

// acquireLock waits for the machine-wide lock: the kubelet's fixed paths,
// the bridge and the cgroup root allow one cluster at a time.
func (c *Cluster) acquireLock(ctx context.Context) error {
	f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("node.Start: %w", err)
	}
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			c.lock = f
			return nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("node.Start: waiting for %s (another cluster is running): %w", lockFile, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// savedState is what Stop needs to clean up; Start keeps it in the lock
// file until Stop, so that a run killed in between is cleaned up by the next.
type savedState struct {
	StateDir        string
	CreatedStateDir bool
	ContainerdSock  string
	Host            *hostState
}

func (c *Cluster) saveState() error {
	b, err := json.Marshal(savedState{StateDir: c.stateDir, CreatedStateDir: c.createdStateDir, ContainerdSock: c.containerdSock, Host: c.host})
	if err != nil {
		return err
	}
	if err := c.lock.Truncate(0); err != nil {
		return err
	}
	if _, err := c.lock.WriteAt(b, 0); err != nil {
		return err
	}
	return c.lock.Sync()
}

// cleanUpEarlierRun stops what a run killed before its Stop left: its
// pods' processes, shims, mounts, bridge, files and sysctls.
func (c *Cluster) cleanUpEarlierRun() error {
	b, err := os.ReadFile(lockFile)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil || s.StateDir == "" || s.StateDir == "/" || s.Host == nil {
		c.logf("ignoring unreadable state in %s", lockFile)
		return c.lock.Truncate(0)
	}
	c.logf("cleaning up after an earlier run that did not stop (state dir %s)", s.StateDir)
	old := &Cluster{stateDir: s.StateDir, claimedStateDir: true, createdStateDir: s.CreatedStateDir, containerdSock: s.ContainerdSock, host: s.Host, log: c.log}
	if err := old.stop(); err != nil {
		return err
	}
	return c.lock.Truncate(0)
}

// releaseLock forgets the saved state and unlocks. The lock file stays:
// removing it would let two waiters lock two different files.
func (c *Cluster) releaseLock() {
	if c.lock != nil {
		_ = c.lock.Truncate(0)
	}
	c.unlock()
}

func (c *Cluster) unlock() {
	if c.lock == nil {
		return
	}
	_ = syscall.Flock(int(c.lock.Fd()), syscall.LOCK_UN)
	c.lock.Close()
	c.lock = nil
}

func (c *Cluster) start(ctx context.Context) error {
	began := time.Now()
	// The state dir must be new or empty: Stop removes it.
	if entries, err := os.ReadDir(c.stateDir); err == nil {
		if len(entries) > 0 {
			return fmt.Errorf("StateDir %s is not empty", c.stateDir)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(c.stateDir, 0o755); err != nil {
			return err
		}
		c.createdStateDir = true
	} else {
		return err
	}
	c.claimedStateDir = true
	_, cidr, _ := net.ParseCIDR(podCIDR)
	if _, err := net.InterfaceByName(bridgeName); err == nil {
		return fmt.Errorf("network interface %s exists already (left by a run that was killed? ip link delete %s)", bridgeName, bridgeName)
	}
	if subnetInUse(cidr) {
		return fmt.Errorf("pod subnet %s overlaps a host address or route", podCIDR)
	}
	var err error
	if c.nodeIP, err = nodeIP(cidr); err != nil {
		return err
	}
	c.containerdSock = c.path("containerd.sock")

	// A run killed before its Stop leaves its pods' processes and cgroups.
	if pids := killCgroups(cgroupName, 10*time.Second); len(pids) > 0 {
		return fmt.Errorf("processes %v of an earlier run in cgroup /%s do not die", pids, cgroupName)
	}
	if err := removeCgroups(cgroupName); err != nil {
		return fmt.Errorf("an earlier run's cgroups: %w", err)
	}
	if c.host, err = recordHost(bridgeName, cgroupName); err != nil {
		return err
	}
	if err := c.saveState(); err != nil {
		return err
	}

	// Build the pause image while etcd and the API server start.
	type built struct {
		path string
		err  error
	}
	pauseCh := make(chan built, 1)
	go func() {
		p, err := buildPauseImage(c.stateDir)
		pauseCh <- built{p, err}
	}()
	defer func() {
		// Do not leave the build writing into the state dir while Stop runs.
		if pauseCh != nil {
			<-pauseCh
		}
	}()
	// And the API server's image, for the static pod.
	var apiImageCh chan built
	apiImage := ""
	if c.opts.StaticAPIServer {
		apiImage = apiServerImage(filepath.Join(c.opts.BinDir, "kube-apiserver"))
		apiImageCh = make(chan built, 1)
		go func() {
			p, err := buildBinaryImage(c.stateDir, filepath.Join(c.opts.BinDir, "kube-apiserver"), apiImage)
			apiImageCh <- built{p, err}
		}()
		defer func() {
			if apiImageCh != nil {
				<-apiImageCh
			}
		}()
	}

	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	etcdPort, etcdPeerPort, apiPort, schedPort := ports[0], ports[1], ports[2], ports[3]
	c.apiPort = apiPort
	c.kubeletPort, c.kubeletHealthzPort = ports[4], ports[5]

	// Certificates and kubeconfigs.
	for _, d := range []string{"etc/kubernetes", manifestsDir, admissionDir, "var/lib/kubelet", "var/log", backupsDir} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return err
		}
	}
	p, err := newPKI(c.path(pkiDir))
	if err != nil {
		return err
	}
	_, svcNet, _ := net.ParseCIDR(serviceCIDR)
	svcIP := append(net.IP(nil), svcNet.IP.To4()...)
	svcIP[3] = 1
	apiCert, apiKey, err := p.issue("apiserver", "kube-apiserver", nil, true,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.ParseIP("127.0.0.1"), svcIP})
	if err != nil {
		return err
	}
	saPub, saKey, err := p.serviceAccountKey()
	if err != nil {
		return err
	}
	kubeletClientCert, kubeletClientKey, err := p.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, false, nil, nil)
	if err != nil {
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.Kubeconfig = c.path("admin.kubeconfig")
	if err := c.writeKubeconfig(p, c.Kubeconfig, server, "admin", "imagelab-admin", []string{"system:masters"}); err != nil {
		return err
	}
	schedKubeconfig := c.path("scheduler.kubeconfig")
	if err := c.writeKubeconfig(p, schedKubeconfig, server, "scheduler", "system:kube-scheduler", nil); err != nil {
		return err
	}
	kubeletKubeconfig := c.path("kubelet.kubeconfig")
	if err := c.writeKubeconfig(p, kubeletKubeconfig, server, "kubelet", "system:node:"+nodeName, []string{"system:nodes"}); err != nil {
		return err
	}
	kubeletServingCert, kubeletServingKey, err := p.issue("kubelet-serving", "system:node:"+nodeName, []string{"system:nodes"}, true,
		[]string{nodeName, "localhost"}, []net.IP{c.nodeIP, net.ParseIP("127.0.0.1")})
	if err != nil {
		return err
	}

	// etcd.
	bin := func(name string) string { return filepath.Join(c.opts.BinDir, name) }
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	etcd, err := c.run("etcd", bin("etcd"),
		"--name=imagelab", "--data-dir="+c.path("etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=imagelab="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	if err := c.waitFor(ctx, "etcd to be healthy", 30*time.Second, func() (bool, error) {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}, etcd); err != nil {
		return err
	}
	c.logf("etcd healthy (%v)", time.Since(began).Round(time.Millisecond))

	// kube-apiserver: a process now, or (StaticAPIServer) a static pod the
	// kubelet will start, with the same flags.
	apiFlags := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file=" + apiCert, "--tls-private-key-file=" + apiKey,
		"--client-ca-file=" + p.CAFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate=" + kubeletClientCert, "--kubelet-client-key=" + kubeletClientKey,
		"--kubelet-preferred-address-types=InternalIP",
		"--endpoint-reconciler-type=none", "--allow-privileged=true", "--profiling=false",
		"--cert-dir=" + c.path("apiserver"),
	}
	var api *proc // nil for the static pod
	if c.opts.StaticAPIServer {
		manifest, err := c.apiServerManifest(apiImage, apiFlags)
		if err != nil {
			return err
		}
		if err := os.WriteFile(c.path(apiServerManifest), manifest, 0o600); err != nil {
			return err
		}
	} else if api, err = c.run("kube-apiserver", bin("kube-apiserver"), apiFlags...); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}

	// containerd, with the CNI config and registry hosts, while the API
	// server starts.
	runc, err := exec.LookPath("runc")
	if err != nil {
		runc = "/usr/sbin/runc"
	}
	for _, d := range []string{"containerd/root", "containerd/state", "containerd/tmp", "containerd/certs.d", "cni/net.d", "cni/ipam", "runc", podLogsDir, "volume-plugins", "kubelet"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := createBridge(); err != nil {
		return err
	}
	if err := c.writeRegistryHosts(c.opts.RegistryHosts); err != nil {
		return err
	}
	cni, err := c.cniConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path("cni/net.d/10-imagelab.conflist"), cni, 0o644); err != nil {
		return err
	}
	containerdConf := c.path("containerd/config.toml")
	if err := os.WriteFile(containerdConf, []byte(c.containerdConfig(runc)), 0o644); err != nil {
		return err
	}
	containerd, err := c.run("containerd", "/usr/bin/containerd", "--config", containerdConf)
	if err != nil {
		return err
	}
	// Until the kubelet runs, what may die is etcd, containerd and the
	// API server process.
	controlPlane := []*proc{containerd, etcd}
	if api != nil {
		controlPlane = append(controlPlane, api)
	}
	if err := c.waitFor(ctx, "containerd to answer", 30*time.Second, func() (bool, error) {
		return exec.Command("/usr/bin/ctr", "--address", c.containerdSock, "version").Run() == nil, nil
	}, controlPlane...); err != nil {
		return err
	}
	imports := []struct {
		what string
		ch   *chan built
	}{{"the pause image", &pauseCh}, {"the kube-apiserver image", &apiImageCh}}
	for _, im := range imports {
		if *im.ch == nil {
			continue
		}
		b := <-*im.ch
		*im.ch = nil
		if b.err != nil {
			return b.err
		}
		if out, err := exec.CommandContext(ctx, "/usr/bin/ctr", "--address", c.containerdSock, "--namespace", "k8s.io",
			"images", "import", b.path).CombinedOutput(); err != nil {
			return fmt.Errorf("importing %s: %v: %s", im.what, err, strings.TrimSpace(string(out)))
		}
		// The tarball has served its purpose; the image stays in containerd.
		_ = os.Remove(b.path)
	}
	c.logf("containerd up, images imported (%v)", time.Since(began).Round(time.Millisecond))

	waitAPI := func(procs ...*proc) error {
		err := c.waitFor(ctx, "kube-apiserver to be ready", 120*time.Second, func() (bool, error) {
			body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil && strings.TrimSpace(string(body)) == "ok", nil
		}, procs...)
		if err != nil && c.opts.StaticAPIServer {
			if why, ferr := check.APIServerFailure(ctx, c.node()); ferr == nil && why != "" {
				err = fmt.Errorf("%w\nthe static pod's failure, as the node tells it: %s", err, why)
			}
		}
		if err == nil {
			c.logf("kube-apiserver ready (%v)", time.Since(began).Round(time.Millisecond))
		}
		return err
	}
	startScheduler := func() (*proc, error) {
		return c.run("kube-scheduler", bin("kube-scheduler"),
			"--kubeconfig="+schedKubeconfig,
			"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", schedPort), "--leader-elect=false")
	}
	var sched *proc
	if !c.opts.StaticAPIServer {
		if err := waitAPI(controlPlane...); err != nil {
			return err
		}
		if sched, err = startScheduler(); err != nil {
			return err
		}
	}

	// kubelet (in static mode it starts the API server, then registers the
	// node once the API server answers).
	if err := createCgroups(cgroupName); err != nil {
		return err
	}
	kubeletConf := c.path(kubeletConfigFile)
	if err := os.WriteFile(kubeletConf, []byte(c.kubeletConfig(c.opts, kubeletServingCert, kubeletServingKey, p.CAFile)), 0o644); err != nil {
		return err
	}
	if c.kubeletLog, err = os.OpenFile(c.path(kubeletLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return err
	}
	c.kubeletArgs = []string{bin("kubelet"),
		"--config=" + kubeletConf, "--kubeconfig=" + kubeletKubeconfig,
		"--root-dir=" + c.path("kubelet"), "--cert-dir=" + c.path("kubelet-pki"),
		"--hostname-override=" + nodeName, "--node-ip=" + c.nodeIP.String()}
	kubeletStart := time.Now()
	if err := c.startKubelet(); err != nil {
		return err
	}
	if c.opts.StaticAPIServer {
		if err := waitAPI(append(controlPlane, c.kubelet)...); err != nil {
			return err
		}
		if sched, err = startScheduler(); err != nil {
			return err
		}
	}

	if err := c.prepareNamespace(ctx, "default", false); err != nil {
		return err
	}
	all := append(controlPlane, sched, c.kubelet)
	if err := c.waitFor(ctx, "the node to be Ready", 120*time.Second, func() (bool, error) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	}, all...); err != nil {
		return err
	}
	c.readyTook = time.Since(kubeletStart)
	c.logf("node Ready (%v)", time.Since(began).Round(time.Millisecond))
	// No node lifecycle controller (kube-controller-manager) removes the
	// taint admission put on the new node.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var keep []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady {
				continue
			}
			keep = append(keep, t)
		}
		if len(keep) == len(n.Spec.Taints) {
			return nil
		}
		n.Spec.Taints = keep
		_, err = c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("removing the %s taint: %w", corev1.TaintNodeNotReady, err)
	}
	if c.opts.StaticAPIServer {
		// As imagelab up does: copies of the files the lessons edit, to
		// reset from.
		if err := check.BackUpNodeFiles(ctx, c.node()); err != nil {
			return err
		}
	}
	return nil
}

// createBridge makes the pods' bridge with the host's address on it (Stop
// deletes it): host and pods talk on one subnet, nothing is forwarded.
func createBridge() error {
	_, subnet, _ := net.ParseCIDR(podCIDR)
	ones, _ := subnet.Mask.Size()
	for _, args := range [][]string{
		{"link", "add", bridgeName, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("%s/%d", bridgeIP, ones), "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// run starts a component and remembers it for Stop.
func (c *Cluster) run(name, bin string, args ...string) (*proc, error) {
	p, err := startProc(c.log, name, bin, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// waitFor polls cond until it is true, failing early when one of procs exits.
func (c *Cluster) waitFor(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error), procs ...*proc) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range procs {
			if p.exited() {
				return fmt.Errorf("waiting for %s: %w", what, p.deadError())
			}
		}
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			var tails []string
			for _, p := range procs {
				tails = append(tails, fmt.Sprintf("%s's last output:\n%s", p.name, p.tail.lastLines()))
			}
			return fmt.Errorf("timed out after %v waiting for %s\n%s", timeout, what, strings.Join(tails, "\n"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) writeKubeconfig(p *pki, path, server, name, cn string, orgs []string) error {
	certFile, keyFile, err := p.issue(name, cn, orgs, false, nil, nil)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["imagelab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: p.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile}
	cfg.Contexts["imagelab"] = &clientcmdapi.Context{Cluster: "imagelab", AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = "imagelab"
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// PrepareNamespace creates namespace ns (if needed) and its default
// ServiceAccount with automountServiceAccountToken false: with no
// kube-controller-manager nothing else would, and pods are refused
// ("serviceaccount \"default\" not found") without it.
func (c *Cluster) PrepareNamespace(ctx context.Context, ns string) error {
	return c.prepareNamespace(ctx, ns, true)
}

func (c *Cluster) prepareNamespace(ctx context.Context, ns string, create bool) error {
	if create {
		_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	no := false
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}, AutomountServiceAccountToken: &no}
	if _, err := c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default ServiceAccount in %s: %w", ns, err)
	}
	return nil
}

// Stop ends the cluster: it deletes the pods (so the kubelet tears their
// networks down), stops every process, kills what the pods left, unmounts
// everything under the state dir, removes the bridge, the kubelet's files
// outside its root dir and its iptables chains, restores the sysctls it
// changed, and removes the state dir. It is idempotent, and Start calls it
// after a failure.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	// RestartKubelet waits, and then finds the cluster stopping.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	var errs []error
	began := time.Now()
	alive := func(p *proc) bool { return p != nil && !p.exited() }
	var api *proc
	for _, p := range c.procs {
		if p.name == "kube-apiserver" {
			api = p
		}
	}
	apiUp := alive(api)
	if c.opts.StaticAPIServer && c.client != nil {
		// The static pod's API server may be down (a broken manifest).
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		apiUp = err == nil && strings.TrimSpace(string(body)) == "ok"
	}
	// Let the kubelet stop the pods properly (CNI DEL, unmounts). A static
	// pod (the API server) is not deleted through the API: it is killed
	// with the rest below, after the kubelet.
	if c.client != nil && apiUp && alive(c.kubelet) {
		if err := c.deletePods(30 * time.Second); err != nil {
			c.logf("stop: deleting pods: %v (killing them instead)", err)
		}
	}
	byName := map[string]*proc{}
	for _, p := range c.procs {
		byName[p.name] = p
	}
	byName["kubelet"].stop(5 * time.Second)
	byName["kube-scheduler"].stop(5 * time.Second)
	// What the kubelet did not stop: containers and sandboxes, all in the
	// kubelet's cgroup root.
	if pids := killCgroups(cgroupName, 15*time.Second); len(pids) > 0 {
		errs = append(errs, fmt.Errorf("container processes %v do not die", pids))
	}
	byName["containerd"].stop(10 * time.Second)
	// containerd's shims outlive it by design.
	if c.containerdSock != "" {
		shims := procsMatching(func(args []string) bool {
			for i := 0; i+1 < len(args); i++ {
				if args[i] == "-address" && args[i+1] == c.containerdSock {
					return true
				}
			}
			return false
		})
		if left := killPids(shims, 10*time.Second); len(left) > 0 {
			errs = append(errs, fmt.Errorf("containerd shims %v do not die", left))
		}
	}
	byName["kube-apiserver"].stop(10 * time.Second)
	byName["etcd"].stop(10 * time.Second)
	for _, p := range c.procs {
		p.stop(5 * time.Second)
	}
	// Anything else naming the state dir (after a run killed before its
	// Stop: components its death did not take along).
	if c.claimedStateDir {
		others := procsMatching(func(args []string) bool {
			for _, a := range args {
				if strings.Contains(a, c.stateDir+"/") || strings.HasSuffix(a, c.stateDir) {
					return true
				}
			}
			return false
		})
		if left := killPids(others, 10*time.Second); len(left) > 0 {
			errs = append(errs, fmt.Errorf("processes %v naming %s do not die", left, c.stateDir))
		}
	}

	if c.claimedStateDir {
		if left := unmountAll(c.stateDir); len(left) > 0 {
			errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(left, ", ")))
		}
	}
	if err := removeCgroups(cgroupName); err != nil {
		errs = append(errs, err)
	}
	if c.kubeletLog != nil {
		c.kubeletLog.Close()
	}
	errs = append(errs, c.host.restore(bridgeName)...)
	if c.claimedStateDir && len(mountsUnder(c.stateDir)) == 0 {
		var err error
		if c.createdStateDir {
			err = os.RemoveAll(c.stateDir)
		} else {
			err = removeContents(c.stateDir)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("removing the state dir: %w", err))
		}
	}
	c.releaseLock()
	c.logf("stopped in %v", time.Since(began).Round(time.Millisecond))
	return errors.Join(errs...)
}

// deletePods deletes every pod but the static pods' mirrors (the kubelet
// would make them again) and waits until the kubelet has finished them.
func (c *Cluster) deletePods(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	grace := int64(1)
	list := func() ([]corev1.Pod, error) {
		pods, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		var out []corev1.Pod
		for _, p := range pods.Items {
			if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
				out = append(out, p)
			}
		}
		return out, nil
	}
	pods, err := list()
	if err != nil {
		return err
	}
	for _, p := range pods {
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	for {
		pods, err := list()
		if err != nil {
			return err
		}
		if len(pods) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d pods still there after %v", len(pods), timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// leftovers lists what a stopped cluster left on the host (for tests).
func (c *Cluster) leftovers() []string {
	var out []string
	for _, p := range c.procs {
		if p.cmd.Process != nil && alivePid(p.cmd.Process.Pid) {
			out = append(out, fmt.Sprintf("process %s (pid %d) still running", p.name, p.cmd.Process.Pid))
		}
	}
	for _, pid := range procsMatching(func(args []string) bool { return strings.Contains(strings.Join(args, " "), c.stateDir) }) {
		if alivePid(pid) {
			out = append(out, "process still running: pid "+strconv.Itoa(pid)+" mentions "+c.stateDir)
		}
	}
	for _, pid := range cgroupPids(cgroupName) {
		out = append(out, fmt.Sprintf("process %d still in cgroup /%s", pid, cgroupName))
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, cgroupName)); err == nil {
			out = append(out, "cgroup left: "+filepath.Join(h, cgroupName))
		}
	}
	for _, m := range mountsUnder(c.stateDir) {
		out = append(out, "still mounted: "+m)
	}
	if _, err := os.Stat(c.stateDir); err == nil && c.createdStateDir {
		out = append(out, "state dir left: "+c.stateDir)
	}
	return append(out, c.host.differences(bridgeName)...)
}
