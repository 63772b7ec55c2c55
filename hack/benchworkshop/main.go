// Command benchworkshop puts a workshop's load on one real API server
// (kube-apiserver + etcd) and the workshop registry, for a bounded time,
// and prints what it measured: the API server's request rate (from its
// own apiserver_request_total), each attendee's check per change (p50,
// p95), the board's refresh (a change in an attendee's namespace to the
// board's judgement of it), the board's own requests, and every error.
//
// Each attendee is what imagelab is on an attendee's machine: a seat from
// workshop create and join, the app's watches (check.Watch on every
// subject the lessons' checks watch), a check of the current step after
// each change (debounced as the app does), progress saved and mirrored
// into the namespace when a step passes. Between checks the attendee acts
// as kubectl would (think time exponential, mean -think): makes the
// regcred secret (sometimes with a wrong password first), pods with and
// without pull secrets, a ServiceAccount that brings them; when done it
// deletes everything and starts again, so the load lasts.
//
//	make bench-workshop                      # 100 attendees, 5 minutes
//	make bench-workshop DURATION=1m ATTENDEES=25
//
// (One file on purpose: a script anyone can read top to bottom to see how
// each figure is measured.)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop"
	"github.com/imagelab/imagelab/workshop/registry"
)

var (
	attendees = flag.Int("attendees", 100, "attendees in the room")
	duration  = flag.Duration("duration", 5*time.Minute, "how long the room works")
	think     = flag.Duration("think", 6*time.Second, "mean time an attendee takes between two commands")
	jsonOut   = flag.String("json", "", "also write the results as JSON to this file")
	cpuProf   = flag.String("cpuprofile", "", "write this process's CPU profile (attendees, board, registry) while the room works")
)

// path is what each attendee does, in order: the cluster steps of
// lessons 3 and 4.
var path = []string{
	"pull-secrets/without-credentials",
	"pull-secrets/regcred",
	"pull-secrets/image-pull-secrets",
	"service-accounts/serviceaccount",
	"service-accounts/pod-with-serviceaccount",
}

