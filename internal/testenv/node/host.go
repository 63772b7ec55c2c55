// This file is long on purpose: everything the harness changes on the host
// (containerd, mounts, bridge, iptables, sysctls) and undoes, side by side,
// so that each change is read next to its cleanup.

package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the kubelet, containerd and the CNI plugins change on the host
// outside the state dir. Start records it, Stop puts it back.

// outsidePaths are written by the kubelet, containerd and CNI outside their
// configured directories. /var/lib/kubelet/device-plugins is hard-coded in
// the kubelet; /var/log/containers too (links to podLogsDir); the CNI
// library caches results in /var/lib/cni/results; containerd 1.6 puts its
// shim sockets in /run/containerd/s whatever its state dir. The others are
// the kubelet's defaults, kept in the list in case a default is used.
// /run/mount is util-linux's lock directory for its utab, made by the
// mount commands the kubelet runs.
var outsidePaths = []string{
	"/run/mount",
	"/var/lib/kubelet",
	"/usr/libexec/kubernetes",
	"/var/log/containers",
	"/var/log/pods",
	"/var/lib/cni",
	"/run/containerd",
	"/run/netns",
	"/opt/containerd",
	"/etc/kubernetes",
}

// sysctls the kubelet sets (kernel defaults it enforces unless
// protectKernelDefaults). Only these are put back: the CNI bridge plugin
// would turn on IP forwarding for a gateway bridge, so the harness makes
// the bridge itself and the plugin never touches net.ipv4.ip_forward,
// which Docker, for one, sets while it runs.
var sysctls = []string{
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"vm/overcommit_memory",
	"vm/panic_on_oom",
}

// trackedPath is one outside path as it was before Start.
// (Exported fields: the state is saved in the lock file, so that the next
// Start can clean up after a run killed before its Stop.)
type trackedPath struct {
	Path    string
	Existed bool
	Entries map[string]bool // when it existed: the paths under it then
	Top     string          // when it did not: its topmost missing ancestor (or itself)
}

type hostState struct {
	Sysctls  map[string]string
	Paths    []trackedPath
	Chains   map[string]map[string]bool // "iptables/nat" → chains that existed
	Rules    map[string]map[string]int  // "iptables/nat" → rules (-A lines) that existed
	Bridge   bool                       // the bridge existed before Start
	Recorded bool
}

func recordHost(bridge, cgroupName string) (*hostState, error) {
	h := &hostState{Sysctls: map[string]string{}, Chains: map[string]map[string]bool{}, Rules: map[string]map[string]int{}}
	for _, s := range sysctls {
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil {
			h.Sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	for _, p := range outsidePaths {
		h.Paths = append(h.Paths, trackPath(p))
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			chains, rules, err := iptablesState(bin, table)
			if err != nil {
				continue
			}
			h.Chains[bin+"/"+table] = chains
			h.Rules[bin+"/"+table] = rules
		}
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		h.Bridge = true
	}
	h.Recorded = true
	return h, nil
}

func trackPath(p string) trackedPath {
	t := trackedPath{Path: p}
	if _, err := os.Lstat(p); err == nil {
		t.Existed = true
		t.Entries = map[string]bool{}
		walkSameFS(p, func(path string) { t.Entries[path] = true })
		return t
	}
	t.Top = p
	for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		t.Top = d
	}
	return t
}

// walkSameFS calls fn for every path under root, not crossing mount points.
func walkSameFS(root string, fn func(string)) {
	mounts := mountPoints()
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if path != root && mounts[path] {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // a file mount (a network namespace, say)
		}
		fn(path)
		return nil
	})
}

