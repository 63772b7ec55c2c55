package i18n

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

var update = flag.Bool("update", false, "rewrite locales/active.en.toml from the code")

// printerMethods are the Printer's methods that take a message; the
// position of the message among their arguments.
var printerMethods = map[string]int{"T": 0, "Errorf": 0, "Fprintf": 1, "Fprintln": 1}

// sourceMessages collects the English messages the module's code passes to a
// Printer: calls x.T/x.Errorf/x.Fprintf/x.Fprintln whose x is not the fmt
// package. A message that is not a constant is reported: it cannot be
// listed in the catalog.
func sourceMessages(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	msgs := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pos, ok := printerMethods[sel.Sel.Name]
			if !ok || len(call.Args) <= pos {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && (id.Name == "fmt" || id.Name == "errors") {
				return true
			}
			if id, ok := call.Args[pos].(*ast.Ident); ok && id.Name == "format" {
				return true // a method that passes its caller's message on
			}
			s, ok := constString(call.Args[pos])
			if !ok {
				t.Errorf("%s: the message of %s is not a constant string", fset.Position(call.Pos()), sel.Sel.Name)
				return true
			}
			msgs[s] = append(msgs[s], fset.Position(call.Pos()).String())
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// constString evaluates a string literal or a + of them.
func constString(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok1 := constString(e.X)
		b, ok2 := constString(e.Y)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return constString(e.X)
	}
	return "", false
}

func readCatalog(t *testing.T, l Lang) map[string]string {
	t.Helper()
	m := map[string]string{}
	files := []string{"locales/active.en.toml"}
	if l != English {
		files = catalogFiles(l)
	}
	for _, file := range files {
		part := map[string]string{}
		if _, err := toml.DecodeFS(locales, file, &part); err != nil {
			t.Fatalf("the %s catalog %s: %v", l, file, err)
		}
		for k, v := range part {
			if _, dup := m[k]; dup {
				t.Errorf("%s translates %q again", file, k)
			}
			m[k] = v
		}
	}
	return m
}

// TestEnglishCatalogListsTheCode keeps active.en.toml, the translators'
// source list, in step with the code.
func TestEnglishCatalogListsTheCode(t *testing.T) {
	msgs := sourceMessages(t)
	if *update {
		var b strings.Builder
		b.WriteString("# Every English message of imagelab's own texts, as the code holds it.\n")
		b.WriteString("# Generated: go test ./internal/i18n -update. Translate into active.<lang>.toml.\n")
		keys := make([]string, 0, len(msgs))
		for k := range msgs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			q := tomlQuote(k)
			b.WriteString(q + " = " + q + "\n")
		}
		if err := os.WriteFile(filepath.Join("locales", "active.en.toml"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	en := readCatalog(t, English)
	for k, where := range msgs {
		if _, ok := en[k]; !ok {
			t.Errorf("active.en.toml lacks %q (%s): go test ./internal/i18n -update", k, where[0])
		}
	}
	for k := range en {
		if _, ok := msgs[k]; !ok {
			t.Errorf("active.en.toml lists %q, which no code uses: go test ./internal/i18n -update", k)
		}
	}
}

func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestCatalogsTranslateEveryMessage: every English message has its
// translation in each language, no translation is of a message nothing
// uses, and each uses the same values as its source.
func TestCatalogsTranslateEveryMessage(t *testing.T) {
	en := readCatalog(t, English)
	for _, l := range Langs() {
		if l == English {
			continue
		}
		tr := readCatalog(t, l)
		var missing []string
		for k := range en {
			if v, ok := tr[k]; !ok || strings.TrimSpace(v) == "" {
				missing = append(missing, tomlQuote(k)+" = \"\"")
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("active.%s.toml lacks %d messages:\n%s", l, len(missing), strings.Join(missing, "\n"))
		}
		for k, v := range tr {
			if _, ok := en[k]; !ok {
				t.Errorf("active.%s.toml translates %q, which no code uses", l, k)
				continue
			}
			if a, b := verbs(k), verbs(v); !slices.Equal(a, b) {
				t.Errorf("active.%s.toml: %q uses the values %v, its source %q uses %v", l, v, b, k, a)
			}
		}
	}
}

var verbRE = regexp.MustCompile(`%(?:\[(\d+)\])?[-+# 0]*\d*(?:\.\d+)?([a-zA-Z%])`)

// verbs lists a format's verbs in argument order: "%[2]s %[1]d" and "%d %s"
// are the same values. %% is not a value.
func verbs(format string) []string {
	var out []string
	next := 1
	byArg := map[int]string{}
	for _, m := range verbRE.FindAllStringSubmatch(format, -1) {
		if m[2] == "%" {
			continue
		}
		n := next
		if m[1] != "" {
			n, _ = strconv.Atoi(m[1])
		}
		byArg[n] = m[2]
		next = n + 1
	}
	for i := 1; i <= len(byArg); i++ {
		out = append(out, byArg[i])
	}
	return out
}

func TestVerbs(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"port %d of %s", "%[2]s의 포트 %[1]d", true},
		{"%s is %q", "%s는 %s", false},
		{"100%% of %s", "%s의 100%%", true},
		{"%v: %w", "%v: %w", true},
		{"%s and %s", "%s", false},
	} {
		if got := slices.Equal(verbs(tt.a), verbs(tt.b)); got != tt.same {
			t.Errorf("verbs(%q)=%v verbs(%q)=%v, same=%v, want %v", tt.a, verbs(tt.a), tt.b, verbs(tt.b), got, tt.same)
		}
	}
}

func TestPrinter(t *testing.T) {
	var nilp *Printer
	if got := nilp.T("port %d", 5055); got != "port 5055" {
		t.Errorf("nil Printer T = %q", got)
	}
	if got := For(Korean).T("no message like this %d", 5055); got != "no message like this 5055" {
		t.Errorf("an untranslated message = %q, want the English", got)
	}
	if For(Korean).Lang() != Korean || nilp.Lang() != English {
		t.Error("Lang() wrong")
	}
	if _, err := loadBundle(); err != nil {
		t.Fatal(err)
	}
}
