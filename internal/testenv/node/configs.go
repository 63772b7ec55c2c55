package node

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// containerdConfig is containerd 1.6's config (version 2). Every directory
// is under the state dir; the settings are those this kind of machine needs
// (see shared/notes/offline-kubernetes.md): without restrict_oom_score_adj
// every sandbox fails ("can't get final child's PID from pipe: EOF")
// because CAP_SYS_RESOURCE is missing.
func (c *Cluster) containerdConfig(runc string) string {
	q := strconv.Quote
	return fmt.Sprintf(`version = 2
root = %s
state = %s
temp = %s

[grpc]
  address = %s

[plugins."io.containerd.internal.v1.opt"]
  path = %s

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %s
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = %s
        Root = %s

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %s
    conf_dir = %s
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %s
`,
		q(c.path("containerd/root")), q(c.path("containerd/state")), q(c.path("containerd/tmp")),
		q(c.containerdSock), q(c.path("containerd/opt")),
		q(PauseImage), q(runc), q(c.path("runc")),
		q(cniBinDir), q(c.path("cni/net.d")), q(c.path("containerd/certs.d")))
}

// writeRegistryHosts writes <config_path>/<name>/hosts.toml per registry,
// like kind's local-registry recipe: pods name the registry as name, and
// containerd pulls from url instead.
func (c *Cluster) writeRegistryHosts(hosts map[string]string) error {
	names := make([]string, 0, len(hosts))
	for n := range hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u, err := url.Parse(hosts[n])
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("RegistryHosts[%q] = %q: want a URL like http://127.0.0.1:5000", n, hosts[n])
		}
		if strings.ContainsAny(n, "/ ") || n == "" {
			return fmt.Errorf("RegistryHosts: %q is not a registry host name (host[:port])", n)
		}
		dir := filepath.Join(c.path("containerd/certs.d"), n)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		text := fmt.Sprintf("server = %s\n\n[host.%s]\n  capabilities = [\"pull\", \"resolve\"]\n",
			strconv.Quote(u.Scheme+"://"+n), strconv.Quote(u.Scheme+"://"+u.Host))
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cniConfig is a bridge network with host-local addresses; containerd adds
// the loopback plugin (lo) to every sandbox itself. The bridge, with the
// subnet's first address, is made by Start (createBridge), so the plugin
// runs with isGateway false and leaves IP forwarding alone. No masquerading
// and no default route: pods reach only the host and each other.
func (c *Cluster) cniConfig() ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "imagelab",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridgeName,
				"isGateway":   false,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR, "gateway": bridgeIP}}},
					"dataDir": c.path("cni/ipam"),
				},
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// kubeletConfig is the KubeletConfiguration. failCgroupV1: false because
// this machine has cgroups v1; cgroupfs because containerd 1.6 cannot tell
// the kubelet its driver (no RuntimeConfig call); relaxed eviction and image
// GC so a busy disk does not evict the pods under test; everything written
// goes under the state dir except what the kubelet hard-codes. No
// KUBE-IPTABLES-HINT / KUBE-KUBELET-CANARY chains: there is no kube-proxy to
// read them, and with iptables-nft they would leave empty tables behind.
func (c *Cluster) kubeletConfig(opts Options, certFile, keyFile, caFile string) string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %s
containerRuntimeEndpoint: %s
imageServiceEndpoint: %s
failSwapOn: false
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
tlsCertFile: %s
tlsPrivateKeyFile: %s
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %s
authorization:
  mode: AlwaysAllow
clusterDomain: cluster.local
clusterDNS:
- %s
podLogsDir: %s
volumePluginDir: %s
resolvConf: /etc/resolv.conf
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
  imagefs.inodesFree: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
registerNode: true
serializeImagePulls: true
makeIPTablesUtilChains: false
`, q("/"+cgroupName), q("unix://"+c.containerdSock), q("unix://"+c.containerdSock),
		q(c.nodeIP.String()), c.kubeletPort, c.kubeletHealthzPort,
		q(certFile), q(keyFile), q(caFile), q(clusterDNS),
		q(c.path(podLogsDir)), q(c.path("volume-plugins")))
	if opts.StaticAPIServer {
		// kubeadm's staticPodPath; its fileCheckFrequency (20s) made short
		// so that an edit shows within a second or two (inotify usually
		// sees it at once; the periodic listing is what drops a manifest
		// that no longer parses).
		fmt.Fprintf(&b, "staticPodPath: %s\nfileCheckFrequency: 1s\n", q(c.path(manifestsDir)))
	}
	if opts.ImageCredentialsVerification != "" {
		fmt.Fprintf(&b, "imagePullCredentialsVerificationPolicy: %s\n", q(opts.ImageCredentialsVerification))
	}
	return b.String()
}
