package lessons

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/i18n"
)

var updateSources = flag.Bool("update-sources", false, "record the English each translation was made from (after checking the translations)")

// englishSources are the hashes of a lesson's English learner texts, by
// what a translator translates: the lesson's title and summary, each
// step's title, hints and quiz explanations, each step's markdown.
func englishSources(t *testing.T, fsys fs.FS, l *Lesson) map[string]string {
	t.Helper()
	sum := func(parts ...string) string {
		h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
		return hex.EncodeToString(h[:6])
	}
	out := map[string]string{"lesson": sum(l.Title, l.Summary)}
	for _, s := range l.Steps {
		parts := append([]string{s.Title}, s.Hints...)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range s.Check.Params {
				if strings.HasPrefix(k, explainPrefix) && !yield(k) {
					return
				}
			}
		}) {
			parts = append(parts, k, s.Check.Params[k])
		}
		out["step "+s.ID] = sum(parts...)
		body, err := fs.ReadFile(fsys, path.Join(l.Dir, s.Text))
		if err != nil {
			t.Fatal(err)
		}
		out["text "+s.Text] = sum(string(body))
	}
	return out
}

// TestTranslationsAreCurrent: a translation made from an older English
// is named, with what changed. After bringing the translation up to date:
// go test ./lessons -run TestTranslationsAreCurrent -update-sources.
func TestTranslationsAreCurrent(t *testing.T) {
	fsys := os.DirFS("content")
	cur, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range i18n.Langs() {
		if lang == i18n.English {
			continue
		}
		for _, l := range cur.Lessons {
			want := englishSources(t, fsys, l)
			file := filepath.Join("content", l.Dir, string(lang), SourcesFile)
			if *updateSources {
				var b strings.Builder
				b.WriteString("# The English each text of this translation was made from (go test ./lessons -update-sources).\n")
				for _, k := range slices.Sorted(func(yield func(string) bool) {
					for k := range want {
						if !yield(k) {
							return
						}
					}
				}) {
					fmt.Fprintf(&b, "%s %s\n", want[k], k)
				}
				if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("%s: %v (after checking the translation: go test ./lessons -run TestTranslationsAreCurrent -update-sources)", file, err)
				continue
			}
			got := map[string]string{}
			for _, line := range strings.Split(string(data), "\n") {
				if hash, key, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
					got[key] = hash
				}
			}
			for key, h := range want {
				if got[key] != h {
					t.Errorf("%s: the English of %s (%s) changed since its translation (%s) was made: bring %s up to date, then go test ./lessons -run TestTranslationsAreCurrent -update-sources",
						file, key, l.Dir, string(lang), path.Join(l.Dir, string(lang)))
				}
			}
			for key := range got {
				if _, ok := want[key]; !ok {
					t.Errorf("%s: %s is no longer in the English lesson", file, key)
				}
			}
		}
	}
}