// restore puts back what recordHost saw; it returns what it could not.
func (h *hostState) restore(bridge string) []error {
	if h == nil || !h.Recorded {
		return nil
	}
	var errs []error
	if !h.Bridge {
		if _, err := net.InterfaceByName(bridge); err == nil {
			if out, err := exec.Command("ip", "link", "delete", bridge).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("deleting bridge %s: %v: %s", bridge, err, bytes.TrimSpace(out)))
			}
		}
	}
	errs = append(errs, h.restoreIptables(bridge)...)
	for _, t := range h.Paths {
		if err := t.restore(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range sysctls {
		old, ok := h.Sysctls[s]
		if !ok {
			continue
		}
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil || strings.TrimSpace(string(b)) == old {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+s, []byte(old), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring sysctl %s=%s: %w", strings.ReplaceAll(s, "/", "."), old, err))
		}
	}
	return errs
}

func (t trackedPath) restore() error {
	root := t.Path
	if !t.Existed {
		root = t.Top
	}
	if _, err := os.Lstat(root); err != nil {
		return nil
	}
	// Innermost first, so directories empty before they are removed.
	// Another program's live sockets stay (containerd 1.6 puts every
	// containerd's shim sockets in /run/containerd/s), and so do the
	// directories holding them.
	live := liveSockets()
	var added []string
	walkSameFS(root, func(p string) {
		if !t.Existed || !t.Entries[p] {
			added = append(added, p)
		}
	})
	var errs []error
	for i := len(added) - 1; i >= 0; i-- {
		p := added[i]
		if live[p] || (t.Existed && p == t.Path) {
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			if err := os.Remove(p); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// liveSockets lists the paths of bound unix sockets (/proc/net/unix).
func liveSockets() map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) >= 8 && strings.HasPrefix(f[7], "/") {
			out[f[7]] = true
		}
	}
	return out
}

// differences lists what is not as recordHost saw it (for tests).
func (h *hostState) differences(bridge string) []string {
	if h == nil || !h.Recorded {
		return nil
	}
	var out, closed []string
	if _, err := net.InterfaceByName(bridge); err == nil && !h.Bridge {
		out = append(out, "bridge "+bridge+" is there")
	}
	for _, t := range h.Paths {
		if !t.Existed {
			if _, err := os.Lstat(t.Top); err == nil {
				out = append(out, "not there before Start: "+t.Top)
			}
			continue
		}
		live := liveSockets()
		walkSameFS(t.Path, func(p string) {
			if t.Entries[p] || live[p] {
				return
			}
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSocket != 0 {
				closed = append(closed, p)
				return
			}
			out = append(out, "not there before Start: "+p)
		})
	}
	// A socket no one listens on may be another program's, going away
	// (Docker's containerd keeps its shims' sockets in /run/containerd/s
	// too, and a shim removes its own as it exits): only one that stays is
	// left over.
	if len(closed) > 0 {
		time.Sleep(time.Second)
		live := liveSockets()
		for _, p := range closed {
			if _, err := os.Lstat(p); err == nil && !live[p] {
				out = append(out, "not there before Start: "+p)
			}
		}
	}
	for _, s := range sysctls {
		old, ok := h.Sysctls[s]
		if !ok {
			continue
		}
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil && strings.TrimSpace(string(b)) != old {
			out = append(out, fmt.Sprintf("sysctl %s is %s, was %s", strings.ReplaceAll(s, "/", "."), strings.TrimSpace(string(b)), old))
		}
	}
	for key, before := range h.Chains {
		bin, table, _ := strings.Cut(key, "/")
		chains, rules, err := iptablesState(bin, table)
		if err != nil {
			continue
		}
		for c := range chains {
			if !before[c] && oursIptables(c, bridge) {
				out = append(out, fmt.Sprintf("%s -t %s: chain %s not there before Start", bin, table, c))
			}
		}
		for r, n := range rules {
			if n > h.Rules[key][r] && oursIptables(r, bridge) {
				out = append(out, fmt.Sprintf("%s -t %s: rule not there before Start: %s", bin, table, r))
			}
		}
	}
	sort.Strings(out)
	return out
}

// iptablesState lists a table's chains and its rules (as -A lines, counted).
func iptablesState(bin, table string) (map[string]bool, map[string]int, error) {
	out, err := exec.Command(bin, "-w", "5", "-t", table, "-S").Output()
	if err != nil {
		return nil, nil, err
	}
	chains := map[string]bool{}
	rules := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "-N", "-P":
			chains[f[1]] = true
		case "-A":
			rules[l]++
		}
	}
	return chains, rules, nil
}

// restoreIptables removes the rules and chains the kubelet and the CNI
// plugins added: only those naming KUBE-*, CNI-* chains or the bridge, so
// that rules another program added meanwhile stay.
func (h *hostState) restoreIptables(bridge string) []error {
	var errs []error
	ours := func(s string) bool { return oursIptables(s, bridge) }
	for key, before := range h.Chains {
		bin, table, _ := strings.Cut(key, "/")
		chains, rules, err := iptablesState(bin, table)
		if err != nil {
			continue
		}
		for r, n := range rules {
			if !ours(r) {
				continue
			}
			for i := h.Rules[key][r]; i < n; i++ {
				args := append([]string{"-w", "5", "-t", table, "-D"}, splitRule(strings.TrimPrefix(r, "-A "))...)
				if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, bytes.TrimSpace(out)))
				}
			}
		}
		var added []string
		for c := range chains {
			if !before[c] && ours(c) {
				added = append(added, c)
			}
		}
		for _, c := range added {
			_ = exec.Command(bin, "-w", "5", "-t", table, "-F", c).Run()
		}
		for _, c := range added {
			if out, err := exec.Command(bin, "-w", "5", "-t", table, "-X", c).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s -t %s -X %s: %v: %s", bin, table, c, err, bytes.TrimSpace(out)))
			}
		}
	}
	return errs
}

