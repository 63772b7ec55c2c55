// Package lessons is the curriculum as data: lessons and their steps, read
// from lesson.yaml files and markdown embedded in the binary, rendered with
// the sandbox's values, and checked by the functions in lessons/check.
// It knows nothing of the UI or of how the sandbox is made.
package lessons

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/imagelab/imagelab/lessons/check"
)

// Curriculum is every lesson, in order.
type Curriculum struct {
	Lessons []*Lesson
}

// Lesson is one folder under content/.
type Lesson struct {
	ID      string  `yaml:"id" json:"id"`
	Title   string  `yaml:"title" json:"title"`
	Order   int     `yaml:"order" json:"order"`
	Summary string  `yaml:"summary" json:"summary,omitempty"`
	Steps   []*Step `yaml:"steps" json:"steps"`

	// Dir is the lesson's folder in the content filesystem.
	Dir string `yaml:"-" json:"-"`
	// Number is the lesson's place in the curriculum, from 1.
	Number int `yaml:"-" json:"-"`
}

// Step is one thing the learner does, and the check that proves it.
type Step struct {
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title" json:"title"`
	// Text is the markdown file with the step's prose (default <id>.md).
	Text     string    `yaml:"text" json:"-"`
	Check    CheckSpec `yaml:"check" json:"check"`
	Hints    []string  `yaml:"hints" json:"-"`
	Solution Solution  `yaml:"solution" json:"-"`
	// Reset lists the objects (kind/name) the step creates in the lesson's
	// namespace, which a reset of the step deletes.
	Reset []string `yaml:"reset" json:"reset,omitempty"`
	// Setup is what the step starts from, made by imagelab (a template of
	// YAML documents: a broken workload to troubleshoot). Reset deletes
	// it and makes it again.
	Setup string `yaml:"setup" json:"-"`
	// After are the steps (lesson/step) whose outcome this one builds on:
	// a pod that pulls with the secret an earlier step made. Where the
	// step stands alone (an exam task in its own namespace), imagelab
	// makes what those steps give first.
	After []string `yaml:"after" json:"after,omitempty"`
	// Given is this step's outcome as objects (a template of YAML
	// documents), for steps that need it and stand alone.
	Given string `yaml:"given" json:"-"`
	// Weight is the step's share of an exam's score (default 4).
	Weight int `yaml:"weight" json:"weight,omitempty"`

	// Lesson is the lesson the step belongs to.
	Lesson *Lesson `yaml:"-" json:"-"`
	// Number is the step's place in its lesson, from 1.
	Number int `yaml:"-" json:"-"`
	body   string
}

// CheckSpec names the check that judges a step, with its parameters
// (Go templates over Values).
type CheckSpec struct {
	Name   string            `yaml:"name" json:"name"`
	Params map[string]string `yaml:"params" json:"params,omitempty"`
}

// Solution is the reference solution, run by the content test: files
// written to the work dir, then a shell script; or a quiz answer. A step
// done on the control-plane node has a Node script instead, run in the
// node's root shell, and RestartKubelet when the kubelet must read its
// config again (systemctl restart kubelet).
type Solution struct {
	Answer         string            `yaml:"answer"`
	Files          map[string]string `yaml:"files"`
	Run            string            `yaml:"run"`
	Node           string            `yaml:"node"`
	RestartKubelet bool              `yaml:"restartKubelet"`
}

// Ref is the step's address: lesson-id/step-id.
func (s *Step) Ref() string { return s.Lesson.ID + "/" + s.ID }

// Position is where the step stands in the curriculum, as learners read
// it and Find takes it: "2.3" is lesson 2, step 3.
func (s *Step) Position() string { return fmt.Sprintf("%d.%d", s.Lesson.Number, s.Number) }

// Definition is the step's check definition.
func (s *Step) Definition() check.Definition {
	d, _ := check.Lookup(s.Check.Name)
	return d
}

// Needs says what the step's check talks to.
func (s *Step) Needs() check.Needs { return s.Definition().Needs }

// IsQuiz reports whether the step is answered by typing.
func (s *Step) IsQuiz() bool { return s.Needs().Has(check.NeedsAnswer) }

