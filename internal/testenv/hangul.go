package testenv

import (
	"strings"
	"unicode"
)

// HasHangul says whether s has Korean letters: the tests' way of telling
// a text was said in Korean.
func HasHangul(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Hangul, r) })
}
