package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/imagelab/imagelab/lessons/check"
)

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// LoadError is one problem in one lesson file: the file, the field and why.
type LoadError struct {
	File   string
	Field  string
	Reason string
}

func (e *LoadError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Reason)
}

// Load reads every lesson folder (a folder holding lesson.yaml) of fsys
// and checks it. It reports every problem it finds, each a *LoadError.
func Load(fsys fs.FS) (*Curriculum, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var errs []error
	c := &Curriculum{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		file := path.Join(e.Name(), "lesson.yaml")
		if _, err := fs.Stat(fsys, file); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		l, lerrs := loadLesson(fsys, e.Name())
		errs = append(errs, lerrs...)
		if l != nil {
			c.Lessons = append(c.Lessons, l)
		}
	}
	sort.SliceStable(c.Lessons, func(i, j int) bool { return c.Lessons[i].Order < c.Lessons[j].Order })
	for i, l := range c.Lessons {
		l.Number = i + 1
		for j, s := range l.Steps {
			if s != nil {
				s.Number = j + 1
			}
		}
	}
	errs = append(errs, validateCurriculum(c)...)
	if len(c.Lessons) == 0 && len(errs) == 0 {
		errs = append(errs, &LoadError{File: ".", Reason: "no lesson folders (a folder with lesson.yaml)"})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func loadLesson(fsys fs.FS, dir string) (*Lesson, []error) {
	file := path.Join(dir, "lesson.yaml")
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, []error{&LoadError{File: file, Reason: err.Error()}}
	}
	l := &Lesson{Dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(l); err != nil {
		return nil, []error{&LoadError{File: file, Reason: yamlReason(err)}}
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &LoadError{File: file, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if !idPattern.MatchString(l.ID) {
		bad("id", "%q is not a lowercase id (letters, digits, dashes)", l.ID)
	}
	if strings.TrimSpace(l.Title) == "" {
		bad("title", "missing")
	}
	if l.Order <= 0 {
		bad("order", "must be a positive number")
	}
	if len(l.Steps) == 0 {
		bad("steps", "a lesson needs at least one step")
	}
	seen := map[string]bool{}
	for i, s := range l.Steps {
		field := fmt.Sprintf("steps[%d]", i)
		if s == nil {
			bad(field, "empty step")
			continue
		}
		s.Lesson = l
		if !idPattern.MatchString(s.ID) {
			bad(field+".id", "%q is not a lowercase id (letters, digits, dashes)", s.ID)
		} else if seen[s.ID] {
			bad(field+".id", "%q is used twice", s.ID)
		}
		seen[s.ID] = true
		if strings.TrimSpace(s.Title) == "" {
			bad(field+".title", "missing")
		}
		if s.Text == "" {
			s.Text = s.ID + ".md"
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, s.Text))
		if err != nil {
			bad(field+".text", "cannot read %s: %v", path.Join(dir, s.Text), err)
		}
		s.body = string(body)
		validateStep(s, field, bad)
	}
	return l, errs
}

// validateStep checks the step's check, its templates and its solution.
func validateStep(s *Step, field string, bad func(field, format string, args ...any)) {
	def, ok := check.Lookup(s.Check.Name)
	if !ok {
		bad(field+".check.name", "unknown check %q (known: %s)", s.Check.Name, strings.Join(check.Names(), ", "))
	} else {
		for _, p := range def.Params {
			if _, ok := s.Check.Params[p]; !ok {
				bad(field+".check.params", "missing %q, which check %s needs", p, def.Name)
			}
		}
		for p := range s.Check.Params {
			if !def.TakesParam(p) {
				bad(field+".check.params."+p, "check %s takes no parameter %q (takes: %s)", def.Name, p, strings.Join(append(slices.Clone(def.Params), def.Optional...), ", "))
			}
		}
		if def.Needs.Has(check.NeedsAnswer) {
			if s.Solution.Answer == "" {
				bad(field+".solution.answer", "a quiz step needs its answer")
			}
		} else if s.Solution.Run == "" && len(s.Solution.Files) == 0 && s.Solution.Node == "" {
			bad(field+".solution", "needs run, files or node: the content test runs it")
		}
		if s.Solution.Node != "" && !def.Needs.Has(check.NeedsNode) {
			bad(field+".solution.node", "check %s does not work on the node", def.Name)
		}
	}
	texts := map[string]string{field + ".text": s.body, field + ".solution.answer": s.Solution.Answer, field + ".solution.run": s.Solution.Run, field + ".solution.node": s.Solution.Node}
	for i, h := range s.Hints {
		texts[fmt.Sprintf("%s.hints[%d]", field, i)] = h
	}
	for k, v := range s.Check.Params {
		texts[field+".check.params."+k] = v
	}
	for name, body := range s.Solution.Files {
		if name != path.Base(name) || strings.HasPrefix(name, ".") {
			bad(field+".solution.files", "%q must be a plain file name", name)
		}
		texts[field+".solution.files."+name] = body
	}
	for f, text := range texts {
		if _, err := render(f, text, Placeholder()); err != nil {
			bad(f, "template: %v", templateReason(err))
		}
	}
	// A setup, or a given outcome, makes only what the step's reset
	// deletes again.
	for what, text := range map[string]string{"setup": s.Setup, "given": s.Given} {
		if text == "" || def.Run == nil {
			continue
		}
		rendered, err := render(field+"."+what, text, Placeholder())
		if err != nil {
			bad(field+"."+what, "template: %v", templateReason(err))
		}
		for i, doc := range setupDocs(rendered) {
			switch {
			case doc.kind == "" || doc.name == "":
				bad(fmt.Sprintf("%s.%s[%d]", field, what, i), "needs kind and metadata.name")
			case def.ResetSubject(doc.kind) == nil || def.ResetSubject(doc.kind).Create == nil:
				bad(fmt.Sprintf("%s.%s[%d]", field, what, i), "check %s cannot make %s objects", def.Name, doc.kind)
			case !slices.Contains(s.ResetItems(Placeholder()), doc.kind+"/"+doc.name):
				bad(fmt.Sprintf("%s.%s[%d]", field, what, i), "%s/%s is not in the step's reset list, so a reset would leave it", doc.kind, doc.name)
			}
		}
	}
	if s.Weight < 0 {
		bad(field+".weight", "must not be negative")
	}
	// What a step may reset is its check's to say: a reset its check
	// cannot carry out would silently do nothing.
	for i, raw := range s.Reset {
		r, err := render(field+".reset", raw, Placeholder())
		if err != nil {
			bad(fmt.Sprintf("%s.reset[%d]", field, i), "template: %v", templateReason(err))
			continue
		}
		kind, name, ok := strings.Cut(r, "/")
		switch {
		case !ok || name == "":
			bad(fmt.Sprintf("%s.reset[%d]", field, i), "%q is not kind/name", r)
		case def.Run != nil && def.ResetSubject(kind) == nil:
			bad(fmt.Sprintf("%s.reset[%d]", field, i), "check %s cannot reset %s objects (it resets: %s)", def.Name, kind, listOrNothing(def.ResetKinds()))
		}
	}
}

func listOrNothing(xs []string) string {
	if len(xs) == 0 {
		return "nothing"
	}
	return strings.Join(xs, ", ")
}

func validateCurriculum(c *Curriculum) []error {
	var errs []error
	for _, l := range c.Lessons {
		for i, s := range l.Steps {
			for _, ref := range s.After {
				dep, err := c.Find(ref)
				switch {
				case err != nil:
					errs = append(errs, &LoadError{File: path.Join(l.Dir, "lesson.yaml"), Field: fmt.Sprintf("steps[%d].after", i), Reason: err.Error()})
				case dep.Given == "":
					errs = append(errs, &LoadError{File: path.Join(l.Dir, "lesson.yaml"), Field: fmt.Sprintf("steps[%d].after", i), Reason: fmt.Sprintf("%s gives no outcome (given:) to build on", ref)})
				}
			}
		}
	}
	ids, orders := map[string]string{}, map[int]string{}
	for _, l := range c.Lessons {
		file := path.Join(l.Dir, "lesson.yaml")
		if other, dup := ids[l.ID]; dup {
			errs = append(errs, &LoadError{File: file, Field: "id", Reason: fmt.Sprintf("%q is also the id of %s", l.ID, other)})
		}
		if other, dup := orders[l.Order]; dup {
			errs = append(errs, &LoadError{File: file, Field: "order", Reason: fmt.Sprintf("%d is also the order of %s", l.Order, other)})
		}
		ids[l.ID], orders[l.Order] = file, file
	}
	return errs
}

func yamlReason(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

func templateReason(err error) string {
	var ee template.ExecError
	if errors.As(err, &ee) {
		return ee.Err.Error()
	}
	return err.Error()
}