func main() {
	flag.Parse()
	klog.SetLogger(logr.Discard())
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-workshop:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// results are everything measured, as printed and as JSON.
type results struct {
	Attendees        int                `json:"attendees"`
	Duration         string             `json:"duration"`
	Cores            int                `json:"cores"`
	CreateSeconds    float64            `json:"createSeconds"`
	BoardFirstJudged float64            `json:"boardFirstJudgedSeconds"`
	APIRequests      float64            `json:"apiRequests"`
	APIRate          float64            `json:"apiRequestsPerSecond"`
	APIByVerb        map[string]float64 `json:"apiRequestsByVerb"`
	API5xx429        float64            `json:"api5xxOr429"`
	Actions          int64              `json:"attendeeCommands"`
	Checks           int                `json:"checks"`
	CheckP50         string             `json:"checkP50"`
	CheckP95         string             `json:"checkP95"`
	StepsPassed      int64              `json:"stepsPassed"`
	BoardJudgements  int                `json:"boardJudgements"`
	BoardChanges     int                `json:"boardChangesJudged"`
	BoardP50         string             `json:"boardRefreshP50"`
	BoardP95         string             `json:"boardRefreshP95"`
	BoardMax         string             `json:"boardRefreshMax"`
	BoardRequests    int64              `json:"boardRequestsDuringRun"`
	BoardStartup     int64              `json:"boardRequestsAtStart"`
	BoardPerRefresh  float64            `json:"boardRequestsPerRefresh"`
	BoardTotal       int64              `json:"boardRequestsInAll"`
	BoardWatches     int64              `json:"boardWatchesInAll"`
	LoadBefore       string             `json:"loadAverageBefore"`
	LoadAfter        string             `json:"loadAverageAfter"`
	Errors           map[string]int64   `json:"errors"`
	ErrorSamples     []string           `json:"errorSamples,omitempty"`
}

// errorsSeen counts errors by kind and keeps a few for the report.
type errorsSeen struct {
	mu      sync.Mutex
	n       map[string]int64
	samples []string
}

func (e *errorsSeen) add(kind string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n[kind]++
	if len(e.samples) < 10 {
		e.samples = append(e.samples, kind+": "+err.Error())
	}
}

func run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, err := os.MkdirTemp("", "imagelab-bench-workshop-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	logf("starting kube-apiserver + etcd (envtest) and the workshop registry")
	api, err := testenv.StartAPIServer()
	if err != nil {
		return fmt.Errorf("%w (KUBEBUILDER_ASSETS: run hack/testbin.sh)", err)
	}
	defer api.Stop()
	host, stopRegistry, err := startRegistry(ctx)
	if err != nil {
		return err
	}
	defer stopRegistry()
	admin := registry.Admin{Host: host, User: "admin", Password: "instructor-password"}
	seed, err := testenv.WriteSeedTarball(work)
	if err != nil {
		return err
	}
	adminCfg := rest.CopyConfig(api.Config)
	adminCfg.QPS, adminCfg.Burst = 500, 1000
	adminClient, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		return err
	}

	res := results{Attendees: *attendees, Duration: duration.String(), Cores: runtime.NumCPU(), APIByVerb: map[string]float64{}}
	logf("workshop create: %d attendees", *attendees)
	start := time.Now()
	rec, joins, err := workshop.Create(ctx, workshop.CreateOptions{Client: adminClient, Config: adminCfg, ID: "wbench",
		Names: workshop.NumberedNames(*attendees), Registry: workshop.Registry{Host: host}, Admin: admin,
		Seed: sandbox.SeedOptions{Source: seed}, Parallel: 16})
	if err != nil {
		return err
	}
	res.CreateSeconds = time.Since(start).Seconds()
	cur, err := lessons.Default()
	if err != nil {
		return err
	}
	seen := &errorsSeen{n: map[string]int64{}}

	logf("joining %d attendees", len(joins))
	room := make([]*attendee, len(joins))
	for i, j := range joins {
		if room[i], err = join(ctx, filepath.Join(work, j.Attendee), j, cur, seen); err != nil {
			return err
		}
	}

	// The board, with a client that counts its requests.
	var boardRequests, boardWatches atomic.Int64
	boardCfg := rest.CopyConfig(adminCfg)
	boardCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return countingTransport{rt, &boardRequests, &boardWatches}
	})
	boardClient, err := kubernetes.NewForConfig(boardCfg)
	if err != nil {
		return err
	}
	board, err := workshop.NewBoard(workshop.BoardOptions{Client: boardClient, ID: rec.ID, Record: rec, Curriculum: cur})
	if err != nil {
		return err
	}
	boardCtx, stopBoard := context.WithCancel(ctx)
	defer stopBoard()
	ready := make(chan struct{})
	boardDone := make(chan error, 1)
	start = time.Now()
	go func() { boardDone <- board.Run(boardCtx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-boardDone:
		return fmt.Errorf("the board: %v", err)
	}
	res.BoardFirstJudged = time.Since(start).Seconds()
	res.BoardStartup = boardRequests.Load()
	logf("the board judged everyone in %.1fs (%d requests)", res.BoardFirstJudged, res.BoardStartup)

	before, err := scrape(ctx, adminClient)
	if err != nil {
		return err
	}
	requestsBefore := boardRequests.Load()
	res.LoadBefore = loadAverage()
	judgedBefore := board.Stats().Judgements
	logf("the room works for %s", *duration)
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	roomCtx, stopRoom := context.WithTimeout(ctx, *duration)
	var wg sync.WaitGroup
	var actions, passed atomic.Int64
	var latMu sync.Mutex
	var checkLat []time.Duration
	for _, a := range room {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.work(roomCtx, &actions, &passed, func(d time.Duration) {
				latMu.Lock()
				checkLat = append(checkLat, d)
				latMu.Unlock()
			})
		}()
	}
	progressTicker := time.NewTicker(30 * time.Second)
	go func() {
		for {
			select {
			case <-roomCtx.Done():
				return
			case <-progressTicker.C:
				st := board.Stats()
				logf("… %d commands, %d steps passed, board refresh p95 %s over %d changes", actions.Load(), passed.Load(), st.P95.Round(time.Millisecond), st.Count)
			}
		}
	}()
	<-roomCtx.Done()
	stopRoom()
	progressTicker.Stop()
	wg.Wait()
	res.LoadAfter = loadAverage()
	after, err := scrape(ctx, adminClient)
	if err != nil {
		return err
	}
	// Let the board finish what the last changes asked of it.
	time.Sleep(2 * time.Second)
	final := board.Status()
	stats := board.Stats()
	stopBoard()
	<-boardDone

	secs := duration.Seconds()
	for k, v := range after {
		d := v - before[k]
		switch {
		case k == "total":
			res.APIRequests, res.APIRate = d, d/secs
		case k == "5xx429":
			res.API5xx429 = d
		case strings.HasPrefix(k, "failed "):
			if d > 0 {
				seen.add("api-5xx-429", fmt.Errorf("%.0f × %s", d, strings.TrimPrefix(k, "failed ")))
			}
		default:
			res.APIByVerb[k] = d
		}
	}
	res.Actions, res.StepsPassed = actions.Load(), passed.Load()
	sort.Slice(checkLat, func(i, j int) bool { return checkLat[i] < checkLat[j] })
	res.Checks = len(checkLat)
	if len(checkLat) > 0 {
		res.CheckP50 = checkLat[len(checkLat)/2].Round(time.Millisecond).String()
		res.CheckP95 = checkLat[len(checkLat)*95/100].Round(time.Millisecond).String()
	}
	res.BoardJudgements = stats.Judgements - judgedBefore
	res.BoardChanges = stats.Count
	res.BoardP50, res.BoardP95, res.BoardMax = stats.P50.Round(time.Millisecond).String(), stats.P95.Round(time.Millisecond).String(), stats.Max.Round(time.Millisecond).String()
	res.BoardRequests = boardRequests.Load() - requestsBefore
	res.BoardTotal, res.BoardWatches = boardRequests.Load(), boardWatches.Load()
	if res.BoardJudgements > 0 {
		res.BoardPerRefresh = float64(res.BoardRequests) / float64(res.BoardJudgements)
	}
	// The board's own verdicts on the path's steps: none may be an error.
	for _, a := range final.Attendees {
		for _, ref := range path {
			if r, ok := a.Steps[ref]; ok && r.Status == workshop.StatusError {
				seen.add("board", errors.New(a.Name+" "+ref+": "+r.Error))
			}
		}
	}
	res.Errors, res.ErrorSamples = seen.n, seen.samples
	for _, k := range []string{"command", "check", "watch", "mirror", "board", "api-5xx-429"} {
		if _, ok := res.Errors[k]; !ok {
			res.Errors[k] = 0
		}
	}

	print(res)
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	_, _ = workshop.Delete(context.Background(), workshop.DeleteOptions{Client: adminClient, Admin: admin, ID: rec.ID})
	return nil
}

