// Package exam is imagelab's mock exam: tasks drawn from the curriculum's
// steps, each with names of its own and a namespace of its own, done
// against the clock and scored per criterion of each step's check.
//
// An exam is data (Exam, saved as JSON under <stateDir>/exams) and four
// moves: Draw picks the tasks and names from a seed; Prepare makes each
// task stand alone in its namespace, before the clock starts; Score runs
// every task's check once and gives credit per criterion met; Cleanup puts
// the sandbox back. It knows nothing of the UI, and of the sandbox only
// what the caller passes in (Sandbox).
package exam

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/imagelab/imagelab/lessons"
)

// The exam's rules.
const (
	// DefaultTasks is how many tasks an exam draws unless told.
	DefaultTasks = 6
	// DefaultDuration is the time an exam gives unless told.
	DefaultDuration = 30 * time.Minute
	// DefaultWeight is a step's weight when its lesson names none.
	DefaultWeight = 4
	// PassMark is the share of the points that passes, in percent (the
	// CKS's own).
	PassMark = 67
)

// Options say how to draw an exam.
type Options struct {
	// Seed decides the tasks and the names: the same seed, the same exam.
	Seed int64
	// Tasks is how many tasks to draw (default DefaultTasks; at most every
	// eligible step).
	Tasks int
	// Duration is the time the exam gives (default DefaultDuration).
	Duration time.Duration
	// Eligible says which steps may become tasks, beyond the rule that
	// quizzes never do: a sandbox without a control-plane node leaves out
	// the steps that need one. nil means every step.
	Eligible func(*lessons.Step) bool
}

// Exam is one attempt: what was drawn, where each task lives, the clock,
// and once scored, the report.
type Exam struct {
	ID   string `json:"id"`
	Seed int64  `json:"seed"`
	// Names are the object names the tasks ask for, drawn from the seed.
	Names    lessons.Names `json:"names"`
	Duration Seconds       `json:"durationSeconds"`
	Created  time.Time     `json:"created"`
	// Started is when the clock started: after every task was prepared.
	// Zero while the exam is being prepared.
	Started time.Time `json:"started,omitzero"`
	// Submitted is when the tasks were checked; zero while it runs.
	Submitted time.Time `json:"submitted,omitzero"`
	Tasks     []*Task   `json:"tasks"`
	// Notes are what imagelab could not do for the exam (clean up
	// something it did not make, say), for the learner to read.
	Notes  []Note  `json:"notes,omitempty"`
	Report *Report `json:"report,omitempty"`

	cur *lessons.Curriculum
}

// Task is one step of the curriculum, done in its own namespace.
type Task struct {
	// Number is the task's place in the exam, from 1.
	Number int `json:"number"`
	// Step is the step's ref (lesson/step).
	Step      string `json:"step"`
	Weight    int    `json:"weight"`
	Namespace string `json:"namespace"`
	// Flagged marks the task for review, as the learner left it.
	Flagged bool `json:"flagged,omitempty"`
	// Spent is the time the task was on screen.
	Spent Seconds `json:"spentSeconds"`
	// Given are the criteria its check found met before the clock
	// started (a troubleshooting task's pod is there from the start):
	// they are not the learner's work, so they count neither way.
	Given []string `json:"given,omitempty"`

	step *lessons.Step
}

// Note is something the learner should know about a task (Task, from 1)
// or the whole exam (Task 0).
type Note struct {
	Task int    `json:"task,omitempty"`
	Text string `json:"text"`
}

// NotesOf are the notes about task n (0: the whole exam).
func (x *Exam) NotesOf(n int) []string {
	var out []string
	for _, note := range x.Notes {
		if note.Task == n {
			out = append(out, note.Text)
		}
	}
	return out
}

// Seconds is a duration that reads as whole seconds in JSON.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return json.Marshal(int64(time.Duration(s).Round(time.Second) / time.Second))
}

func (s *Seconds) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*s = Seconds(time.Duration(n) * time.Second)
	return nil
}

// D is the duration.
func (s Seconds) D() time.Duration { return time.Duration(s) }

// StepOf is the step the task asks for.
func (t *Task) StepOf() *lessons.Step { return t.step }

// ErrNoTasks means no step of the curriculum can be a task here.
var ErrNoTasks = errors.New("no step can be an exam task on this sandbox")

// Draw draws an exam from the curriculum: its tasks (never a quiz), in
// the curriculum's order, with their weights, a namespace each, and new
// names for every object the tasks ask for. The clock has not started.
func Draw(cur *lessons.Curriculum, o Options) (*Exam, error) {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Tasks <= 0 {
		o.Tasks = DefaultTasks
	}
	var eligible []*lessons.Step
	for _, s := range cur.Steps() {
		if !s.IsQuiz() && (o.Eligible == nil || o.Eligible(s)) {
			eligible = append(eligible, s)
		}
	}
	if len(eligible) == 0 {
		return nil, ErrNoTasks
	}
	rng := mrand.New(mrand.NewPCG(uint64(o.Seed), 0x1ab))
	names := drawNames(rng)
	picked := slices.Clone(eligible)
	rng.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
	picked = picked[:min(o.Tasks, len(picked))]
	// In the curriculum's order: the topics read as they were taught.
	slices.SortFunc(picked, func(a, b *lessons.Step) int {
		return slices.Index(eligible, a) - slices.Index(eligible, b)
	})

	x := &Exam{ID: newID(), Seed: o.Seed, Names: names, Duration: Seconds(o.Duration), Created: time.Now().UTC().Truncate(time.Second), cur: cur}
	for i, s := range picked {
		x.Tasks = append(x.Tasks, &Task{
			Number: i + 1, Step: s.Ref(), Weight: Weight(s),
			Namespace: fmt.Sprintf("exam-%s-%d", x.ID, i+1), step: s,
		})
	}
	return x, nil
}

