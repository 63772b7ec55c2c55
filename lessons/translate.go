package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template/parse"

	"go.yaml.in/yaml/v3"

	"github.com/imagelab/imagelab/internal/i18n"
)

// A translation lives beside the English in each lesson folder, in a
// folder named by the language's code (ko/): a lesson.yaml holding only
// the learner-facing texts, keyed by step id, and the steps' markdown under
// the English file names. Everything else — checks, parameters, solutions,
// setups, resets — is the English lesson's.

// SourcesFile, beside a translation, records which English it was made
// from (a hash per text), so a change to the English prose alone shows as
// a translation to look at again: the lessons' tests compare it.
const SourcesFile = "sources.sum"

// lessonText is a translated lesson.yaml.
type lessonText struct {
	Title   string               `yaml:"title"`
	Summary string               `yaml:"summary"`
	Steps   map[string]*stepText `yaml:"steps"`
}

// stepText is one step's translated texts.
type stepText struct {
	Title string   `yaml:"title"`
	Hints []string `yaml:"hints"`
	// Explain translates a choice quiz's explanations, by option (the
	// check's explain-<option> parameters).
	Explain map[string]string `yaml:"explain"`
}

// explainPrefix marks the check parameters that are prose for the
// learner (a quiz's explanation of an option), translated with the step.
const explainPrefix = "explain-"

// LoadIn reads the curriculum of fsys in lang: the English lessons, with
// every learner-facing text (lesson title and summary; step title, text,
// hints and quiz explanations) taken from the lesson's <lang>/ folder.
// English is Load itself.
//
// A problem in the English is an error and no curriculum. A problem in the
// translation alone — a text missing, one for a step that does not exist,
// one that uses other template values than its English source or does not
// render — comes back as an error listing every one (each a *LoadError)
// together with a usable curriculum that keeps the English text there.
func LoadIn(fsys fs.FS, lang i18n.Lang) (*Curriculum, error) {
	en, err := Load(fsys)
	if err != nil || lang == i18n.English {
		return en, err
	}
	if !slices.Contains(i18n.Langs(), lang) {
		return nil, fmt.Errorf("no lessons in %q: imagelab speaks %v", lang, i18n.Langs())
	}
	c := &Curriculum{}
	var errs []error
	for _, l := range en.Lessons {
		tl, lerrs := translateLesson(fsys, l, lang)
		errs = append(errs, lerrs...)
		c.Lessons = append(c.Lessons, tl)
	}
	return c, errors.Join(errs...)
}

// translateLesson copies l with lang's texts in place of the English ones
// (the English where a text is missing or wrong).
func translateLesson(fsys fs.FS, en *Lesson, lang i18n.Lang) (*Lesson, []error) {
	dir := path.Join(en.Dir, string(lang))
	file := path.Join(dir, "lesson.yaml")
	l := *en
	l.Steps = make([]*Step, len(en.Steps))
	var errs []error
	bad := func(file, field, format string, args ...any) {
		errs = append(errs, &LoadError{File: file, Field: field, Reason: fmt.Sprintf(format, args...)})
	}

	var lt lessonText
	ybad := bad // a lesson.yaml that is not there is one problem, not one per text
	if data, err := fs.ReadFile(fsys, file); err != nil {
		bad(file, "", "no translation: %v", err)
		ybad = func(string, string, string, ...any) {}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&lt); err != nil {
			bad(file, "", "%s", yamlReason(err))
			lt = lessonText{}
			ybad = func(string, string, string, ...any) {}
		}
	}
	l.Title = pick(en.Title, lt.Title, file, "title", ybad)
	l.Summary = pick(en.Summary, lt.Summary, file, "summary", ybad)

	texts := map[string]bool{}
	for i, es := range en.Steps {
		s := *es
		s.Lesson = &l
		field := "steps." + es.ID
		st := lt.Steps[es.ID]
		sbad := ybad // a step not there is one problem, not one per text
		if st == nil {
			ybad(file, field, "missing")
			st, sbad = &stepText{}, func(string, string, string, ...any) {}
		}
		s.Title = pick(es.Title, st.Title, file, field+".title", sbad)

		textFile := path.Join(dir, es.Text)
		texts[es.Text] = true
		if body, err := fs.ReadFile(fsys, textFile); err != nil {
			bad(textFile, "", "no translation of %s: %v", path.Join(en.Dir, es.Text), err)
		} else {
			s.body = translated(es.body, string(body), textFile, "", bad)
		}

		s.Hints = slices.Clone(es.Hints)
		if len(st.Hints) != len(es.Hints) {
			sbad(file, field+".hints", "%d hints, the English has %d", len(st.Hints), len(es.Hints))
		}
		for j := range min(len(st.Hints), len(es.Hints)) {
			s.Hints[j] = translated(es.Hints[j], st.Hints[j], file, fmt.Sprintf("%s.hints[%d]", field, j), sbad)
		}

		s.Check.Params = maps.Clone(es.Check.Params)
		for _, k := range slices.Sorted(maps.Keys(es.Check.Params)) {
			if opt, ok := strings.CutPrefix(k, explainPrefix); ok {
				if t, ok := st.Explain[opt]; ok {
					s.Check.Params[k] = translated(es.Check.Params[k], t, file, field+".explain."+opt, bad)
				} else {
					sbad(file, field+".explain."+opt, "missing")
				}
			}
		}
		for _, opt := range slices.Sorted(maps.Keys(st.Explain)) {
			if _, ok := es.Check.Params[explainPrefix+opt]; !ok {
				bad(file, field+".explain."+opt, "the English step explains no option %q", opt)
			}
		}
		l.Steps[i] = &s
	}

	for _, id := range slices.Sorted(maps.Keys(lt.Steps)) {
		if !slices.ContainsFunc(en.Steps, func(s *Step) bool { return s.ID == id }) {
			bad(file, "steps."+id, "no step %q in %s", id, path.Join(en.Dir, "lesson.yaml"))
		}
	}
	if entries, err := fs.ReadDir(fsys, dir); err == nil {
		for _, e := range entries {
			if e.Name() != "lesson.yaml" && e.Name() != SourcesFile && !texts[e.Name()] {
				bad(path.Join(dir, e.Name()), "", "no step's text: the steps' texts are %s", strings.Join(slices.Sorted(maps.Keys(texts)), ", "))
			}
		}
	}
	return &l, errs
}