func print(r results) {
	verbs := make([]string, 0, len(r.APIByVerb))
	for v, n := range r.APIByVerb {
		if n > 0 {
			verbs = append(verbs, fmt.Sprintf("%s %.0f", v, n))
		}
	}
	sort.Strings(verbs)
	goal := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	p95, _ := time.ParseDuration(r.BoardP95)
	var errs int64
	for _, n := range r.Errors {
		errs += n
	}
	fmt.Printf("\nimagelab workshop load: %d attendees for %s, one kube-apiserver %s (envtest) and the workshop registry, %d cores\n\n",
		r.Attendees, r.Duration, testenv.KubernetesVersion, r.Cores)
	fmt.Printf("  machine load average         %s at the start, %s at the end (1, 5, 15 min; everything on it, not only this)\n", r.LoadBefore, r.LoadAfter)
	fmt.Printf("  workshop create              %d seats in %.1fs\n", r.Attendees, r.CreateSeconds)
	fmt.Printf("  board, first judgement       everyone in %.1fs (%d API requests by then)\n", r.BoardFirstJudged, r.BoardStartup)
	fmt.Printf("  API server requests          %.0f in %s = %.1f/s  (%s)\n", r.APIRequests, r.Duration, r.APIRate, strings.Join(verbs, ", "))
	fmt.Printf("  attendees' commands          %d (%.1f/s); steps passed %d\n", r.Actions, float64(r.Actions)/mustSeconds(r.Duration), r.StepsPassed)
	fmt.Printf("  check per change (app)       %d checks, p50 %s, p95 %s\n", r.Checks, r.CheckP50, r.CheckP95)
	fmt.Printf("  board refresh                %d changes judged in %d judgements: p50 %s, p95 %s, max %s  (goal p95 ≤ 2s: %s)\n",
		r.BoardChanges, r.BoardJudgements, r.BoardP50, r.BoardP95, r.BoardMax, goal(p95 <= 2*time.Second && r.BoardChanges > 0))
	fmt.Printf("  board's own API requests     %d in all (%d of them watches) since it started, %d during the run = %.4f per judgement  (goal: not growing with attendees)\n",
		r.BoardTotal, r.BoardWatches, r.BoardRequests, r.BoardPerRefresh)
	fmt.Printf("  errors                       %d  %v  (goal 0: %s)\n", errs, r.Errors, goal(errs == 0))
	for _, s := range r.ErrorSamples {
		fmt.Printf("      %s\n", s)
	}
}

