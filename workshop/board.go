package workshop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// NoNode is what a control-plane step says on a workshop seat.
const NoNode = "this step is for a personal sandbox (imagelab up): a workshop namespace has no control-plane node"

// NoClusterScope is what a step that makes cluster-wide objects says on a
// workshop seat.
const NoClusterScope = "this step makes cluster-wide objects, which an attendee of a shared cluster may not: it is for a personal sandbox (imagelab up)"

// Available says whether a step can be done on a workshop seat, and why
// not: the control-plane steps and those that make cluster-wide objects
// are for a personal sandbox.
func Available(s *lessons.Step) (bool, string) {
	switch {
	case s.Needs().Has(check.NeedsNode):
		return false, NoNode
	case s.Definition().MakesClusterObjects():
		return false, NoClusterScope
	}
	return true, ""
}

// JudgedByBoard says whether the board judges a step itself: a step on
// the cluster that needs nothing only the attendee's machine holds (their
// docker login, their files). Other steps are the attendee's report.
func JudgedByBoard(s *lessons.Step) bool {
	if ok, _ := Available(s); !ok {
		return false
	}
	d := s.Definition()
	if !d.Needs.Has(check.NeedsCluster) || d.Needs.Has(check.NeedsDockerConfig) || d.Needs.Has(check.NeedsAnswer) {
		return false
	}
	return !slices.ContainsFunc(d.Watches, func(sub *check.Subject) bool {
		return sub.Seen == check.SeenInDockerConfig || sub == check.WorkFiles
	})
}

// BoardOptions configure a Board.
type BoardOptions struct {
	// Client is the instructor's.
	Client kubernetes.Interface
	ID     string
	// Record gives the board the attendees' registry credentials, so it
	// judges with what each attendee has; without it, steps that ask the
	// registry cannot be judged.
	Record *Record
	// Transport reaches the registry (trusting its CA).
	Transport  http.RoundTripper
	Curriculum *lessons.Curriculum
	// StuckAfter is how long on one step, not done, counts as stuck (10m).
	StuckAfter time.Duration
	// Workers judge attendees at once (8); Debounce gathers a burst of
	// changes into one judgement (100ms).
	Workers  int
	Debounce time.Duration
	Now      func() time.Time
}

// Board is the instructor's view of the room. One informer per kind
// watches all attendees' namespaces at once (namespaces and the progress
// ConfigMaps selected by the workshop's label; pods, secrets, service
// accounts, events and Deployments across the cluster, keeping only the
// workshop's), and a change in a namespace has that attendee's steps
// judged again, by the lessons' own checks reading the informers' caches:
// judging the room costs the API server nothing, however many attendees.
type Board struct {
	opts    BoardOptions
	steps   []*lessons.Step // the workshop's steps, in order
	judged  []*lessons.Step // those the board judges itself
	kinds   []*cachedKind
	cache   kubernetes.Interface
	queue   workqueue.TypedDelayingInterface[string]
	updates chan struct{}

	// progressStore holds the progress ConfigMaps: a seat made after its
	// ConfigMap was seen reads its progress from there.
	progressStore cache.Store

	mu        sync.Mutex
	seats     map[string]*seat // by namespace
	latencies []time.Duration
	judgings  int
	started   time.Time
}

// seat is what the board knows of one attendee.
type seat struct {
	attendee    Attendee
	progress    Progress
	progressErr error
	results     map[string]StepResult
	passed      map[string]time.Time // passes the board has seen
	judgedOnce  bool
	pending     map[string]bool // kinds changed since the last judgement
	dirtySince  time.Time
}

// StepResult is the board's verdict on one step of one attendee.
type StepResult struct {
	Status   string          `json:"status"`
	Findings []check.Finding `json:"findings,omitempty"`
	Error    string          `json:"error,omitempty"`
	At       time.Time       `json:"at"`
}

// Step statuses on the board.
const (
	StatusPassed    = "passed"
	StatusNotPassed = "not-passed"
	StatusError     = "error"
	// StatusReported: a step the attendee's machine judges (a quiz, the
	// docker login); the board shows what it reported.
	StatusReported = "reported"
)