// Weight is a step's share of an exam's points.
func Weight(s *lessons.Step) int {
	if s.Weight == 0 {
		return DefaultWeight
	}
	return s.Weight
}

// Values are the values a task's texts, checks and resets are rendered
// with: the sandbox's, with the exam's names and the task's namespace.
func (x *Exam) Values(base lessons.Values, t *Task) lessons.Values {
	base.N = x.Names
	base.Namespace = t.Namespace
	return base
}

// MaxPoints is what every task together is worth.
func (x *Exam) MaxPoints() int {
	total := 0
	for _, t := range x.Tasks {
		total += t.Weight
	}
	return total
}

// Start starts the clock.
func (x *Exam) Start(now time.Time) { x.Started = now.UTC().Truncate(time.Second) }

// Deadline is when the time is up; zero before the clock starts.
func (x *Exam) Deadline() time.Time {
	if x.Started.IsZero() {
		return time.Time{}
	}
	return x.Started.Add(x.Duration.D())
}

// Remaining is the time left at now: never below zero, all of it before
// the clock starts.
func (x *Exam) Remaining(now time.Time) time.Duration {
	if x.Started.IsZero() {
		return x.Duration.D()
	}
	return max(0, x.Deadline().Sub(now))
}

// Running says the exam was not scored yet.
func (x *Exam) Running() bool { return x.Submitted.IsZero() }

// Expired says the time ran out and the exam was not scored: the
// deadline passed while imagelab was not running.
func (x *Exam) Expired(now time.Time) bool {
	return x.Running() && !x.Started.IsZero() && !now.Before(x.Deadline())
}

// Clone is a deep copy, for saving in the background what the app goes
// on changing.
func (x *Exam) Clone() *Exam {
	c := *x
	c.Tasks = make([]*Task, len(x.Tasks))
	for i, t := range x.Tasks {
		tc := *t
		tc.Given = slices.Clone(t.Given)
		c.Tasks[i] = &tc
	}
	c.Notes = slices.Clone(x.Notes)
	return &c
}

// resolve finds each task's step in the curriculum (after Load).
func (x *Exam) resolve(cur *lessons.Curriculum) error {
	x.cur = cur
	for _, t := range x.Tasks {
		s, err := cur.Find(t.Step)
		if err != nil {
			return fmt.Errorf("task %d: %w (the curriculum changed since this exam was drawn)", t.Number, err)
		}
		t.step = s
	}
	return nil
}

// namePools are the words an exam's names are made of, by field of
// lessons.Names: a name reads like one a colleague would choose, and its
// random tail keeps it from being typed from memory. A field with no pool
// (a new one) is named after itself.
var namePools = map[string][]string{
	"Anonymous":         {"no-creds", "bare-pod", "plain-pull", "anon"},
	"Regcred":           {"pullcred", "registry-auth", "private-creds", "reg-secret"},
	"InternalApp":       {"billing", "ledger", "frontend", "orders"},
	"Puller":            {"image-puller", "deployer", "builder", "runner"},
	"ViaServiceAccount": {"sa-pod", "inherited", "via-sa", "delegate"},
	"Pinned":            {"pinned-app", "immutable", "locked", "by-digest"},
	"BrokenApp":         {"stuck-app", "legacy-app", "reports", "checkout"},
	"RegcredApp":        {"app-creds", "team-cred", "svc-pull", "deploy-cred"},
	"RegistryPolicy":    {"trusted-only", "allowlist", "registry-gate", "only-ours"},
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// drawNames gives every field of lessons.Names a new name, each a valid
// DNS-1123 label and no two alike.
func drawNames(rng *mrand.Rand) lessons.Names {
	var n lessons.Names
	v := reflect.ValueOf(&n).Elem()
	seen := map[string]bool{}
	for i := range v.NumField() {
		field := v.Type().Field(i).Name
		pool := namePools[field]
		if len(pool) == 0 {
			pool = []string{kebab(field)}
		}
		for {
			name := pool[rng.IntN(len(pool))] + "-" + randomString(rng, 4)
			if !seen[name] {
				seen[name] = true
				v.Field(i).SetString(name)
				break
			}
		}
	}
	return n
}

// kebab writes a Go field name as a DNS label: ViaServiceAccount → via-service-account.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func randomString(rng *mrand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return string(b)
}

// newID is an exam's id: short, for namespace names, and random (not
// from the seed: the same exam twice gets two sets of namespaces).
func newID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}
