package check

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Definition is the whole runtime contract of a kind of check. Everything
// the rest of imagelab needs to know about it is here, and nowhere else:
// the loader validates steps against it, the app derives what to watch and
// whether to poll from it, reset derives what a step may delete from it,
// and an exam scores partial credit from its criteria.
type Definition struct {
	// Name is how lesson files refer to the check ("secret.pull").
	Name string
	// Params are the parameters a step must set; Optional ones may be set
	// (a trailing * stands for any suffix: "explain-*").
	Params   []string
	Optional []string
	// Needs says which parts of the sandbox the check talks to.
	Needs Needs
	// Choice says the answer is one of a few options: a wrong pick costs
	// a retry delay, so a learner cannot pass by trying each in turn.
	Choice bool
	// Tool is the role of the command-line tool a step of this check is
	// done with (RoleScanner…); "" when it needs none. imagelab tools and
	// the step's panel say which tools play it and whether one is here.
	Tool string
	// Watches are what the verdict depends on: a change to any of them
	// makes the app check again. Subjects seen only by polling make the
	// app poll while the step is on screen.
	Watches []*Subject
	// Resets are the subjects a step using this check may list under
	// reset ("pod/internal-app"); the loader refuses any other.
	Resets []*Subject
	// Criteria are what the check judges, in order, each by name. Every
	// problem finding the check returns names one of them.
	Criteria []Criterion
	// Run judges the learner's work.
	Run Func
}

// Func runs a check.
type Func func(ctx context.Context, env *Env, req Request) (Result, error)

// Criterion is one thing a check judges: a step passes when every
// criterion is met, and an exam gives credit for each one met.
type Criterion struct {
	// Name is stable, for reports and tests ("credentials").
	Name string
	// Doc says what meeting it proves, for a score report.
	Doc string
	// Gate says that when it is not met, the criteria after it cannot be
	// judged (no pod: nothing to say about its pull secret).
	Gate bool
}

// Needs says what part of the sandbox a check talks to, so a UI can tell
// which steps are usable before the cluster is ready.
type Needs uint8

const (
	// NeedsAnswer: the learner types an answer (a quiz); no sandbox.
	NeedsAnswer Needs = 1 << iota
	NeedsCluster
	NeedsRegistry
	NeedsDockerConfig
	// NeedsNode: the control-plane node (its files, its kubelet).
	NeedsNode
)

// Has reports whether n includes all of x.
func (n Needs) Has(x Needs) bool { return n&x == x }

// Sandbox reports whether a check with these needs talks to the sandbox
// (and so can only run once it is ready).
func (n Needs) Sandbox() bool { return n&(NeedsCluster|NeedsRegistry|NeedsDockerConfig|NeedsNode) != 0 }

// Seen says how the app learns that a subject changed.
type Seen int

const (
	// SeenByWatch: a Kubernetes watch in the learner's namespace.
	SeenByWatch Seen = iota
	// SeenInDockerConfig: a file event in the sandbox's docker config dir.
	SeenInDockerConfig
	// SeenByPolling: nothing tells; the app asks again every RegistryPollInterval.
	SeenByPolling
)

// RegistryPollInterval is how often a step whose verdict depends on what
// only polling sees (the registry's contents) is checked again.
const RegistryPollInterval = 400 * time.Millisecond

// WatchFailedPollInterval is how often a step is checked again while a
// watch it depends on is failing.
const WatchFailedPollInterval = 2 * time.Second

// Subject is something in the sandbox that checks judge and steps may
// reset: a kind of namespaced Kubernetes object, the docker login, a
// registry repository. A step's reset list names one as "kind/name".
type Subject struct {
	// Kind is the word reset lists and watch reports use ("pod").
	Kind string
	// Seen says how the app learns of a change.
	Seen Seen
	// Namespaced subjects live in the learner's namespace: reset deletes
	// them only in a namespace imagelab made.
	Namespaced bool
	// Watch opens a watch (Seen == SeenByWatch).
	Watch WatchOpener
	// Reset removes the named instance and waits until it is gone; nil
	// when a step cannot reset this subject.
	Reset func(ctx context.Context, env *Env, name string) error
	// Create makes one instance from its YAML, in the learner's namespace,
	// replacing one of the same name: what a step's setup starts from.
	// nil when a step cannot set this subject up.
	Create func(ctx context.Context, env *Env, doc []byte) error
}

func (s *Subject) String() string { return s.Kind }

var registry = map[string]Definition{}

// Register adds a kind of check. It panics on a definition that breaks
// the contract: these are programming errors, found by any test run.
func Register(d Definition) {
	if _, dup := registry[d.Name]; dup {
		panic("check: duplicate definition " + d.Name)
	}
	if err := d.validate(); err != nil {
		panic("check: " + err.Error())
	}
	registry[d.Name] = d
}

// Unregister removes a kind of check; for tests that add one of their own.
func Unregister(name string) { delete(registry, name) }

