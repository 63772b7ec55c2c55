package lessons

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestDefaultCurriculum(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Lessons) < 4 {
		t.Errorf("%d lessons, want at least 4", len(c.Lessons))
	}
	for i, l := range c.Lessons {
		if i > 0 && c.Lessons[i-1].Order >= l.Order {
			t.Errorf("lessons out of order at %s", l.ID)
		}
		for _, s := range l.Steps {
			if strings.TrimSpace(s.Body(Placeholder())) == "" {
				t.Errorf("%s has no text", s.Ref())
			}
			if len(s.Hints) == 0 {
				t.Errorf("%s has no hints", s.Ref())
			}
		}
	}
}

func TestRenderQuotesPasswords(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Find("pull-secrets/regcred")
	if err != nil {
		t.Fatal(err)
	}
	v := Values{Registry: "localhost:5055", User: "learner", Password: "it's$secret", Namespace: "imagelab"}
	run := s.RenderedSolution(v).Run
	if !strings.Contains(run, `--docker-password='it'\''s$secret'`) {
		t.Errorf("password not single-quoted for the shell:\n%s", run)
	}
	if !strings.Contains(s.Body(v), "localhost:5055") {
		t.Errorf("body does not name the registry")
	}
}

func TestFind(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"pull-secrets/regcred": "pull-secrets/regcred",
		"regcred":              "pull-secrets/regcred",
		"1.1":                  "image-names/full-name",
		"3.2":                  "pull-secrets/regcred",
	} {
		s, err := c.Find(ref)
		if err != nil {
			t.Errorf("Find(%q): %v", ref, err)
			continue
		}
		if s.Ref() != want {
			t.Errorf("Find(%q) = %s, want %s", ref, s.Ref(), want)
		}
	}
	for _, ref := range []string{"nope", "9.9", "1.99", "0.1"} {
		if _, err := c.Find(ref); err == nil {
			t.Errorf("Find(%q) found something", ref)
		}
	}
}

const goodLesson = `id: one
title: One
order: 1
steps:
  - id: q
    title: Q
    check:
      name: image.full-name
      params: {image: nginx}
    hints: [a hint]
    solution: {answer: docker.io/library/nginx:latest}
`

// TestLoadRejects: a malformed lesson is refused with its file, the field
// and the reason.
func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		files  map[string]string
		errors []string
	}{
		{"unknown field", strings.Replace(goodLesson, "order: 1", "order: 1\ncolour: blue", 1), nil,
			[]string{"one/lesson.yaml", "colour"}},
		{"not yaml", "id: [", nil, []string{"one/lesson.yaml"}},
		{"bad id", strings.Replace(goodLesson, "id: one", "id: One Two", 1), nil, []string{"one/lesson.yaml: id:"}},
		{"no steps", "id: one\ntitle: One\norder: 1\n", nil, []string{"steps: a lesson needs at least one step"}},
		{"unknown check", strings.Replace(goodLesson, "image.full-name", "image.nope", 1), nil,
			[]string{`steps[0].check.name: unknown check "image.nope"`}},
		{"missing param", strings.Replace(goodLesson, "params: {image: nginx}", "params: {}", 1), nil,
			[]string{`steps[0].check.params: missing "image"`}},
		{"unknown param", strings.Replace(goodLesson, "params: {image: nginx}", "params: {image: nginx, colour: blue}", 1), nil,
			[]string{`steps[0].check.params.colour`}},
		{"missing text", goodLesson, map[string]string{"one/q.md": ""}, []string{"steps[0].text: cannot read one/q.md"}},
		{"bad template", goodLesson, map[string]string{"one/q.md": "{{.Regsitry}}"}, []string{"steps[0].text: template:", "Regsitry"}},
		{"quiz without answer", strings.Replace(goodLesson, "solution: {answer: docker.io/library/nginx:latest}", "solution: {}", 1), nil,
			[]string{"steps[0].solution.answer"}},
		{"bad reset", strings.Replace(goodLesson, "hints: [a hint]", "hints: [a hint]\n    reset: [pods]", 1), nil,
			[]string{"steps[0].reset[0]"}},
		{"duplicate step", strings.Replace(goodLesson, "steps:\n", "steps:\n  - id: q\n    title: Q\n    check: {name: image.full-name, params: {image: nginx}}\n    solution: {answer: x}\n", 1), nil,
			[]string{`steps[1].id: "q" is used twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"one/lesson.yaml": {Data: []byte(tt.yaml)}, "one/q.md": {Data: []byte("text")}}
			for name, body := range tt.files {
				if body == "" {
					delete(fsys, name)
				} else {
					fsys[name] = &fstest.MapFile{Data: []byte(body)}
				}
			}
			_, err := Load(fsys)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range tt.errors {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestLoadGood(t *testing.T) {
	fsys := fstest.MapFS{"one/lesson.yaml": {Data: []byte(goodLesson)}, "one/q.md": {Data: []byte("# Q")}}
	c, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Steps()) != 1 || c.Steps()[0].Ref() != "one/q" {
		t.Errorf("got %+v", c.Steps())
	}
}

func TestLoadDuplicateLessons(t *testing.T) {
	fsys := fstest.MapFS{
		"one/lesson.yaml": {Data: []byte(goodLesson)}, "one/q.md": {Data: []byte("# Q")},
		"two/lesson.yaml": {Data: []byte(goodLesson)}, "two/q.md": {Data: []byte("# Q")},
	}
	_, err := Load(fsys)
	if err == nil || !strings.Contains(err.Error(), `two/lesson.yaml: id: "one" is also the id of one/lesson.yaml`) || !strings.Contains(err.Error(), "order: 1 is also") {
		t.Errorf("err = %v", err)
	}
}