// Values are the sandbox's facts the lesson texts are written with.
type Values struct {
	// Registry is host:port of the private registry (localhost:5055):
	// what docker login and a pull secret's server name.
	Registry string
	// Repos is where the learner's own repositories are, as their image
	// names begin: the registry itself on a sandbox's own registry, or the
	// attendee's part of a workshop's shared one
	// (registry.example:5000/w1k3f-ana). Texts write the learner's images
	// as {{.Repos}}/apps/internal-app:1.0.
	Repos string
	// RegistryAPI is the registry's HTTP API for the learner's
	// repositories, for curl: {{.RegistryAPI}}/apps/internal-app/manifests/1.0.
	RegistryAPI string
	User        string
	Password    string
	Namespace   string
	// APIServerManifest and KubeletConfig are where the control-plane
	// node keeps the files the CKS lessons edit (kubeadm's paths on a
	// kind node).
	APIServerManifest string
	KubeletConfig     string
	// ImagePolicyDir is where imagelab puts its image policy webhook's
	// kubeconfig and certificates on the node.
	ImagePolicyDir string
	// N are the names of the objects the steps ask for ({{.N.Regcred}}).
	// A lesson uses DefaultNames; an exam draws new ones, so nothing can
	// be typed from memory.
	N Names
}

// Names are the names of the objects the steps ask the learner to make.
// A step that asks for a new one adds a field here (the loader refuses a
// name that is not one).
type Names struct {
	Anonymous, Regcred, InternalApp, Puller, ViaServiceAccount, Pinned, BrokenApp, RegcredApp string
	RegistryPolicy                                                                            string
	// The supply-chain tools lesson's: pods to scan, to sign, to harden, and their pull secret.
	Payments, Catalog, Reports, Release, Web, LabCred string
}

// DefaultNames are the names the lessons use.
var DefaultNames = Names{
	Anonymous: "anonymous", Regcred: "regcred", InternalApp: "internal-app", Puller: "puller",
	ViaServiceAccount: "via-serviceaccount", Pinned: "pinned", BrokenApp: "broken-app", RegcredApp: "regcred-app",
	RegistryPolicy: "private-registry-only",
	Payments:       "payments", Catalog: "catalog", Reports: "reports", Release: "release", Web: "web", LabCred: "lab-cred",
}

// The kubeadm paths of the files the control-plane lessons edit.
const (
	KubeadmAPIServerManifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
	KubeadmKubeletConfig     = "/var/lib/kubelet/config.yaml"
	KubeadmImagePolicyDir    = "/etc/kubernetes/imagepolicy"
)

// NewValues are a sandbox's values: its registry, credentials and
// namespace, with the lessons' names and kubeadm's node paths.
func NewValues(registry, user, password, namespace string) Values {
	v := Values{Registry: registry, User: user, Password: password, Namespace: namespace,
		APIServerManifest: KubeadmAPIServerManifest, KubeletConfig: KubeadmKubeletConfig, ImagePolicyDir: KubeadmImagePolicyDir, N: DefaultNames}
	return v.WithPrefix("")
}

// WithPrefix puts the learner's repositories under prefix in the registry
// (a workshop attendee's own part of a shared registry); "" is the
// registry's top.
func (v Values) WithPrefix(prefix string) Values {
	v.Repos, v.RegistryAPI = v.Registry, registryScheme(v.Registry)+"://"+v.Registry+"/v2"
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		v.Repos += "/" + prefix
		v.RegistryAPI += "/" + prefix
	}
	return v
}

// registryScheme is how the docker CLI and go-containerregistry reach a
// registry: plain HTTP on the loopback, HTTPS anywhere else.
func registryScheme(host string) string {
	h := host
	if i := strings.LastIndex(h, ":"); i > 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	if h == "localhost" || strings.HasPrefix(h, "127.") || h == "[::1]" || strings.HasPrefix(host, "localhost:<") {
		return "http"
	}
	return "https"
}

// Placeholder values, shown while the sandbox is still being made.
func Placeholder() Values {
	return NewValues("localhost:<port>", "<user>", "<password>", "<namespace>")
}