// NewBoard prepares a board; Run starts it.
func NewBoard(opts BoardOptions) (*Board, error) {
	if err := ValidID(opts.ID); err != nil {
		return nil, err
	}
	if opts.Curriculum == nil {
		return nil, errors.New("no curriculum")
	}
	if opts.StuckAfter == 0 {
		opts.StuckAfter = 10 * time.Minute
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Debounce == 0 {
		opts.Debounce = 100 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// The checks ask the registry the same questions with the same
	// credentials, attendee after attendee: the board remembers the
	// answers a moment.
	opts.Transport = newRegistryCache(opts.Transport)
	b := &Board{opts: opts, seats: map[string]*seat{}, updates: make(chan struct{}, 1),
		queue: workqueue.NewTypedDelayingQueue[string]()}
	for _, s := range opts.Curriculum.Steps() {
		if ok, _ := Available(s); ok {
			b.steps = append(b.steps, s)
			if JudgedByBoard(s) {
				b.judged = append(b.judged, s)
			}
		}
	}
	return b, nil
}

// kindsOf are the kinds of object the checks of steps watch.
func kindsOf(steps []*lessons.Step) map[string]bool {
	out := map[string]bool{}
	for _, s := range steps {
		for _, sub := range s.Definition().Watches {
			out[sub.Kind] = true
		}
	}
	return out
}

// Run starts the informers, judges every attendee once, and then judges
// an attendee again on each change in their namespace until ctx ends.
// ready is called once everyone has been judged (nil: nothing to call).
func (b *Board) Run(ctx context.Context, ready func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer b.queue.ShutDown()
	b.started = b.opts.Now()
	id := b.opts.ID
	sel := selector(id).String()
	// One informer per kind, each its own: namespaces and the progress
	// ConfigMaps selected by the workshop's label; the kinds attendees make
	// without our labels across the cluster, keeping only the workshop's.
	byLabel := func(o *metav1.ListOptions) { o.LabelSelector = sel }
	nsIndex := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	wide := func(inf cache.SharedIndexInformer) cache.SharedIndexInformer {
		_ = inf.SetTransform(func(obj any) (any, error) {
			if acc, err := meta.Accessor(obj); err == nil && !inWorkshop(id, acc.GetNamespace()) {
				return stub(obj)
			}
			return trimObject(obj)
		})
		return inf
	}
	client := b.opts.Client
	nsInf := coreinformers.NewFilteredNamespaceInformer(client, 0, cache.Indexers{}, byLabel)
	cmInf := coreinformers.NewFilteredConfigMapInformer(client, metav1.NamespaceAll, 0, nsIndex, byLabel)
	for _, inf := range []cache.SharedIndexInformer{nsInf, cmInf} {
		_ = inf.SetTransform(trimObject)
	}
	b.progressStore = cmInf.GetStore()
	core := corev1.SchemeGroupVersion
	b.kinds = []*cachedKind{
		{resource: core.WithResource("namespaces"), kind: "Namespace", informer: nsInf, fields: objectFields},
		{resource: core.WithResource("configmaps"), kind: "ConfigMap", informer: cmInf, fields: objectFields},
	}
	watched := kindsOf(b.judged)
	for _, k := range []struct {
		subject string
		kind    *cachedKind
		make    func() cache.SharedIndexInformer
	}{
		{"pod", &cachedKind{resource: core.WithResource("pods"), kind: "Pod", fields: podFields},
			func() cache.SharedIndexInformer {
				return coreinformers.NewPodInformer(client, metav1.NamespaceAll, 0, nsIndex)
			}},
		{"secret", &cachedKind{resource: core.WithResource("secrets"), kind: "Secret", fields: secretFields},
			func() cache.SharedIndexInformer {
				return coreinformers.NewSecretInformer(client, metav1.NamespaceAll, 0, nsIndex)
			}},
		{"serviceaccount", &cachedKind{resource: core.WithResource("serviceaccounts"), kind: "ServiceAccount", fields: objectFields},
			func() cache.SharedIndexInformer {
				return coreinformers.NewServiceAccountInformer(client, metav1.NamespaceAll, 0, nsIndex)
			}},
		{"event", &cachedKind{resource: core.WithResource("events"), kind: "Event", fields: eventFields},
			func() cache.SharedIndexInformer {
				return coreinformers.NewEventInformer(client, metav1.NamespaceAll, 0, nsIndex)
			}},
		{"deployment", &cachedKind{resource: appsv1.SchemeGroupVersion.WithResource("deployments"), kind: "Deployment", fields: objectFields},
			func() cache.SharedIndexInformer {
				return appsinformers.NewDeploymentInformer(client, metav1.NamespaceAll, 0, nsIndex)
			}},
	} {
		if watched[k.subject] {
			k.kind.subject, k.kind.informer = k.subject, wide(k.make())
			b.kinds = append(b.kinds, k.kind)
		}
	}
	b.cache = newCacheClient(b.kinds)

	if _, err := nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.seatAdded(obj) },
		UpdateFunc: func(_, obj any) { b.seatAdded(obj) },
		DeleteFunc: func(obj any) { b.seatGone(obj) },
	}); err != nil {
		return err
	}
	if _, err := cmInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.progressChanged(obj) },
		UpdateFunc: func(_, obj any) { b.progressChanged(obj) },
		DeleteFunc: func(obj any) { b.progressChanged(obj) },
	}); err != nil {
		return err
	}
	for _, k := range b.kinds[2:] {
		kind := k.subject
		if _, err := k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { b.changed(obj, kind) },
			UpdateFunc: func(_, obj any) { b.changed(obj, kind) },
			DeleteFunc: func(obj any) { b.changed(obj, kind) },
		}); err != nil {
			return err
		}
	}
	synced := make([]cache.InformerSynced, 0, len(b.kinds))
	for _, k := range b.kinds {
		go k.informer.RunWithContext(ctx)
		synced = append(synced, k.informer.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("the board's informers did not sync: %w", ctx.Err())
	}

	var wg sync.WaitGroup
	for range b.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ns, quit := b.queue.Get()
				if quit {
					return
				}
				b.judge(ctx, ns)
				b.queue.Done(ns)
			}
		}()
	}
	// Everyone once, before the board says it is ready.
	b.mu.Lock()
	for ns := range b.seats {
		b.queue.Add(ns)
	}
	b.mu.Unlock()
	for ctx.Err() == nil && !b.allJudged() {
		sleep(ctx, 50*time.Millisecond)
	}
	if ready != nil && ctx.Err() == nil {
		ready()
	}
	<-ctx.Done()
	b.queue.ShutDown()
	wg.Wait()
	return nil
}

