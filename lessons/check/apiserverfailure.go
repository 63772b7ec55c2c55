package check

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// APIServerFailure says why the API server's static pod does not run, in
// the words the node itself has for it, the way a learner on the exam node
// finds them — as long as they came after the manifest's last change:
//
//  1. the kubelet's complaint about the manifest file (it does not parse:
//     the kubelet then drops the pod and the API server stops), or, before
//     the kubelet has said so, the YAML error itself;
//  2. else the last error the API server container logged before it exited
//     (a bad flag: `"command failed" err="enable-admission-plugins plugin
//     \"NoSuchPlugin\" is unknown"`), from its log files under PodLogs;
//  3. else the kubelet's last error starting the pod (an image it may not
//     pull, a hostPath that is not there) — not its back-off after a crash
//     (that says nothing about why), nor its failed calls to the API
//     server that is down.
//
// It returns "" when the node tells nothing (yet); an error only when the
// node cannot be asked. The kubelet's log comes from the node's
// KubeletLog(ctx) method when it has one, else from journalctl -u kubelet.
func APIServerFailure(ctx context.Context, n Node) (string, error) {
	if n == nil {
		return "", ErrUnavailable
	}
	f := n.Files()
	clock, err := nodeClock(ctx, n)
	if err != nil {
		return "", err
	}
	out, err := n.Run(ctx, "stat", "-c", "%.9Y", f.APIServerManifest)
	if err != nil {
		if _, rerr := n.ReadFile(ctx, f.APIServerManifest); rerr != nil {
			return fmt.Sprintf("%s is not there: the kubelet runs no API server without it", f.APIServerManifest), nil
		}
		return "", fmt.Errorf("reading the time of %s: %v: %s", f.APIServerManifest, err, strings.TrimSpace(out))
	}
	changed, err := unixTime(strings.TrimSpace(out))
	if err != nil {
		return "", fmt.Errorf("reading the time of %s: %q: %w", f.APIServerManifest, out, err)
	}

	kubelet := kubeletLines(ctx, n, clock)
	since := func(l klogLine) bool { return !l.time.Before(changed) }

	// 1. The manifest does not parse.
	for i := len(kubelet) - 1; i >= 0; i-- {
		l := kubelet[i]
		if !since(l) {
			break
		}
		if (l.level == 'E' || l.level == 'F') && strings.Contains(l.text, f.APIServerManifest) &&
			(strings.Contains(l.text, "Could not process manifest file") || strings.Contains(l.text, "can't process config file")) {
			return l.text, nil
		}
	}
	if data, err := n.ReadFile(ctx, f.APIServerManifest); err == nil {
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Sprintf("%s is not valid YAML, so the kubelet cannot read it: %v", f.APIServerManifest, err), nil
		}
	}

	// 2. The container's own last words.
	crashLoop := func(after time.Time) bool {
		for i := len(kubelet) - 1; i >= 0 && kubelet[i].time.After(after); i-- {
			if strings.Contains(kubelet[i].text, "CrashLoopBackOff") && strings.Contains(kubelet[i].text, APIServerPodName+"-"+n.Name()) {
				return true
			}
		}
		return false
	}
	if why, err := containerFailure(ctx, n, f.PodLogs, changed, crashLoop); err != nil {
		return "", err
	} else if why != "" {
		return why, nil
	}

	// 3. What the kubelet says about the pod.
	podRef := metaNamespaceSystem + "/" + APIServerPodName + "-" + n.Name()
	for i := len(kubelet) - 1; i >= 0; i-- {
		l := kubelet[i]
		if !since(l) {
			break
		}
		if (l.level == 'E' || l.level == 'F') && strings.Contains(l.text, podRef) && startError(l.text) {
			return l.text, nil
		}
	}
	return "", nil
}

const metaNamespaceSystem = "kube-system"

// APIServerPodName is the API server's static pod's name; its mirror pod
// in kube-system is named APIServerPodName + "-" + the node's name.
const APIServerPodName = "kube-apiserver"

// startError reports whether a kubelet log line is about the pod failing
// to start: "Error syncing pod" (ErrImageNeverPull, CreateContainerError…)
// or its volumes not mounting, other than a crash loop's back-off.
func startError(text string) bool {
	if strings.Contains(text, "CrashLoopBackOff") {
		return false
	}
	for _, m := range []string{`"Error syncing pod`, `"Unable to attach or mount volumes`, "MountVolume.SetUp failed"} {
		if strings.Contains(text, m) {
			return true
		}
	}
	return false
}

// nodeClock is the node's time zone (klog writes local times without one).
func nodeClock(ctx context.Context, n Node) (*time.Location, error) {
	out, err := n.Run(ctx, "date", "+%z")
	if err != nil {
		return nil, fmt.Errorf("reading the node's time zone: %v: %s", err, strings.TrimSpace(out))
	}
	z := strings.TrimSpace(out)
	t, err := time.Parse("-0700", z)
	if err != nil {
		return nil, fmt.Errorf("the node's time zone %q: %w", z, err)
	}
	_, off := t.Zone()
	return time.FixedZone(z, off), nil
}

func unixTime(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var nsec int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if nsec, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(secs, nsec), nil
}

