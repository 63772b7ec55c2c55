package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/workshop"
)

// sampleRoom is a room of 20 in mixed states, as the board shows one
// forty minutes into a workshop.
func sampleRoom() workshop.Status {
	at := time.Date(2026, 11, 28, 14, 40, 0, 0, time.UTC)
	type seat struct {
		name, display, step, pos, title, state string
		done                                   int
		on                                     time.Duration
		verdict                                string
		problems                               []string
		problem                                string
	}
	wrongPassword := "The registry refuses the password in secret regcred (user \"w4k2q-ana\")."
	underContainer := "Pod internal-app has imagePullSecrets inside a container, where Kubernetes ignores it."
	seats := []seat{
		{"ana", "Ana María", "pull-secrets/regcred", "3.2", "The regcred secret", workshop.StateStuck, 6, 23 * time.Minute, workshop.StatusNotPassed, []string{"secret-wrong-password"}, wrongPassword},
		{"bo", "", "pull-secrets/image-pull-secrets", "3.3", "imagePullSecrets", workshop.StateStuck, 7, 17 * time.Minute, workshop.StatusNotPassed, []string{"pod-secret-under-container", "pod-no-pull-secret"}, underContainer},
		{"chen", "", "pull-secrets/regcred", "3.2", "The regcred secret", workshop.StateStuck, 6, 12 * time.Minute, workshop.StatusNotPassed, []string{"secret-server-port"}, "Secret regcred is for localhost:5000, but the image is on registry.example:5000."},
		{"dana", "", "private-registry/push", "2.2", "Tag and push", workshop.StateStuck, 5, 11 * time.Minute, workshop.StatusReported, nil, ""},
		{"eli", "", "pull-secrets/regcred", "3.2", "The regcred secret", workshop.StateWorking, 6, 4 * time.Minute, workshop.StatusNotPassed, []string{"secret-wrong-password"}, wrongPassword},
		{"farah", "", "pull-secrets/image-pull-secrets", "3.3", "imagePullSecrets", workshop.StateWorking, 7, 3 * time.Minute, workshop.StatusNotPassed, []string{"pod-secret-under-container"}, underContainer},
		{"gus", "", "service-accounts/serviceaccount", "4.1", "A ServiceAccount with a pull secret", workshop.StateWorking, 9, 2 * time.Minute, workshop.StatusNotPassed, []string{"serviceaccount-missing"}, "No service account puller in namespace w4k2q-gus yet."},
		{"hana", "", "pull-secrets/regcred", "3.2", "The regcred secret", workshop.StateWorking, 6, 90 * time.Second, workshop.StatusNotPassed, []string{"secret-missing"}, "No secret regcred in namespace w4k2q-hana yet."},
		{"ivo", "", "private-registry/login", "2.1", "docker login", workshop.StateWorking, 5, 5 * time.Minute, workshop.StatusReported, nil, ""},
		{"jun", "", "pull-secrets/without-credentials", "3.1", "A pod without credentials", workshop.StateWorking, 7, 1 * time.Minute, workshop.StatusNotPassed, []string{"pod-missing"}, "No pod anonymous in namespace w4k2q-jun yet."},
		{"kai", "", "supply-chain/digest", "5.1", "Pin an image by digest", workshop.StateWorking, 11, 6 * time.Minute, workshop.StatusNotPassed, []string{"pod-image-not-pinned"}, "Pod pinned names registry.example:5000/w4k2q-kai/apps/internal-app:1.0 by tag."},
		{"lea", "", "image-names/registry-port", "1.6", "A registry with a port", workshop.StateWorking, 4, 2 * time.Minute, workshop.StatusReported, nil, ""},
		{"max", "", "pull-secrets/image-pull-secrets", "3.3", "imagePullSecrets", workshop.StateWorking, 7, 8 * time.Minute, workshop.StatusNotPassed, []string{"pod-secret-under-container"}, underContainer},
		{"nia", "", "service-accounts/pod-with-serviceaccount", "4.2", "A pod that inherits the secret", workshop.StateDone, 10, 1 * time.Minute, workshop.StatusPassed, nil, ""},
		{"omar", "", "supply-chain/image-policy-webhook", "5.4", "ImagePolicyWebhook when the webhook is down", workshop.StateDone, 12, 30 * time.Second, workshop.StatusReported, nil, ""},
		{"pia", "", "troubleshoot/broken-app", "7.1", "Troubleshoot a pull", workshop.StateDone, 14, 2 * time.Minute, workshop.StatusPassed, nil, ""},
		{"quinn", "", "pull-secrets/regcred", "3.2", "The regcred secret", workshop.StateDone, 7, 20 * time.Second, workshop.StatusPassed, nil, ""},
		{"rae", "", "image-names/full-name", "1.1", "What \"nginx\" really means", workshop.StateNew, 0, 0, workshop.StatusReported, nil, ""},
		{"sol", "", "image-names/full-name", "1.1", "What \"nginx\" really means", workshop.StateNew, 0, 0, workshop.StatusReported, nil, ""},
		{"tom", "", "image-names/full-name", "1.1", "What \"nginx\" really means", workshop.StateNew, 0, 0, workshop.StatusReported, nil, ""},
	}
	st := workshop.Status{Workshop: "w4k2q", At: at, Steps: 21,
		Refresh: workshop.RefreshStats{Judgements: 412, Count: 380, P50: 140 * time.Millisecond, P95: 310 * time.Millisecond, Max: 900 * time.Millisecond}}
	counts := map[string]*workshop.FindingCount{}
	var order []string
	for _, s := range seats {
		a := workshop.AttendeeStatus{Name: s.name, Display: s.display, Namespace: "w4k2q-" + s.name, Current: s.step, CurrentPosition: s.pos,
			CurrentTitle: s.title, State: s.state, Done: s.done, Verdict: s.verdict, Problems: s.problems, Problem: s.problem}
		if s.on > 0 {
			a.Since = at.Add(-s.on)
		}
		if s.state == workshop.StateStuck {
			a.StuckFor = s.on
		}
		st.Attendees = append(st.Attendees, a)
		if s.state == workshop.StateDone {
			continue
		}
		for _, code := range s.problems {
			if counts[code] == nil {
				counts[code] = &workshop.FindingCount{Code: code, Step: s.step, Example: s.problem}
				order = append(order, code)
			}
			counts[code].Count++
			counts[code].Attendees = append(counts[code].Attendees, s.name)
		}
	}
	for _, code := range order {
		st.Findings = append(st.Findings, *counts[code])
	}
	// As Status sorts them: the most frequent first.
	for i := range st.Findings {
		for j := i + 1; j < len(st.Findings); j++ {
			if st.Findings[j].Count > st.Findings[i].Count || st.Findings[j].Count == st.Findings[i].Count && st.Findings[j].Code < st.Findings[i].Code {
				st.Findings[i], st.Findings[j] = st.Findings[j], st.Findings[i]
			}
		}
	}
	return st
}