// trimObject drops what the board never reads (managed fields), so a
// room's objects take little memory.
func trimObject(obj any) (any, error) {
	if acc, err := meta.Accessor(obj); err == nil {
		acc.SetManagedFields(nil)
	}
	return obj, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (b *Board) allJudged() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.seats {
		if !s.judgedOnce {
			return false
		}
	}
	return true
}

// Updates signals (coalesced) that the board changed.
func (b *Board) Updates() <-chan struct{} { return b.updates }

func (b *Board) notify() {
	select {
	case b.updates <- struct{}{}:
	default:
	}
}

func (b *Board) seatAdded(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.Labels[LabelWorkshop] != b.opts.ID || ns.DeletionTimestamp != nil {
		if ok && ns.DeletionTimestamp != nil {
			b.seatGone(obj)
		}
		return
	}
	b.mu.Lock()
	s := b.seats[ns.Name]
	if s == nil {
		a := Attendee{Name: ns.Labels[LabelAttendee], Namespace: ns.Name}
		if b.opts.Record != nil {
			if r := b.opts.Record.Attendee(ns.Name); r != nil {
				a = *r
			}
		}
		s = &seat{attendee: a, results: map[string]StepResult{}, passed: map[string]time.Time{}, pending: map[string]bool{}}
		if obj, ok, _ := b.progressStore.GetByKey(ns.Name + "/" + ProgressConfigMap); ok {
			s.progress, s.progressErr = ReadProgress(obj.(*corev1.ConfigMap))
		}
		b.seats[ns.Name] = s
		b.mu.Unlock()
		b.queue.Add(ns.Name)
		b.notify()
		return
	}
	b.mu.Unlock()
}

func (b *Board) seatGone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	b.mu.Lock()
	delete(b.seats, acc.GetName())
	b.mu.Unlock()
	b.notify()
}

func (b *Board) progressChanged(obj any) {
	deleted := false
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok || cm.Name != ProgressConfigMap {
		return
	}
	p, err := ReadProgress(cm)
	b.mu.Lock()
	if s := b.seats[cm.Namespace]; s != nil {
		if deleted {
			p, err = Progress{}, nil
		}
		s.progress, s.progressErr = p, err
	}
	b.mu.Unlock()
	b.notify()
}