func mustSeconds(d string) float64 {
	v, _ := time.ParseDuration(d)
	return v.Seconds()
}

// countingTransport counts requests, and watches apart.
type countingTransport struct {
	rt      http.RoundTripper
	n       *atomic.Int64
	watches *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		c.watches.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// scrape sums the API server's apiserver_request_total: in all, by verb,
// and the 5xx and 429 answers.
func scrape(ctx context.Context, client kubernetes.Interface) (map[string]float64, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's /metrics: %w", err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		labels := line[len("apiserver_request_total{"):end]
		out["total"] += v
		out[label(labels, "verb")] += v
		if code := label(labels, "code"); strings.HasPrefix(code, "5") || code == "429" {
			out["5xx429"] += v
			// Each kind of failed answer apart, to say which it was.
			out["failed "+label(labels, "verb")+" "+label(labels, "resource")+" "+label(labels, "subresource")+" "+code] += v
		}
	}
	return out, sc.Err()
}

func label(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(name)+2:]
	return rest[:strings.Index(rest, `"`)]
}

// startRegistry runs the workshop registry on the loopback.
func startRegistry(ctx context.Context) (host string, stop func(), err error) {
	srv, err := registry.New(ctx, registry.Options{AdminUser: "admin", AdminPassword: "instructor-password"})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port), func() { hs.Close(); srv.Close() }, nil
}

// attendee is one seat and what their imagelab does.
type attendee struct {
	sb     *sandbox.Sandbox
	env    *check.Env
	vals   lessons.Values
	client kubernetes.Interface
	store  *progress.Store
	steps  []*lessons.Step
	all    []*lessons.Step
	seen   *errorsSeen
	rng    *rand.Rand

	mu      sync.Mutex
	current int
}