// TestBoardLayout: the board of a room of 20 fits 80×24 and 120×36 (the
// watch screen's last line is its key help), who needs help first.
func TestBoardLayout(t *testing.T) {
	local := time.Local
	time.Local = time.UTC
	defer func() { time.Local = local }()
	for _, size := range []struct{ w, h int }{{80, 24}, {120, 36}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			out := renderBoard(nil, sampleRoom(), size.w, size.h-1, boardStyles(false))
			lines := strings.Split(out, "\n")
			if len(lines) > size.h-1 {
				t.Errorf("%d lines, want at most %d", len(lines), size.h-1)
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > size.w {
					t.Errorf("line %d is %d wide: %q", i+1, w, l)
				}
			}
			if !strings.Contains(lines[6], "stuck 23m") {
				t.Errorf("the longest stuck is not first:\n%s", out)
			}
			golden.RequireEqual(t, []byte(out))
		})
	}
}

// TestBoardLayoutKorean: the same room's board in Korean, whose Hangul
// takes two columns each, fits 80×24 and 120×36 with no line wider than
// the terminal; the steps' titles are the Korean curriculum's.
func TestBoardLayoutKorean(t *testing.T) {
	local := time.Local
	time.Local = time.UTC
	defer func() { time.Local = local }()
	cur, err := lessons.DefaultIn(i18n.Korean)
	if err != nil {
		t.Fatal(err)
	}
	// The board judges with the learner's curriculum and findings: a
	// Korean room's titles and (as the checks say them) problems.
	st := sampleRoom()
	problems := map[string]string{
		"The registry refuses the password in secret regcred (user \"w4k2q-ana\").": "registry가 Secret regcred의 비밀번호를 거부합니다(사용자 \"w4k2q-ana\").",
		"No secret regcred in namespace w4k2q-hana yet.":                            "namespace w4k2q-hana에 아직 Secret regcred이(가) 없습니다.",
	}
	for i, a := range st.Attendees {
		s, err := cur.Find(a.Current)
		if err != nil {
			t.Fatal(err)
		}
		st.Attendees[i].CurrentTitle = s.Title
		if ko, ok := problems[a.Problem]; ok {
			st.Attendees[i].Problem = ko
		}
	}
	for i, f := range st.Findings {
		if ko, ok := problems[f.Example]; ok {
			st.Findings[i].Example = ko
		}
	}
	p := i18n.For(i18n.Korean)
	for _, size := range []struct{ w, h int }{{80, 24}, {120, 36}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			out := renderBoard(p, st, size.w, size.h-1, boardStyles(false))
			lines := strings.Split(out, "\n")
			if len(lines) > size.h-1 {
				t.Errorf("%d lines, want at most %d", len(lines), size.h-1)
			}
			for i, l := range lines {
				if w := lipgloss.Width(l); w > size.w {
					t.Errorf("line %d is %d wide: %q", i+1, w, l)
				}
			}
			for _, want := range []string{"참가자 20명", "막힘 4", "참가자", "지금 가장 많은 결과"} {
				if !strings.Contains(out, want) {
					t.Errorf("the board lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(lines[6], "막힘 23m") {
				t.Errorf("the longest stuck is not first:\n%s", out)
			}
			if size.w >= 110 && !strings.Contains(out, "3.2 regcred Secret") {
				t.Errorf("no Korean step title at %d columns:\n%s", size.w, out)
			}
			golden.RequireEqual(t, []byte(out))
		})
	}
	// The watch screen's key line, in Korean, is cut to the terminal.
	m := boardModel{p: p, status: st, width: 80, height: 24, styles: boardStyles(false)}
	for i, l := range strings.Split(m.View().Content, "\n") {
		if w := lipgloss.Width(l); w > 80 {
			t.Errorf("watch screen line %d is %d wide: %q", i+1, w, l)
		}
	}
}
