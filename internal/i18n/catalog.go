package i18n

// The catalogs: imagelab's own texts are written in English in the code, as
// fmt formats, and that English text is the message's ID (the gettext
// convention): code reads as it prints, and a translator sees the source
// beside the translation. locales/active.en.toml lists every English message
// the code holds (a test keeps it in step with the code: go test
// ./internal/i18n -update rewrites it); locales/active.<lang>.toml maps each
// to its translation, in TOML a translator edits without Go:
//
//	"Secret %s has no registry entries." = "Secret %s에는 레지스트리 항목이 없습니다."
//
// A translation keeps its source's verbs (%s, %d, %q, %v, %w); it may reorder
// them with explicit indexes ("%[2]s ... %[1]s"), as fmt allows.
//
// The catalogs are loaded with github.com/nicksnyder/go-i18n (language
// matching, TOML message files, embedded) and formatted with fmt, not with
// golang.org/x/text/message: its printer groups digits ("port 5,055"), which
// would change the ports, counts and exit codes the texts quote.
//
// To add a message: write it through a Printer (p.T, p.Errorf, p.Fprintf)
// with a constant format, run go test ./internal/i18n -update to list it in
// active.en.toml, and add its translation to a locales/*.ko.toml file; the catalog
// test fails until every language has it, and on translations nothing uses.

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/nicksnyder/go-i18n/v2/i18n/template"
	"golang.org/x/text/language"
)

//go:embed locales/*.toml
var locales embed.FS

var (
	bundleOnce sync.Once
	bundle     *goi18n.Bundle
	bundleErr  error
	printers   sync.Map // Lang → *Printer
)

func loadBundle() (*goi18n.Bundle, error) {
	bundleOnce.Do(func() {
		b := goi18n.NewBundle(language.English)
		b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
		for _, l := range Langs() {
			if l == English {
				continue // the English is the ID itself
			}
			for _, file := range catalogFiles(l) {
				if _, err := b.LoadMessageFileFS(locales, file); err != nil {
					bundleErr = fmt.Errorf("the %s message catalog %s: %w", l.Name(), file, err)
					return
				}
			}
		}
		bundle = b
	})
	return bundle, bundleErr
}

// catalogFiles are a language's translation files: locales/*.<lang>.toml
// (active.ko.toml, checks.ko.toml…), so translators can work on parts of
// the product at once. A message is translated in one of them only.
func catalogFiles(l Lang) []string {
	files, _ := fs.Glob(locales, "locales/*."+string(l)+".toml")
	return files
}

// Printer writes imagelab's own texts in one language. The nil Printer
// writes English, so code that was given none still speaks.
type Printer struct {
	lang Lang
	loc  *goi18n.Localizer
}

// For returns the Printer of l (English for the zero Lang). A language whose catalog cannot be read (a
// broken build) falls back to English rather than leave the learner without
// words; the catalog test keeps that from shipping.
func For(l Lang) *Printer {
	if !slices.Contains(Langs(), l) {
		l = English // the zero Lang, or one imagelab does not speak
	}
	if p, ok := printers.Load(l); ok {
		return p.(*Printer)
	}
	p := &Printer{lang: l}
	if b, err := loadBundle(); err == nil && l != English {
		p.loc = goi18n.NewLocalizer(b, string(l))
	}
	actual, _ := printers.LoadOrStore(l, p)
	return actual.(*Printer)
}

// Lang is the Printer's language.
func (p *Printer) Lang() Lang {
	if p == nil {
		return English
	}
	return p.lang
}

// format is the translation of the English format, or the format itself
// when the language has none.
func (p *Printer) format(english string) string {
	if p == nil || p.loc == nil {
		return english
	}
	s, err := p.loc.Localize(&goi18n.LocalizeConfig{
		MessageID:      english,
		TemplateParser: template.IdentityParser{},
	})
	if err != nil || s == "" {
		return english
	}
	return s
}

// T translates an English text and, given args, formats it as fmt.Sprintf
// does. format must be a constant: it is the message's ID.
func (p *Printer) T(format string, args ...any) string {
	f := p.format(format)
	if len(args) == 0 {
		return f
	}
	return fmt.Sprintf(f, args...)
}

// Errorf is fmt.Errorf of the translated format; %w wraps as there.
func (p *Printer) Errorf(format string, args ...any) error {
	return fmt.Errorf(p.format(format), args...)
}

// Fprintf is fmt.Fprintf of the translated format.
func (p *Printer) Fprintf(w io.Writer, format string, args ...any) (int, error) {
	return fmt.Fprintf(w, p.format(format), args...)
}

// Fprintln prints the translated text and a newline.
func (p *Printer) Fprintln(w io.Writer, text string) (int, error) {
	return fmt.Fprintln(w, p.format(text))
}
