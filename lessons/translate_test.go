package lessons

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
)

// TestKoreanCatalog: every English text of the curriculum — lesson titles
// and summaries, step titles, texts, hints, quiz explanations — has its
// Korean counterpart, with the same template values and the same code
// (fenced blocks in order, inline code); and no Korean text is for a step
// or file that does not exist. An English text whose commands change
// fails here until its Korean follows.
func TestKoreanCatalog(t *testing.T) {
	c, err := LoadIn(Content(), i18n.Korean)
	for _, e := range splitErrors(err) {
		t.Error(e)
	}
	if c == nil {
		t.Fatal("no Korean curriculum")
	}
}

func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestDefaultInKorean: the Korean curriculum has the English one's steps,
// in the same order and with the same checks, solutions and setups; only
// the texts are Korean, and each renders.
func TestDefaultInKorean(t *testing.T) {
	en, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ko, err := DefaultIn(i18n.Korean)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := DefaultIn(i18n.Korean); again != ko {
		t.Error("DefaultIn(Korean) loaded the curriculum again")
	}
	if same, _ := DefaultIn(i18n.English); same != en {
		t.Error("DefaultIn(English) is not Default")
	}
	refs := func(c *Curriculum) []string {
		var out []string
		for _, s := range c.Steps() {
			out = append(out, s.Position()+" "+s.Ref())
		}
		return out
	}
	if !slices.Equal(refs(ko), refs(en)) {
		t.Fatalf("Korean steps\n%v\nEnglish steps\n%v", refs(ko), refs(en))
	}
	enSteps, koSteps := en.Steps(), ko.Steps()
	for i, k := range koSteps {
		e := enSteps[i]
		if k.Lesson.ID != e.Lesson.ID || k.Lesson.Order != e.Lesson.Order || k.Check.Name != e.Check.Name ||
			k.Setup != e.Setup || k.Given != e.Given || !slices.Equal(k.Reset, e.Reset) || !slices.Equal(k.After, e.After) ||
			k.Weight != e.Weight || k.Solution.Answer != e.Solution.Answer || k.Solution.Run != e.Solution.Run || k.Solution.Node != e.Solution.Node {
			t.Errorf("%s: the Korean step is not the English one in all but its texts", k.Ref())
		}
		for p, v := range e.Check.Params {
			if !strings.HasPrefix(p, explainPrefix) && k.Check.Params[p] != v {
				t.Errorf("%s: param %s is %q, the English %q", k.Ref(), p, k.Check.Params[p], v)
			}
		}
		if len(k.Hints) != len(e.Hints) {
			t.Errorf("%s: %d hints, the English %d", k.Ref(), len(k.Hints), len(e.Hints))
		}
		if found, err := ko.Find(k.Ref()); err != nil || found != k {
			t.Errorf("Find(%s) in Korean: %v, %v", k.Ref(), found, err)
		}
		if !testenv.HasHangul(k.Title) && k.Title == e.Title && !testenv.HasHangul(k.Lesson.Title) {
			t.Errorf("%s: title %q is not Korean", k.Ref(), k.Title)
		}
		body, err := render(k.Ref(), k.body, Placeholder())
		if err != nil || !testenv.HasHangul(body) {
			t.Errorf("%s: Korean text does not render (%v) or is not Korean", k.Ref(), err)
		}
		for j := range k.Hints {
			if _, err := render(k.Ref(), k.Hints[j], Placeholder()); err != nil {
				t.Errorf("%s: hint %d: %v", k.Ref(), j, err)
			}
		}
	}
	// The English curriculum is not touched by the Korean one.
	for _, s := range enSteps {
		if testenv.HasHangul(s.Title) || testenv.HasHangul(s.body) || testenv.HasHangul(s.Lesson.Title) {
			t.Errorf("%s: the English step has Korean text", s.Ref())
		}
	}
}

const koGoodLesson = `title: 하나
steps:
  q:
    title: 질문
    hints: [힌트]
`

const quizLesson = `id: one
title: One
order: 1
steps:
  - id: q
    title: Q
    check:
      name: quiz.choice
      params: {options: "a,b", correct: b, explain-a: "a is open", explain-b: "b is closed"}
    hints: ["log in to {{.Registry}} as {{.User}}"]
    solution: {answer: b}
`