// pick is the translation of a plain text (no template), or the English
// when there is none.
func pick(en, t, file, field string, bad func(file, field, format string, args ...any)) string {
	switch {
	case strings.TrimSpace(en) == "":
		if strings.TrimSpace(t) != "" {
			bad(file, field, "the English has none")
		}
		return en
	case strings.TrimSpace(t) == "":
		bad(file, field, "missing")
		return en
	}
	return translated(en, t, file, field, bad)
}

// translated is t when it renders and uses the same template values as
// its English source en, else en.
func translated(en, t, file, field string, bad func(file, field, format string, args ...any)) string {
	if strings.TrimSpace(t) == "" {
		bad(file, field, "missing")
		return en
	}
	if _, err := render(file+" "+field, t, Placeholder()); err != nil {
		bad(file, field, "template: %v", templateReason(err))
		return en
	}
	want, err := templateRefs(en)
	if err != nil {
		return en // the English loaded, so this does not happen
	}
	got, _ := templateRefs(t)
	if !slices.Equal(got, want) {
		var missing, extra []string
		for _, r := range want {
			if !slices.Contains(got, r) {
				missing = append(missing, r)
			}
		}
		for _, r := range got {
			if !slices.Contains(want, r) {
				extra = append(extra, r)
			}
		}
		bad(file, field, "template values differ from the English: missing %s, not in the English %s", listOrNothing(missing), listOrNothing(extra))
		return en
	}
	if !slices.Equal(codeBlocks(t), codeBlocks(en)) {
		bad(file, field, "code blocks differ from the English's: a translation keeps them as they are, in the same order")
		return en
	}
	if got, want := codeSpans(t), codeSpans(en); !slices.Equal(got, want) {
		var missing, extra []string
		for _, c := range want {
			if !slices.Contains(got, c) {
				missing = append(missing, c)
			}
		}
		for _, c := range got {
			if !slices.Contains(want, c) {
				extra = append(extra, c)
			}
		}
		bad(file, field, "inline code differs from the English's: missing %s, not in the English %s", listOrNothing(missing), listOrNothing(extra))
		return en
	}
	return t
}

var (
	fencedCode = regexp.MustCompile("(?ms)^[ \t]*```[^\n]*\n.*?^[ \t]*```")
	inlineCode = regexp.MustCompile("`[^`]+`")
	spaces     = regexp.MustCompile(`\s+`)
)

// codeBlocks are a markdown text's fenced code blocks, in order: commands,
// manifests and output, which a translation keeps as they are.
func codeBlocks(md string) []string {
	blocks := fencedCode.FindAllString(md, -1)
	for i, b := range blocks {
		blocks[i] = strings.TrimSpace(b)
	}
	return blocks
}

// codeSpans are a markdown text's inline code spans outside its blocks,
// sorted and once each: a translation keeps every one, and adds none.
func codeSpans(md string) []string {
	var out []string
	for _, c := range inlineCode.FindAllString(fencedCode.ReplaceAllString(md, ""), -1) {
		out = append(out, spaces.ReplaceAllString(c, " "))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// templateRefs lists, sorted and once each, what a text's template
// actions refer to: fields ({{.N.Regcred}}), functions ({{sq …}}) and
// literals ({{"{{"}}).
func templateRefs(text string) ([]string, error) {
	tree := parse.New("t")
	tree.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := tree.Parse(text, "", "", trees); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			seen["."+strings.Join(n.Ident, ".")] = true
		case *parse.ChainNode:
			walk(n.Node)
			seen["."+strings.Join(n.Field, ".")] = true
		case *parse.VariableNode:
			seen[strings.Join(n.Ident, ".")] = true
		case *parse.IdentifierNode:
			seen[n.Ident] = true
		case *parse.StringNode:
			seen[n.Quoted] = true
		case *parse.NumberNode:
			seen[n.Text] = true
		case *parse.IfNode:
			seen["if"] = true
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			seen["range"] = true
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			seen["with"] = true
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			seen["template "+n.Name] = true
			walk(n.Pipe)
		}
	}
	for _, t := range trees {
		walk(t.Root)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

var loadIn = struct {
	sync.Mutex
	m map[i18n.Lang]func() (*Curriculum, error)
}{m: map[i18n.Lang]func() (*Curriculum, error){}}

// DefaultIn is the embedded curriculum in lang, loaded once per language;
// English is Default. A text the translation lacks or gets wrong is the
// English one (the content tests make sure there is none).
func DefaultIn(lang i18n.Lang) (*Curriculum, error) {
	if lang == i18n.English || lang == "" {
		return Default()
	}
	loadIn.Lock()
	load, ok := loadIn.m[lang]
	if !ok {
		load = sync.OnceValues(func() (*Curriculum, error) {
			c, err := LoadIn(Content(), lang)
			if c != nil {
				return c, nil
			}
			return nil, err
		})
		loadIn.m[lang] = load
	}
	loadIn.Unlock()
	return load()
}