// join takes a seat as imagelab join does, and builds what the attendee's
// imagelab checks with, as it does (provider workshop: no node, nothing
// cluster-wide, no other namespace).
func join(ctx context.Context, dir string, j *workshop.JoinFile, cur *lessons.Curriculum, seen *errorsSeen) (*attendee, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sb, err := workshop.Join(ctx, workshop.JoinOptions{File: j, StateDir: dir})
	if err != nil {
		return nil, err
	}
	client, err := sb.Client()
	if err != nil {
		return nil, err
	}
	// No DockerConfigDir: the docker login is watched on each laptop, with
	// an inotify instance each, which says nothing of the API server and
	// would exhaust this one process's.
	env := &check.Env{Kube: client, Namespace: sb.Namespace, WorkDir: sb.WorkDir,
		Registry: check.Registry{Host: sb.Registry.Host, Prefix: sb.Registry.Prefix, User: sb.Registry.User, Password: sb.Registry.Password},
		Kubelet:  sb.Kubelet, NoNode: workshop.NoNode, NoClusterScope: workshop.NoClusterScope}
	store, _, err := progress.Open(dir)
	if err != nil {
		return nil, err
	}
	mirror, err := workshop.NewMirror(sb)
	if err != nil {
		return nil, err
	}
	store.SetMirror(func(st progress.State) {
		mirror.Save(st)
		if err := mirror.Err(); err != nil {
			seen.add("mirror", err)
		}
	})
	a := &attendee{sb: sb, env: env, client: client, store: store, seen: seen, all: cur.Steps(),
		vals: lessons.NewValues(sb.Registry.Host, sb.Registry.User, sb.Registry.Password, sb.Namespace).WithPrefix(sb.Registry.Prefix),
		rng:  rand.New(rand.NewPCG(uint64(len(j.Attendee)), uint64(time.Now().UnixNano())))}
	for _, ref := range path {
		s, err := cur.Find(ref)
		if err != nil {
			return nil, err
		}
		a.steps = append(a.steps, s)
	}
	return a, nil
}

// work runs the attendee until ctx ends: the app's watches and its check
// per change on one side, the attendee's commands on the other.
func (a *attendee) work(ctx context.Context, actions, passed *atomic.Int64, checked func(time.Duration)) {
	changes := make(chan struct{}, 1)
	subjects := check.WatchedBy(defsOf(a.all)...)
	check.Watch(ctx, a.env, subjects,
		func(check.Change) {
			select {
			case changes <- struct{}{}:
			default:
			}
		},
		func(source string, err error) {
			if err != nil && ctx.Err() == nil {
				a.seen.add("watch", fmt.Errorf("%s's %s watch: %w", a.sb.Namespace, source, err))
			}
		})
	a.setCurrent(0)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the app's check per change, debounced as the app does (150ms)
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changes:
			}
			sleep(ctx, 150*time.Millisecond)
			if ctx.Err() != nil {
				return
			}
			a.mu.Lock()
			step := a.steps[a.current]
			a.mu.Unlock()
			start := time.Now()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			res, err := step.Run(cctx, a.env, a.vals, "")
			cancel()
			if ctx.Err() != nil {
				return
			}
			checked(time.Since(start))
			switch {
			case err != nil:
				a.seen.add("check", fmt.Errorf("%s %s: %w", a.sb.Namespace, step.Ref(), err))
			case res.Passed:
				passed.Add(1)
				a.store.MarkPassed(step.Ref(), time.Now())
				a.mu.Lock()
				next := a.current + 1
				a.mu.Unlock()
				if next < len(a.steps) {
					a.setCurrent(next)
				}
			}
		}
	}()

	for ctx.Err() == nil { // the attendee's commands
		sleep(ctx, time.Duration(a.rng.ExpFloat64()*float64(*think)))
		if ctx.Err() != nil {
			break
		}
		a.mu.Lock()
		cur, done := a.current, a.store.Passed(a.steps[a.current].Ref())
		a.mu.Unlock()
		// A command the attendee started finishes even when the room's
		// time is up.
		cmdCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		var err error
		switch {
		case done && cur == len(a.steps)-1: // through: start again
			err = a.startOver(cmdCtx)
		case done:
			cancel()
			continue // the check moves them on
		default:
			err = a.act(cmdCtx, a.steps[cur].Ref())
		}
		cancel()
		actions.Add(1)
		if err != nil {
			a.seen.add("command", fmt.Errorf("%s: %w", a.sb.Namespace, err))
		}
	}
	wg.Wait()
}

