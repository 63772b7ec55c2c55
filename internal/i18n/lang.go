// Package i18n chooses imagelab's language and holds the message catalogs of
// its own texts: the app's screens, the CLI's human output and the findings
// of the checks. Lesson texts live beside the English in the lesson folders
// (package lessons); finding codes and JSON keys never translate.
package i18n

import (
	"fmt"
	"strings"
)

// Lang is a language imagelab speaks, named by its ISO 639-1 code.
type Lang string

// The languages imagelab speaks.
const (
	English Lang = "en"
	Korean  Lang = "ko"
)

// EnvVar names the variable that chooses the language when no --lang flag does.
const EnvVar = "IMAGELAB_LANG"

// Langs lists the languages imagelab speaks, English first.
func Langs() []Lang { return []Lang{English, Korean} }

// String returns the language code.
func (l Lang) String() string { return string(l) }

// Name is the language's name in itself, for menus and the status line.
func (l Lang) Name() string {
	switch l {
	case Korean:
		return "한국어"
	default:
		return "English"
	}
}

// Next is the language after l in Langs, wrapping around: the app's
// language key steps through them.
func (l Lang) Next() Lang {
	langs := Langs()
	for i, x := range langs {
		if x == l {
			return langs[(i+1)%len(langs)]
		}
	}
	return English
}

// Parse reads a language code ("ko", "KO", "en"); anything else is an error
// naming the choices.
func Parse(s string) (Lang, error) {
	code := strings.ToLower(strings.TrimSpace(s))
	for _, l := range Langs() {
		if string(l) == code {
			return l, nil
		}
	}
	return "", fmt.Errorf("unknown language %q: choose one of %s", s, choices())
}

func choices() string {
	var s []string
	for _, l := range Langs() {
		s = append(s, string(l))
	}
	return strings.Join(s, ", ")
}

// Resolve picks the language: the --lang flag if set, else IMAGELAB_LANG,
// else the locale (LC_ALL, LC_MESSAGES, LANG), else English. An unknown flag
// or IMAGELAB_LANG value is an error naming the choices; a locale imagelab
// does not speak ("C", "POSIX", "fr_FR.UTF-8") passes on to the next variable.
func Resolve(flag string, getenv func(string) string) (Lang, error) {
	if l, ok, err := Explicit(flag, getenv); ok || err != nil {
		return l, err
	}
	return FromLocale(getenv), nil
}

// Explicit is the language the learner asked for by name on this run: the
// --lang flag, else IMAGELAB_LANG. ok is false when neither is set, so that a
// language remembered in progress can come before the locale.
func Explicit(flag string, getenv func(string) string) (l Lang, ok bool, err error) {
	if strings.TrimSpace(flag) != "" {
		l, err := Parse(flag)
		if err != nil {
			return "", false, fmt.Errorf("--lang: %w", err)
		}
		return l, true, nil
	}
	if v := strings.TrimSpace(getenv(EnvVar)); v != "" {
		l, err := Parse(v)
		if err != nil {
			return "", false, fmt.Errorf("%s: %w", EnvVar, err)
		}
		return l, true, nil
	}
	return "", false, nil
}

// FromLocale reads the language of the POSIX locale variables, in their order
// of precedence; a variable unset or naming a language imagelab does not speak
// passes on to the next. English when none helps.
func FromLocale(getenv func(string) string) Lang {
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if l, ok := localeLang(getenv(name)); ok {
			return l
		}
	}
	return English
}

// localeLang reads the language of a locale name: language[_territory][.codeset][@modifier].
func localeLang(v string) (Lang, bool) {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, "_.@-"); i >= 0 {
		v = v[:i]
	}
	v = strings.ToLower(v)
	for _, l := range Langs() {
		if string(l) == v {
			return l, true
		}
	}
	return "", false
}