func (d Definition) validate() error {
	if d.Name == "" || d.Run == nil {
		return fmt.Errorf("definition %q needs a name and a Run", d.Name)
	}
	seen := map[string]bool{}
	for _, c := range d.Criteria {
		if c.Name == "" || seen[c.Name] {
			return fmt.Errorf("%s: criterion %q is empty or named twice", d.Name, c.Name)
		}
		seen[c.Name] = true
	}
	for _, s := range d.Resets {
		if s.Reset == nil {
			return fmt.Errorf("%s: resets %s, which cannot be reset", d.Name, s.Kind)
		}
		if s.Namespaced && !d.Needs.Has(NeedsCluster) {
			return fmt.Errorf("%s: resets %s objects but does not need the cluster", d.Name, s.Kind)
		}
		if (s == APIServerManifest || s == KubeletConfig) && !d.Needs.Has(NeedsNode|NeedsCluster) {
			return fmt.Errorf("%s: resets %s but does not need the node and the cluster", d.Name, s.Kind)
		}
	}
	for _, s := range d.Watches {
		if s.Seen == SeenByWatch && s.Watch == nil {
			return fmt.Errorf("%s: watches %s, which has no watch", d.Name, s.Kind)
		}
	}
	return nil
}

// Lookup returns the check called name.
func Lookup(name string) (Definition, bool) {
	d, ok := registry[name]
	return d, ok
}

// Names lists the known checks, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ResetSubject returns the subject a step of this check may reset by
// kind, or nil.
func (d Definition) ResetSubject(kind string) *Subject {
	for _, s := range d.Resets {
		if s.Kind == kind {
			return s
		}
	}
	return nil
}

// MakesClusterObjects reports whether a step of this check makes
// cluster-wide objects (an admission policy): it may reset a
// cluster-scoped kind of object.
func (d Definition) MakesClusterObjects() bool {
	return slices.ContainsFunc(d.Resets, func(s *Subject) bool { return s.Seen == SeenByWatch && !s.Namespaced })
}

// ResetKinds lists the kinds a step of this check may reset.
func (d Definition) ResetKinds() []string {
	out := make([]string, len(d.Resets))
	for i, s := range d.Resets {
		out[i] = s.Kind
	}
	return out
}

// Watching reports whether the verdict depends on the subject of kind.
func (d Definition) Watching(kind string) bool {
	return slices.ContainsFunc(d.Watches, func(s *Subject) bool { return s.Kind == kind })
}

// Polls reports whether the verdict depends on something only polling sees.
func (d Definition) Polls() bool {
	return slices.ContainsFunc(d.Watches, func(s *Subject) bool { return s.Seen == SeenByPolling })
}

// TakesParam reports whether p is one of the definition's parameters.
func (d Definition) TakesParam(p string) bool {
	for _, k := range append(slices.Clone(d.Params), d.Optional...) {
		if k == p || (strings.HasSuffix(k, "*") && strings.HasPrefix(p, strings.TrimSuffix(k, "*"))) {
			return true
		}
	}
	return false
}

// WatchedBy is every subject the definitions watch, each once, in a
// stable order: what the app keeps a watch open on.
func WatchedBy(defs ...Definition) []*Subject {
	var out []*Subject
	for _, d := range defs {
		for _, s := range d.Watches {
			if !slices.ContainsFunc(out, func(x *Subject) bool { return x.Kind == s.Kind }) {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// CriterionVerdict says whether one criterion was met, and which findings
// say why not.
type CriterionVerdict struct {
	Name string `json:"name"`
	Met  bool   `json:"met"`
	// Judged is false when a gate before it failed, so it could not be.
	Judged bool `json:"judged"`
	// Findings are the codes of the problems charged to it.
	Findings []string `json:"findings,omitempty"`
}

// judge scores a result against the definition's criteria. A problem
// finding is charged to the criterion it names; one that names none (or
// an unknown one) is charged to every criterion, so that partial credit is
// never given for a problem nobody classified.
func (d Definition) judge(res Result) []CriterionVerdict {
	if len(d.Criteria) == 0 {
		return nil
	}
	known := map[string]bool{}
	for _, c := range d.Criteria {
		known[c.Name] = true
	}
	out := make([]CriterionVerdict, 0, len(d.Criteria))
	gateFailed := false
	for _, c := range d.Criteria {
		v := CriterionVerdict{Name: c.Name, Judged: !gateFailed}
		for _, f := range res.Findings {
			if f.Severity == Problem && (f.Criterion == c.Name || !known[f.Criterion]) {
				v.Findings = append(v.Findings, f.Code)
			}
		}
		v.Met = v.Judged && len(v.Findings) == 0 && (res.Passed || !d.onlyUnjudged(res))
		if !v.Met && c.Gate {
			gateFailed = true
		}
		out = append(out, v)
	}
	return out
}

// onlyUnjudged guards against a failed result with no problem finding
// (a check bug): then nothing is met.
func (d Definition) onlyUnjudged(res Result) bool { return len(res.Problems()) == 0 }
