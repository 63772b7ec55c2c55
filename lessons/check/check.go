// Package check holds the functions that judge a learner's work: one family
// of checks per file (image references, docker login, registry contents,
// pull secrets, pods). A check returns every problem it finds as a Finding;
// an error means only that the check could not run (the API server is
// down, say), never that the learner is not done yet.
package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/imagelab/imagelab/internal/i18n"
)

// Env is what a check may look at: the sandbox as the learner sees it.
// The caller (cmd) builds it from the sandbox; lessons never import sandbox.
type Env struct {
	// Kube talks to the sandbox cluster; nil when there is none yet.
	Kube kubernetes.Interface
	// Namespace is where the learner's objects live.
	Namespace string
	// StrayNamespaces are the other namespaces that are the learner's own
	// (default, on a personal sandbox), where a check looks for an object
	// put in the wrong place. Never other people's: on a shared cluster
	// it is empty, and checks name no namespace but Namespace.
	StrayNamespaces []string
	// Registry is the private registry and the credentials the learner was given.
	Registry Registry
	// DockerConfigDir is the sandbox's DOCKER_CONFIG, where `docker login` writes.
	DockerConfigDir string
	// WorkDir is where the learner keeps manifests; checks read them to explain
	// what the API server dropped or refused.
	WorkDir string
	// Kubelet says a kubelet pulls images on the nodes, so pod checks wait for
	// its verdict instead of predicting it.
	Kubelet bool
	// Transport reaches the registry; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Node is the control-plane node; nil where imagelab cannot reach it,
	// and then NoNode says why and what to use instead.
	Node   Node
	NoNode string
	// NoClusterScope, when set, says why the learner may not make
	// cluster-wide objects here (a workshop attendee's seat on a shared
	// cluster): a step whose check makes them is unavailable, and says so.
	NoClusterScope string
	// Printer writes the findings' words in the learner's language; nil
	// writes English. Only words change with it: a check judges the same
	// way in every language, and a finding's Code never translates.
	Printer *i18n.Printer
	// PolicyBackend is the ImagePolicyWebhook backend imagelab runs for
	// the sandbox; nil where it runs none.
	PolicyBackend PolicyBackend
}

// T writes a finding's text in the learner's language: format is the
// English, a constant (the message's ID in internal/i18n's catalogs), and
// args are formatted into it as fmt.Sprintf does. Evidence — what the
// system said — is quoted as is, never through T. env may be nil.
func (env *Env) T(format string, args ...any) string {
	return env.printer().T(format, args...)
}

// Errorf is fmt.Errorf of the translated format (see T).
func (env *Env) Errorf(format string, args ...any) error {
	return env.printer().Errorf(format, args...)
}

func (env *Env) printer() *i18n.Printer {
	if env == nil {
		return nil
	}
	return env.Printer
}

// Registry is a private registry and the credentials for it.
type Registry struct {
	// Host is host:port as the learner types it in image names (localhost:5055).
	Host string
	// Prefix is the learner's own part of a shared registry (a workshop
	// attendee's "w1k3f-ana"): their repositories' names begin with it,
	// and their credentials open nothing else. Empty on a sandbox's own
	// registry.
	Prefix   string
	User     string
	Password string
}

// Repos is where the learner's repositories are, as their image names
// begin: Host, or Host/Prefix.
func (r Registry) Repos() string {
	if r.Prefix == "" {
		return r.Host
	}
	return r.Host + "/" + r.Prefix
}

// Repo is the full name of one of the learner's repositories (a step's
// "apps/my-app"): Repos()/repo.
func (r Registry) Repo(repo string) string { return r.Repos() + "/" + repo }

// Path is repo's path in the registry, the prefix included: what the
// registry's API and its catalog name it.
func (r Registry) Path(repo string) string {
	if r.Prefix == "" {
		return repo
	}
	return r.Prefix + "/" + repo
}

// Request is one run of a check: the step's parameters and, for quizzes,
// the learner's answer.
type Request struct {
	Params map[string]string
	Answer string
}

// Param returns a parameter, or def when the step did not set it.
func (r Request) Param(name, def string) string {
	if v, ok := r.Params[name]; ok && v != "" {
		return v
	}
	return def
}

// Severity tells whether a finding keeps the step from passing.
type Severity string

const (
	// Problem findings keep the step from passing.
	Problem Severity = "problem"
	// Advice findings are worth knowing but the step may still pass.
	Advice Severity = "advice"
)

// Finding is one thing a check noticed, written for the learner.
type Finding struct {
	// Code names the kind of finding, stable for tests and translations
	// (e.g. "secret-wrong-namespace").
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	// Problem says what is wrong (or what is not there yet).
	Problem string `json:"problem"`
	// Expected says what the check looks for.
	Expected string `json:"expected,omitempty"`
	// Try says what to do next.
	Try string `json:"try,omitempty"`
	// Evidence quotes what the system said: a kubelet event, a registry reply.
	Evidence string `json:"evidence,omitempty"`
	// Criterion names the criterion of the check that a problem breaks.
	Criterion string `json:"criterion,omitempty"`
}

// Result is a check's verdict.
type Result struct {
	Passed   bool      `json:"passed"`
	Findings []Finding `json:"findings,omitempty"`
	// Summary is one line for a passed step (what was proven).
	Summary string `json:"summary,omitempty"`
	// Criteria are the check's criteria, each met or not.
	Criteria []CriterionVerdict `json:"criteria,omitempty"`
}