// TestLoadInRejects: each way a translation can go wrong is reported with
// its file and field, and the curriculum keeps the English there.
func TestLoadInRejects(t *testing.T) {
	const koQuiz = "title: 하나\nsteps:\n  q:\n    title: 질문\n    hints: [\"{{.Registry}}에 {{.User}}로 로그인하세요\"]\n    explain: {a: 열림, b: 닫힘}\n"
	tests := []struct {
		name   string
		en     string
		files  map[string]string // "" deletes
		errors []string
	}{
		{"no ko folder", goodLesson, map[string]string{"one/ko/lesson.yaml": "", "one/ko/q.md": ""},
			[]string{"one/ko/lesson.yaml: no translation", "one/ko/q.md: no translation of one/q.md"}},
		{"missing text", goodLesson, map[string]string{"one/ko/q.md": ""}, []string{"one/ko/q.md: no translation of one/q.md"}},
		{"missing step", goodLesson, map[string]string{"one/ko/lesson.yaml": "title: 하나\nsteps: {}\n"}, []string{"one/ko/lesson.yaml: steps.q: missing"}},
		{"missing title", goodLesson, map[string]string{"one/ko/lesson.yaml": "steps:\n  q: {title: 질문, hints: [힌트]}\n"}, []string{"one/ko/lesson.yaml: title: missing"}},
		{"hint missing", goodLesson, map[string]string{"one/ko/lesson.yaml": "title: 하나\nsteps:\n  q: {title: 질문}\n"}, []string{"steps.q.hints: 0 hints, the English has 1"}},
		{"orphan step", goodLesson, map[string]string{"one/ko/lesson.yaml": koGoodLesson + "  gone:\n    title: 없음\n"}, []string{`steps.gone: no step "gone"`}},
		{"orphan file", goodLesson, map[string]string{"one/ko/gone.md": "# 없음"}, []string{"one/ko/gone.md: no step's text"}},
		{"unknown field", goodLesson, map[string]string{"one/ko/lesson.yaml": koGoodLesson + "    colour: blue\n"}, []string{"one/ko/lesson.yaml", "colour"}},
		{"other template value", goodLesson, map[string]string{"one/ko/q.md": "# {{.Registry}}"},
			[]string{"one/ko/q.md: template values differ from the English: missing nothing, not in the English .Registry"}},
		{"template value left out", quizLesson, map[string]string{"one/ko/lesson.yaml": strings.Replace(koQuiz, "{{.User}}로 ", "", 1)},
			[]string{"steps.q.hints[0]: template values differ from the English: missing .User"}},
		{"function not the English's", quizLesson, map[string]string{"one/ko/lesson.yaml": strings.Replace(koQuiz, "{{.User}}", "{{sq .User}}", 1)},
			[]string{"steps.q.hints[0]: template values differ", "not in the English sq"}},
		{"command translated", goodLesson, map[string]string{"one/q.md": "# Q\n\n```sh\ndocker login\n```\n", "one/ko/q.md": "# 질문\n\n```sh\ndocker 로그인\n```\n"},
			[]string{"one/ko/q.md: code blocks differ from the English's"}},
		{"inline code left out", goodLesson, map[string]string{"one/q.md": "Run `docker login` and `docker push`.", "one/ko/q.md": "`docker login`을 실행하세요."},
			[]string{"one/ko/q.md: inline code differs from the English's: missing `docker push`, not in the English nothing"}},
		{"bad template", goodLesson, map[string]string{"one/ko/q.md": "{{.Regsitry}}"}, []string{"one/ko/q.md: template:", "Regsitry"}},
		{"explanation missing", quizLesson, map[string]string{"one/ko/lesson.yaml": strings.Replace(koQuiz, "{a: 열림, b: 닫힘}", "{a: 열림}", 1)},
			[]string{"steps.q.explain.b: missing"}},
		{"explanation of no option", quizLesson, map[string]string{"one/ko/lesson.yaml": strings.Replace(koQuiz, "b: 닫힘", "b: 닫힘, c: 없음", 1)},
			[]string{`steps.q.explain.c: the English step explains no option "c"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"one/lesson.yaml": {Data: []byte(tt.en)}, "one/q.md": {Data: []byte("text")},
				"one/ko/lesson.yaml": {Data: []byte(koGoodLesson)}, "one/ko/q.md": {Data: []byte("본문")},
			}
			if tt.en == quizLesson {
				fsys["one/ko/lesson.yaml"] = &fstest.MapFile{Data: []byte(koQuiz)}
			}
			for name, body := range tt.files {
				if body == "" {
					delete(fsys, name)
				} else {
					fsys[name] = &fstest.MapFile{Data: []byte(body)}
				}
			}
			c, err := LoadIn(fsys, i18n.Korean)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range tt.errors {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if c == nil || len(c.Steps()) != 1 {
				t.Fatalf("no curriculum to fall back on: %v", c)
			}
			if s := c.Steps()[0]; strings.TrimSpace(s.Body(Placeholder())) == "" || s.Title == "" || len(s.Hints) != 1 {
				t.Errorf("the fallback step lacks texts: %+v", s)
			}
		})
	}
}

func TestLoadInGood(t *testing.T) {
	const koQuiz = "title: 하나\nsteps:\n  q:\n    title: 질문\n    hints: [\"{{.User}}로 {{.Registry}}에 로그인하세요\"]\n    explain: {a: 열림, b: 닫힘}\n"
	fsys := fstest.MapFS{
		"one/lesson.yaml": {Data: []byte(quizLesson)}, "one/q.md": {Data: []byte("# Q {{.Registry}}")},
		"one/ko/lesson.yaml": {Data: []byte(koQuiz)}, "one/ko/q.md": {Data: []byte("# 질문 {{.Registry}} {{.Registry}}")},
	}
	c, err := LoadIn(fsys, i18n.Korean)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Steps()[0]
	v := Placeholder()
	if s.Lesson.Title != "하나" || s.Title != "질문" || s.Hint(0, v) != "<user>로 localhost:<port>에 로그인하세요" ||
		s.Body(v) != "# 질문 localhost:<port> localhost:<port>" || s.Params(v)["explain-a"] != "열림" || s.Params(v)["correct"] != "b" {
		t.Errorf("got lesson %q step %q hint %q body %q params %v", s.Lesson.Title, s.Title, s.Hint(0, v), s.Body(v), s.Params(v))
	}
	en, err := LoadIn(fsys, i18n.English)
	if err != nil || en.Steps()[0].Title != "Q" || en.Steps()[0].Params(v)["explain-a"] != "a is open" {
		t.Errorf("English: %v, %+v", err, en)
	}
	if _, err := LoadIn(fsys, i18n.Lang("fr")); err == nil {
		t.Error("a language imagelab does not speak loaded")
	}
}