// oursIptables reports whether an iptables chain or rule is the kubelet's
// or the CNI plugins' (rather than, say, Docker's).
func oursIptables(s, bridge string) bool {
	return strings.Contains(s, "KUBE-") || strings.Contains(s, "CNI-") || strings.Contains(s, bridge)
}

// splitRule splits an iptables -S rule into arguments, honouring "quotes".
func splitRule(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote = !inQuote
			have = true
		case c == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// mountInfo lists mount points (and fs types) in /proc/self/mountinfo order.
func mountInfo() (points, types []string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		fstype := ""
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				fstype = fields[i+1]
				break
			}
		}
		points = append(points, unescapeMount(fields[4]))
		types = append(types, fstype)
	}
	return points, types
}

func mountPoints() map[string]bool {
	points, _ := mountInfo()
	m := make(map[string]bool, len(points))
	for _, p := range points {
		m[p] = true
	}
	return m
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// mountsUnder lists the mount points at or under dir, innermost (latest) first.
func mountsUnder(dir string) []string {
	points, _ := mountInfo()
	var out []string
	for i := len(points) - 1; i >= 0; i-- {
		if under(points[i], dir) {
			out = append(out, points[i])
		}
	}
	return out
}

// unmountAll unmounts everything at or under dir; it returns what stays.
func unmountAll(dir string) []string {
	for round := 0; round < 20; round++ {
		ms := mountsUnder(dir)
		if len(ms) == 0 {
			return nil
		}
		for _, m := range ms {
			if err := syscall.Unmount(m, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				_ = syscall.Unmount(m, syscall.MNT_DETACH)
			}
		}
		if round > 2 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return mountsUnder(dir)
}

// cgroupHierarchies lists the mount points of the cgroup hierarchies.
func cgroupHierarchies() []string {
	points, types := mountInfo()
	var out []string
	seen := map[string]bool{}
	for i, p := range points {
		if (types[i] == "cgroup" || types[i] == "cgroup2") && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// createCgroups makes /<name> in every hierarchy (the kubelet's cgroupRoot
// must exist); in cpuset it copies the root's cpus and mems so tasks can join.
func createCgroups(name string) error {
	for _, h := range cgroupHierarchies() {
		d := filepath.Join(h, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return fmt.Errorf("creating cgroup %s: %w", d, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if cur, err := os.ReadFile(filepath.Join(d, f)); err == nil && len(bytes.TrimSpace(cur)) == 0 {
					_ = os.WriteFile(filepath.Join(d, f), b, 0o644)
				}
			}
		}
	}
	return nil
}

// cgroupPids lists the processes in /<name> and below, in any hierarchy.
func cgroupPids(name string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, name)
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// killCgroups kills every process in /<name> (the pods' containers and
// sandboxes) until none is left or timeout passes.
func killCgroups(name string, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		pids := cgroupPids(name)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return pids
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroups removes /<name> and everything below it in every hierarchy.
func removeCgroups(name string) error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, name)
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for try := 0; try < 50; try++ {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// procsMatching lists the pids (other than ours) whose argument list
// satisfies match.
func procsMatching(match func(args []string) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if match(args) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killPids sends SIGKILL to pids and waits until they are gone.
func killPids(pids []int, timeout time.Duration) []int {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range pids {
			if alivePid(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alivePid reports whether pid exists and is not a zombie.
func alivePid(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// nodeIP picks the first up, non-loopback IPv4 address outside podCIDR.
func nodeIP(podCIDR *net.IPNet) (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || !ipn.IP.IsGlobalUnicast() || podCIDR.Contains(ipn.IP) {
				continue
			}
			return ipn.IP.To4(), nil
		}
	}
	return nil, errors.New("no up, non-loopback IPv4 address for the node's InternalIP")
}

// subnetInUse reports whether a host address or route overlaps cidr.
func subnetInUse(cidr *net.IPNet) bool {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (cidr.Contains(ipn.IP) || ipn.Contains(cidr.IP)) {
				return true
			}
		}
	}
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return false
	}
	for i, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		ip := net.IPv4(byte(dst), byte(dst>>8), byte(dst>>16), byte(dst>>24))
		m := net.IPv4Mask(byte(mask), byte(mask>>8), byte(mask>>16), byte(mask>>24))
		r := &net.IPNet{IP: ip.Mask(m), Mask: m}
		if r.Contains(cidr.IP) || cidr.Contains(r.IP) {
			return true
		}
	}
	return false
}
