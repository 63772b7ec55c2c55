package workshop

import (
	"strings"
	"testing"
)

func TestAttendees(t *testing.T) {
	got, err := Attendees("kcd", []string{"Ana María", "ana maria", "Bo", "  ", "Zoë O'Brien", strings.Repeat("x", 80)})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, ns, display string }{
		{"ana-maria", "kcd-ana-maria", "Ana María"},
		{"ana-maria-2", "kcd-ana-maria-2", "ana maria"},
		{"bo", "kcd-bo", "Bo"},
		{"attendee-4", "kcd-attendee-4", "  "},
		{"zoe-o-brien", "kcd-zoe-o-brien", "Zoë O'Brien"},
		{strings.Repeat("x", 56), "kcd-" + strings.Repeat("x", 56), strings.Repeat("x", 80)},
	}
	for i, w := range want {
		a := got[i]
		if a.Name != w.name || a.Namespace != w.ns || (a.Display != w.display && a.Display != "") {
			t.Errorf("%q: %+v, want %s %s", w.display, a, w.name, w.ns)
		}
		if len(a.Namespace) > 63 {
			t.Errorf("namespace %s is longer than a DNS label", a.Namespace)
		}
	}
	if _, err := Attendees("kcd", nil); err == nil {
		t.Error("a workshop of nobody")
	}
	if n := NumberedNames(100); n[0] != "a001" || n[99] != "a100" {
		t.Errorf("NumberedNames(100): %s … %s", n[0], n[99])
	}
	if err := ValidID("Bad_ID"); err == nil {
		t.Error("an id that is no DNS label")
	}
}