// klogLine is one line of a component's log in klog's text format.
type klogLine struct {
	level byte // I, W, E, F
	time  time.Time
	text  string // the whole line, from the level letter on
}

// klogHeader: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg
var klogHeader = regexp.MustCompile(`([IWEF])(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})\s+\d+ [^\]]*\] `)

// parseKlog finds a klog header in line (after whatever journald or the
// container runtime put before it). klog writes no year: the one that puts
// the time nearest before now is taken.
func parseKlog(line string, loc *time.Location, now time.Time) (klogLine, bool) {
	m := klogHeader.FindStringSubmatchIndex(line)
	if m == nil {
		return klogLine{}, false
	}
	num := func(i int) int {
		v, _ := strconv.Atoi(line[m[2*i]:m[2*i+1]])
		return v
	}
	t := time.Date(now.Year(), time.Month(num(2)), num(3), num(4), num(5), num(6), num(7)*1000, loc)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return klogLine{level: line[m[2]], time: t, text: strings.TrimSpace(line[m[0]:])}, true
}

// kubeletLines is the kubelet's log, in klog lines; nil when the node has none to give.
func kubeletLines(ctx context.Context, n Node, loc *time.Location) []klogLine {
	var text string
	if kl, ok := n.(interface {
		KubeletLog(context.Context) (string, error)
	}); ok {
		t, err := kl.KubeletLog(ctx)
		if err != nil {
			return nil
		}
		text = t
	} else {
		t, err := n.Run(ctx, "journalctl", "-u", "kubelet", "--no-pager", "-o", "cat", "-n", "5000")
		if err != nil {
			return nil
		}
		text = t
	}
	now := time.Now()
	var out []klogLine
	for _, l := range strings.Split(text, "\n") {
		if k, ok := parseKlog(l, loc, now); ok {
			out = append(out, k)
		}
	}
	return out
}

// criLine is one line of a container log file as the kubelet keeps it
// (<RFC 3339 time> <stream> <P|F> <text>, P for a partial line).
type criLine struct {
	time time.Time
	text string
}

func parseCRILog(data string) []criLine {
	var out []criLine
	var partial strings.Builder
	for _, l := range strings.Split(data, "\n") {
		f := strings.SplitN(l, " ", 4)
		if len(f) < 3 {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			continue
		}
		text := ""
		if len(f) == 4 {
			text = f[3]
		}
		if f[2] == "P" {
			partial.WriteString(text)
			continue
		}
		partial.WriteString(text)
		out = append(out, criLine{time: t, text: partial.String()})
		partial.Reset()
	}
	return out
}

// containerFailure reads the API server container's log files (one per
// start, <PodLogs>/kube-system_kube-apiserver-<node>_<uid>/kube-apiserver/
// <restart count>.log) of the starts after changed, and returns the last
// error line of the newest one that has ended and has one. A start has
// ended when a later one has a file, or when the kubelet has said
// CrashLoopBackOff since its last line (crashLoop): a running API server
// logs errors too ("Found stale data, removed previous endpoints…" at
// every start after a kill), and they are not why it does not answer.
func containerFailure(ctx context.Context, n Node, podLogs string, changed time.Time, crashLoop func(after time.Time) bool) (string, error) {
	pattern := fmt.Sprintf("*/%s_%s-%s_*/%s/*.log", metaNamespaceSystem, APIServerPodName, n.Name(), "kube-apiserver")
	out, err := n.Run(ctx, "find", podLogs, "-path", pattern, "-type", "f")
	if err != nil {
		return "", fmt.Errorf("listing %s: %v: %s", podLogs, err, strings.TrimSpace(out))
	}
	type attempt struct {
		file  string
		start time.Time
		lines []criLine
	}
	var attempts []attempt
	latest := map[string]int{} // pod dir → highest restart count
	restart := func(file string) int {
		n, err := strconv.Atoi(strings.TrimSuffix(path.Base(file), ".log"))
		if err != nil {
			return -1
		}
		return n
	}
	for _, file := range strings.Fields(out) {
		if path.Ext(file) != ".log" {
			continue
		}
		if r, ok := latest[path.Dir(file)]; !ok || restart(file) > r {
			latest[path.Dir(file)] = restart(file)
		}
		data, err := n.ReadFile(ctx, file)
		if err != nil {
			continue // rotated or removed meanwhile
		}
		lines := parseCRILog(string(data))
		if len(lines) == 0 || lines[0].time.Before(changed) {
			continue
		}
		attempts = append(attempts, attempt{file, lines[0].time, lines})
	}
	sort.Slice(attempts, func(i, j int) bool { return attempts[i].start.After(attempts[j].start) })
	now := time.Now()
	for _, a := range attempts {
		ended := restart(a.file) < latest[path.Dir(a.file)] || crashLoop(a.lines[len(a.lines)-1].time)
		if !ended {
			continue
		}
		for i := len(a.lines) - 1; i >= 0; i-- {
			text := strings.TrimSpace(a.lines[i].text)
			if strings.HasPrefix(text, "Error:") {
				return text, nil
			}
			if k, ok := parseKlog(text, time.UTC, now); ok && (k.level == 'E' || k.level == 'F') {
				return k.text, nil
			}
		}
	}
	return "", nil
}
