package app

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

type listedLessons struct {
	Lessons []struct {
		ID    string
		Title string
		Steps []struct {
			Ref      string
			Position string
			Title    string
			Check    string
			Kind     string
		}
	}
}

func lessonsJSON(t *testing.T, lang string) listedLessons {
	t.Helper()
	out, err := run(t, "lessons", "--json", "--lang", lang, "--state-dir", t.TempDir())
	if err != nil {
		t.Fatalf("lessons --json --lang %s: %v\n%s", lang, err, out)
	}
	var l listedLessons
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return l
}

// TestLessonsJSONInKorean: imagelab lessons --lang ko --json lists exactly
// the English steps (refs, positions, checks, kinds) with the Korean
// curriculum's titles; the keys are the same.
func TestLessonsJSONInKorean(t *testing.T) {
	en, ko := lessonsJSON(t, "en"), lessonsJSON(t, "ko")
	cur, err := curriculumIn(i18n.Korean)
	if err != nil {
		t.Fatal(err)
	}
	if len(en.Lessons) != len(ko.Lessons) || len(en.Lessons) == 0 {
		t.Fatalf("%d lessons in English, %d in Korean", len(en.Lessons), len(ko.Lessons))
	}
	steps, translated := 0, 0
	for i, le := range en.Lessons {
		lk := ko.Lessons[i]
		if le.ID != lk.ID || len(le.Steps) != len(lk.Steps) {
			t.Fatalf("lesson %d: %s with %d steps in English, %s with %d in Korean", i+1, le.ID, len(le.Steps), lk.ID, len(lk.Steps))
		}
		if !testenv.HasHangul(lk.Title) {
			t.Errorf("lesson %s's Korean title %q has no Hangul", lk.ID, lk.Title)
		}
		for j, se := range le.Steps {
			sk := lk.Steps[j]
			if se.Ref != sk.Ref || se.Position != sk.Position || se.Check != sk.Check || se.Kind != sk.Kind {
				t.Errorf("step %d of %s: English %+v, Korean %+v", j+1, le.ID, se, sk)
			}
			s, err := cur.Find(sk.Ref)
			if err != nil {
				t.Fatal(err)
			}
			if sk.Title != s.Title {
				t.Errorf("%s: title %q, the Korean curriculum says %q", sk.Ref, sk.Title, s.Title)
			}
			steps++
			if sk.Title != se.Title {
				translated++
			}
		}
	}
	// A few titles are names alone (imagePullSecrets, docker login).
	if translated < steps*3/4 {
		t.Errorf("only %d of %d step titles differ from the English", translated, steps)
	}
}

// TestCommandsSpeakKorean: the human output of the commands that need no
// sandbox is Korean with --lang ko, and their --json is the same in
// either language.
func TestCommandsSpeakKorean(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "샌드박스가 없습니다. imagelab up으로 만들 수 있습니다."},
		{[]string{"exam", "history"}, "아직 본 시험이 없습니다"},
		{[]string{"lessons"}, "단계 완료"},
	} {
		out, err := run(t, append(tc.args, "--lang", "ko", "--state-dir", state)...)
		if err != nil {
			t.Errorf("%v: %v\n%s", tc.args, err, out)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v --lang ko says:\n%s\nwant %q", tc.args, out, tc.want)
		}
	}
	out, err := run(t, "reset", "--lang", "ko", "--state-dir", state)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "단계 하나를 지정하거나 --all") {
		t.Errorf("reset with no step in Korean: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"status", "--json"}, {"exam", "history", "--json"}} {
		en, err1 := run(t, append(args, "--lang", "en", "--state-dir", state)...)
		ko, err2 := run(t, append(args, "--lang", "ko", "--state-dir", state)...)
		if err1 != nil || err2 != nil || en != ko {
			t.Errorf("%v: English %q (%v), Korean %q (%v)", args, en, err1, ko, err2)
		}
	}
}

// TestToolPurposesInKorean: imagelab tools says what each tool is for in
// Korean; in English, check.Tools' own words.
func TestToolPurposesInKorean(t *testing.T) {
	ko := i18n.For(i18n.Korean)
	for _, tool := range check.Tools {
		if got := toolPurpose(nil, tool.Name, tool.Purpose); got != tool.Purpose {
			t.Errorf("%s in English: %q", tool.Name, got)
		}
		if got := toolPurpose(ko, tool.Name, tool.Purpose); !testenv.HasHangul(got) {
			t.Errorf("%s in Korean: %q", tool.Name, got)
		}
	}
}

// TestNoSandboxInKorean: the error of a command that needs a sandbox
// there is not is said in Korean; its exit code stays.
func TestNoSandboxInKorean(t *testing.T) {
	state := t.TempDir()
	out, err := run(t, "env", "--lang", "ko", "--state-dir", state)
	if err == nil || !strings.Contains(err.Error(), "아직 샌드박스가 없습니다") || !errors.Is(err, sandbox.ErrNoSandbox) {
		t.Errorf("env with no sandbox in Korean: %v\n%s", err, out)
	}
	out, err = run(t, "check", "pull-secrets/regcred", "--lang", "ko", "--state-dir", state)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(out, "샌드박스가 필요합니다: 아직 샌드박스가 없습니다") {
		t.Errorf("check with no sandbox in Korean: %v\n%s", err, out)
	}
}