func defsOf(steps []*lessons.Step) []check.Definition {
	out := make([]check.Definition, len(steps))
	for i, s := range steps {
		out[i] = s.Definition()
	}
	return out
}

// setCurrent moves the attendee to a step and saves (and mirrors) it.
func (a *attendee) setCurrent(i int) {
	a.mu.Lock()
	a.current = i
	a.store.State.Current = a.steps[i].Ref()
	snap := a.store.Clone()
	a.mu.Unlock()
	if err := snap.Save(); err != nil {
		a.seen.add("mirror", err)
	}
}

// act does one command toward the step, now and then a mistake first.
func (a *attendee) act(ctx context.Context, ref string) error {
	ns, reg := a.sb.Namespace, a.sb.Registry
	image := reg.Repo(sandbox.SeedRepository) + ":" + sandbox.SeedTag
	pods, secrets, sas := a.client.CoreV1().Pods(ns), a.client.CoreV1().Secrets(ns), a.client.CoreV1().ServiceAccounts(ns)
	mistake := a.rng.Float64() < 0.3
	switch ref {
	case "pull-secrets/without-credentials":
		return create(pods.Create(ctx, pod("anonymous", image, "", ""), metav1.CreateOptions{}))
	case "pull-secrets/regcred":
		pass := reg.Password
		if mistake {
			pass = "not-the-password"
		}
		_ = secrets.Delete(ctx, "regcred", metav1.DeleteOptions{})
		return create(secrets.Create(ctx, pullSecret("regcred", reg.Host, reg.User, pass), metav1.CreateOptions{}))
	case "pull-secrets/image-pull-secrets":
		secret := "regcred"
		if mistake {
			secret = ""
		}
		_ = pods.Delete(ctx, "internal-app", *now())
		return create(pods.Create(ctx, pod("internal-app", image, secret, ""), metav1.CreateOptions{}))
	case "service-accounts/serviceaccount":
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "puller"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}
		_ = sas.Delete(ctx, "puller", metav1.DeleteOptions{})
		return create(sas.Create(ctx, sa, metav1.CreateOptions{}))
	case "service-accounts/pod-with-serviceaccount":
		_ = pods.Delete(ctx, "via-serviceaccount", *now())
		return create(pods.Create(ctx, pod("via-serviceaccount", image, "", "puller"), metav1.CreateOptions{}))
	}
	return nil
}

// startOver deletes what the attendee made and forgets their progress
// (imagelab reset --all).
func (a *attendee) startOver(ctx context.Context) error {
	ns := a.sb.Namespace
	var errs []error
	for _, p := range []string{"anonymous", "internal-app", "via-serviceaccount"} {
		if err := a.client.CoreV1().Pods(ns).Delete(ctx, p, *now()); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := a.client.CoreV1().Secrets(ns).Delete(ctx, "regcred", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := a.client.CoreV1().ServiceAccounts(ns).Delete(ctx, "puller", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	a.mu.Lock()
	a.store.ResetAll()
	a.mu.Unlock()
	a.setCurrent(0)
	return errors.Join(errs...)
}

func create[T any](_ T, err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil // the object of an earlier round, not yet gone
	}
	return err
}

func now() *metav1.DeleteOptions {
	zero := int64(0)
	return &metav1.DeleteOptions{GracePeriodSeconds: &zero}
}

func pod(name, image, secret, sa string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "app", Image: image}}}}
	if secret != "" {
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: secret}}
	}
	return p
}

func pullSecret(name, host, user, pass string) *corev1.Secret {
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"username": user, "password": pass}}})
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: cfg}}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// loadAverage is the machine's, from /proc/loadavg ("" elsewhere).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