// changed notes a change of kind in an attendee's namespace and has the
// attendee judged again after the debounce.
func (b *Board) changed(obj any, kind string) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	ns := acc.GetNamespace()
	if !inWorkshop(b.opts.ID, ns) {
		return
	}
	b.mu.Lock()
	s := b.seats[ns]
	if s == nil {
		b.mu.Unlock()
		return
	}
	s.pending[kind] = true
	if s.dirtySince.IsZero() {
		s.dirtySince = b.opts.Now()
	}
	b.mu.Unlock()
	b.queue.AddAfter(ns, b.opts.Debounce)
}

// env is the check environment of an attendee as the board judges them:
// their namespace, their registry account, the board's caches.
func (b *Board) env(a Attendee) (*check.Env, lessons.Values) {
	host := ""
	kubelet := true
	if r := b.opts.Record; r != nil {
		host, kubelet = r.Registry.Host, r.Kubelet
	}
	reg := check.Registry{Host: host, Prefix: a.Namespace, User: a.Namespace, Password: a.RegistryPassword}
	env := &check.Env{Kube: b.cache, Namespace: a.Namespace, Registry: reg, Kubelet: kubelet, Transport: b.opts.Transport, NoNode: NoNode}
	return env, lessons.NewValues(host, reg.User, reg.Password, a.Namespace).WithPrefix(a.Namespace)
}

// judge runs an attendee's steps that the changes concern (every one, the
// first time).
func (b *Board) judge(ctx context.Context, ns string) {
	b.mu.Lock()
	s := b.seats[ns]
	if s == nil {
		b.mu.Unlock()
		return
	}
	pending, first, since := s.pending, !s.judgedOnce, s.dirtySince
	s.pending, s.dirtySince = map[string]bool{}, time.Time{}
	env, vals := b.env(s.attendee)
	// A step seen passing stays done: it is judged again only while it is
	// the attendee's current step.
	skip := map[string]bool{}
	for ref := range s.passed {
		skip[ref] = ref != s.progress.Current
	}
	b.mu.Unlock()

	results := map[string]StepResult{}
	for _, st := range b.judged {
		if !first && (skip[st.Ref()] || !slices.ContainsFunc(st.Definition().Watches, func(sub *check.Subject) bool { return pending[sub.Kind] })) {
			continue
		}
		results[st.Ref()] = b.run(ctx, st, env, vals)
	}

	now := b.opts.Now()
	b.mu.Lock()
	for ref, r := range results {
		s.results[ref] = r
		if r.Status == StatusPassed && s.passed[ref].IsZero() {
			s.passed[ref] = r.At
		}
	}
	s.judgedOnce = true
	b.judgings++
	if !since.IsZero() {
		b.latencies = append(b.latencies, now.Sub(since))
		if len(b.latencies) > 100000 {
			b.latencies = b.latencies[len(b.latencies)-50000:]
		}
	}
	b.mu.Unlock()
	b.notify()
}

// run runs one step's check as the attendee's own imagelab would.
func (b *Board) run(ctx context.Context, st *lessons.Step, env *check.Env, vals lessons.Values) StepResult {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := st.Run(ctx, env, vals, "")
	r := StepResult{At: b.opts.Now()}
	switch {
	case err != nil:
		r.Status, r.Error = StatusError, err.Error()
	case res.Passed:
		r.Status = StatusPassed
	default:
		r.Status, r.Findings = StatusNotPassed, res.Problems()
	}
	return r
}

// RefreshStats say how long the board took from a change in a namespace
// to its judgement.
type RefreshStats struct {
	Judgements int           `json:"judgements"`
	Count      int           `json:"changes"`
	P50        time.Duration `json:"p50"`
	P95        time.Duration `json:"p95"`
	Max        time.Duration `json:"max"`
}

// Stats are the board's refresh latencies so far.
func (b *Board) Stats() RefreshStats {
	b.mu.Lock()
	l := slices.Clone(b.latencies)
	n := b.judgings
	b.mu.Unlock()
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	st := RefreshStats{Judgements: n, Count: len(l)}
	if len(l) > 0 {
		st.P50, st.P95, st.Max = l[len(l)/2], l[min(len(l)-1, len(l)*95/100)], l[len(l)-1]
	}
	return st
}