// Problems returns the findings that keep the step from passing.
func (r Result) Problems() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == Problem {
			out = append(out, f)
		}
	}
	return out
}

// HasFinding reports whether a finding with code is present.
func (r Result) HasFinding(code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

// result is a check's verdict from its findings: a finding whose severity
// is left empty is a problem; the result passes when there is none, and
// then summary says what was proven.
func result(summary string, list ...Finding) Result {
	for i := range list {
		if list[i].Severity == "" {
			list[i].Severity = Problem
		}
	}
	if hasProblem(list) {
		return Result{Findings: list}
	}
	return Result{Passed: true, Findings: list, Summary: summary}
}

// fail is a result that did not pass, with its findings.
func fail(list ...Finding) Result { return result("", list...) }

// hasProblem reports whether any finding keeps a step from passing (an
// empty severity counts as a problem, as in result).
func hasProblem(list []Finding) bool {
	return slices.ContainsFunc(list, func(f Finding) bool { return f.Severity == Problem || f.Severity == "" })
}

// asAdvice turns problems into advice: worth reading, no longer blocking.
func asAdvice(list []Finding) []Finding {
	out := make([]Finding, len(list))
	for i, f := range list {
		f.Severity = Advice
		out[i] = f
	}
	return out
}

// withoutProblems keeps only the findings that are not problems.
func withoutProblems(list []Finding) []Finding {
	var out []Finding
	for _, f := range list {
		if f.Severity == Advice {
			out = append(out, f)
		}
	}
	return out
}

// Run runs the named check, first making sure the sandbox has what it
// needs. A check that cannot reach the cluster or the registry says which
// one and what to do; a check that panics (a bug) returns an error rather
// than take the learner's app down.
func Run(ctx context.Context, name string, env *Env, req Request) (res Result, err error) {
	d, ok := Lookup(name)
	if !ok {
		return Result{}, fmt.Errorf("unknown check %q", name)
	}
	if err := env.Provides(d.Needs); err != nil {
		return Result{}, err
	}
	if env != nil && env.NoClusterScope != "" && d.MakesClusterObjects() {
		return Result{}, fmt.Errorf("%w: %s", ErrUnavailable, env.NoClusterScope)
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{}, env.Errorf("check %s failed inside imagelab (a bug, please report it): %v", name, p)
		}
	}()
	res, err = d.Run(ctx, env, req)
	if err != nil {
		return Result{}, explainUnreachable(err, env)
	}
	res.Criteria = d.judge(res)
	return res, nil
}

// ErrUnreachable means the cluster or the registry did not answer.
var ErrUnreachable = errors.New("does not answer")

// explainUnreachable names the part of the sandbox that did not answer.
func explainUnreachable(err error, env *Env) error {
	var uerr *url.Error
	if err == nil || !errors.As(err, &uerr) || !(uerr.Timeout() || isConnRefused(uerr)) {
		return err
	}
	u, perr := url.Parse(uerr.URL)
	if perr == nil && env != nil && env.Registry.Host != "" && sameRegistryHost(u.Host, env.Registry.Host) {
		return &learnerError{ErrUnreachable, env.T("the registry %s does not answer: is the sandbox running? (imagelab status tells; imagelab up starts it): %v", env.Registry.Host, uerr.Err)}
	}
	return &learnerError{ErrUnreachable, env.T("the sandbox's API server does not answer: is the sandbox running? (imagelab status tells; imagelab up starts it): %v", uerr.Err)}
}

// learnerError is an error written whole in the learner's language that
// errors.Is still takes for its kind (ErrUnreachable, ErrNoSandbox): a
// sentence that wrapped the kind with %w would quote the kind's English.
type learnerError struct {
	kind error
	msg  string
}

func (e *learnerError) Error() string { return e.msg }
func (e *learnerError) Unwrap() error { return e.kind }

func isConnRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host")
}

// sameRegistryHost compares host:port pairs, taking localhost and
// 127.0.0.1 as one.
func sameRegistryHost(a, b string) bool {
	norm := func(h string) string { return strings.Replace(h, "127.0.0.1", "localhost", 1) }
	return norm(a) == norm(b)
}

// ErrNoSandbox is returned when a check needs a part of the sandbox that is
// not there (no cluster configured, no registry).
var ErrNoSandbox = errors.New("the sandbox is not ready")

// Provides says which of the needs the sandbox cannot meet, or nil.
func (env *Env) Provides(n Needs) error {
	var missing []string
	if n.Has(NeedsCluster) && (env == nil || env.Kube == nil) {
		missing = append(missing, env.T("a cluster"))
	}
	if n.Has(NeedsRegistry) && (env == nil || env.Registry.Host == "") {
		missing = append(missing, env.T("a registry"))
	}
	if n.Has(NeedsDockerConfig) && (env == nil || env.DockerConfigDir == "") {
		missing = append(missing, env.T("a docker config dir"))
	}
	if n.Has(NeedsNode) && (env == nil || env.Node == nil) {
		why := env.T("this step works on the control-plane node, which only a sandbox imagelab made (imagelab up) gives it")
		if env != nil && env.NoNode != "" {
			why = env.NoNode
		}
		// The app shows what follows ErrUnavailable's own text, in its words.
		return fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	if len(missing) > 0 {
		return &learnerError{ErrNoSandbox, env.T("the sandbox is not ready: this step needs %s", strings.Join(missing, env.T(" and ")))}
	}
	return nil
}