var funcs = template.FuncMap{
	// sq quotes a value for a POSIX shell, so a $ in a password stays a $.
	"sq": func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" },
	// typo misspells a name as a hurried colleague would: its last letter lost.
	"typo": func(s string) string { return s[:max(len(s)-1, 0)] },
	// json quotes a value as a JSON string, for docker configs in setups.
	"json": func(s string) string { b, _ := json.Marshal(s); return string(b) },
}

func render(name, text string, v Values) (string, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// mustRender is for texts validated at load: they parse and only use Values' fields.
func mustRender(name, text string, v Values) string {
	out, err := render(name, text, v)
	if err != nil {
		return fmt.Sprintf("(%s: %v)", name, err)
	}
	return out
}

// Body is the step's markdown with the sandbox's values filled in.
func (s *Step) Body(v Values) string { return mustRender(s.Ref()+" text", s.body, v) }

// Hint returns hint i, rendered.
func (s *Step) Hint(i int, v Values) string { return mustRender(s.Ref()+" hint", s.Hints[i], v) }

// RenderedSolution is the solution with the sandbox's values filled in.
func (s *Step) RenderedSolution(v Values) Solution {
	out := Solution{Answer: mustRender(s.Ref()+" answer", s.Solution.Answer, v), Run: mustRender(s.Ref()+" run", s.Solution.Run, v),
		Node: mustRender(s.Ref()+" node", s.Solution.Node, v), RestartKubelet: s.Solution.RestartKubelet}
	if len(s.Solution.Files) > 0 {
		out.Files = make(map[string]string, len(s.Solution.Files))
		for name, body := range s.Solution.Files {
			out.Files[name] = mustRender(s.Ref()+" "+name, body, v)
		}
	}
	return out
}

// RenderedSetup and RenderedGiven are the step's setup and outcome (YAML
// documents) with the sandbox's values filled in.
func (s *Step) RenderedSetup(v Values) string { return mustRender(s.Ref()+" setup", s.Setup, v) }

func (s *Step) RenderedGiven(v Values) string { return mustRender(s.Ref()+" given", s.Given, v) }

// Params are the check's parameters with the sandbox's values filled in.
func (s *Step) Params(v Values) map[string]string {
	out := make(map[string]string, len(s.Check.Params))
	for k, p := range s.Check.Params {
		out[k] = mustRender(s.Ref()+" "+k, p, v)
	}
	return out
}

// ErrNotOurNamespace keeps a reset from deleting in a namespace imagelab
// did not create.
var ErrNotOurNamespace = errors.New("the namespace was not created by imagelab, so imagelab deletes nothing in it")

// ResetIn puts what the step made back to nothing: each item of its reset
// list, by the subject its check declares (the loader made sure there is
// one). ownsNamespace says env.Namespace is imagelab's own; objects in any
// other namespace are left for the learner to delete.
func (s *Step) ResetIn(ctx context.Context, env *check.Env, v Values, ownsNamespace bool) error {
	def := s.Definition()
	var errs []error
	for _, item := range s.ResetItems(v) {
		kind, name, _ := strings.Cut(item, "/")
		subject := def.ResetSubject(kind)
		switch {
		case subject == nil:
			errs = append(errs, fmt.Errorf("check %s cannot reset %s", def.Name, item))
		case subject.Namespaced && !ownsNamespace:
			errs = append(errs, fmt.Errorf("%w: delete %s yourself (kubectl delete %s %s -n %s)", ErrNotOurNamespace, item, kind, name, env.Namespace))
		case subject.Namespaced && env.Kube == nil:
			errs = append(errs, fmt.Errorf("resetting %s: %w", item, check.ErrNoSandbox))
		default:
			if err := subject.Reset(ctx, env, name); err != nil {
				errs = append(errs, fmt.Errorf("resetting %s: %w", item, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ResetItems are the step's reset list with the sandbox's names filled in.
func (s *Step) ResetItems(v Values) []string {
	out := make([]string, len(s.Reset))
	for i, r := range s.Reset {
		out[i] = mustRender(s.Ref()+" reset", r, v)
	}
	return out
}

// Resets reports whether the step makes anything a reset must delete.
func (s *Step) Resets() bool { return len(s.Reset) > 0 || s.Setup != "" }

// SetUp makes what the step starts from, replacing what is there. A step
// without setup starts from nothing and needs none.
func (s *Step) SetUp(ctx context.Context, env *check.Env, v Values) error {
	return s.create(ctx, env, v, "setup", s.Setup)
}

// Give makes the step's outcome (its Given objects), as if the learner
// had done it: for a later step that stands alone.
func (s *Step) Give(ctx context.Context, env *check.Env, v Values) error {
	return s.create(ctx, env, v, "given", s.Given)
}

func (s *Step) create(ctx context.Context, env *check.Env, v Values, what, text string) error {
	if text == "" {
		return nil
	}
	def := s.Definition()
	for _, doc := range setupDocs(mustRender(s.Ref()+" "+what, text, v)) {
		subject := def.ResetSubject(doc.kind)
		if subject == nil || subject.Create == nil {
			return fmt.Errorf("check %s cannot make %s objects", def.Name, doc.kind)
		}
		if err := subject.Create(ctx, env, []byte(doc.body)); err != nil {
			return fmt.Errorf("%s of %s: %w", what, s.Ref(), err)
		}
	}
	return nil
}

// Prepare makes a step stand alone: the outcomes of the steps it needs
// (in order), then its own setup.
func (c *Curriculum) Prepare(ctx context.Context, s *Step, env *check.Env, v Values) error {
	for _, ref := range s.After {
		dep, err := c.Find(ref)
		if err != nil {
			return err
		}
		if err := c.Prepare(ctx, dep, env, v); err != nil {
			return err
		}
		if err := dep.Give(ctx, env, v); err != nil {
			return err
		}
	}
	return s.SetUp(ctx, env, v)
}

// setupDoc is one YAML document of a step's setup.
type setupDoc struct {
	kind, name, body string
}

// setupDocs splits a setup into its documents, each with its kind (as
// reset lists write it: lowercase) and name.
func setupDocs(text string) []setupDoc {
	var out []setupDoc
	for _, body := range strings.Split(text, "\n---") {
		var head struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		if strings.TrimSpace(body) == "" {
			continue
		}
		_ = yaml.Unmarshal([]byte(body), &head)
		out = append(out, setupDoc{kind: strings.ToLower(head.Kind), name: head.Metadata.Name, body: body})
	}
	return out
}

// Run runs the step's check.
func (s *Step) Run(ctx context.Context, env *check.Env, v Values, answer string) (check.Result, error) {
	return check.Run(ctx, s.Check.Name, env, check.Request{Params: s.Params(v), Answer: answer})
}

// Steps lists every step of the curriculum in order.
func (c *Curriculum) Steps() []*Step {
	var out []*Step
	for _, l := range c.Lessons {
		out = append(out, l.Steps...)
	}
	return out
}

// Find returns the step named by ref: "lesson/step", a step id that is
// unique across lessons, or a position "2.3" (lesson 2, step 3).
func (c *Curriculum) Find(ref string) (*Step, error) {
	var li, si int
	if n, _ := fmt.Sscanf(ref, "%d.%d", &li, &si); n == 2 && fmt.Sprintf("%d.%d", li, si) == ref {
		if li >= 1 && li <= len(c.Lessons) && si >= 1 && si <= len(c.Lessons[li-1].Steps) {
			return c.Lessons[li-1].Steps[si-1], nil
		}
		return nil, fmt.Errorf("no step %s", ref)
	}
	var found []*Step
	for _, s := range c.Steps() {
		if s.Ref() == ref || s.ID == ref {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("no step %q (imagelab lessons lists them)", ref)
	}
	names := make([]string, len(found))
	for i, s := range found {
		names[i] = s.Ref()
	}
	return nil, fmt.Errorf("step %q is ambiguous: %s", ref, strings.Join(names, ", "))
}

// Lesson returns the lesson with id.
func (c *Curriculum) Lesson(id string) *Lesson {
	for _, l := range c.Lessons {
		if l.ID == id {
			return l
		}
	}
	return nil
}

//go:embed all:content
var embedded embed.FS

// Content is the curriculum's files as embedded in the binary.
func Content() fs.FS {
	sub, err := fs.Sub(embedded, "content")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	return sub
}

var loadDefault = sync.OnceValues(func() (*Curriculum, error) { return Load(Content()) })

// Default is the embedded curriculum, loaded once.
func Default() (*Curriculum, error) { return loadDefault() }
