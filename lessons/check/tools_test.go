package check

import (
	"errors"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for out, want := range map[string]string{
		"Version: 0.74.0\nVulnerability DB:\n  Version: 2\n":                           "0.74.0",
		"  ______   ______\n / ____/\nGitVersion:    v2.6.5\nGitCommit:     unknown\n": "v2.6.5",
		"version v2.14.2\ngit commit unknown\n":                                        "v2.14.2",
		"0.7.6\n":                                                                      "0.7.6",
		"no version here":                                                              "",
	} {
		if got := parseVersion(out); got != want {
			t.Errorf("parseVersion(%q) = %q, want %q", out, got, want)
		}
	}
}

// TestToolMissing: a step whose tools are all missing says so, as advice;
// one of a role's tools is enough; a passed step says nothing of tools.
func TestToolMissing(t *testing.T) {
	have := map[string]bool{}
	lookPath = func(file string) (string, error) {
		if have[file] {
			return "/usr/bin/" + file, nil
		}
		return "", errors.New("not found")
	}
	t.Cleanup(func() { lookPath = execLookPath })
	res := withToolAdvice(nil, fail(Finding{Code: "x", Criterion: "c"}), RoleSBOM)
	if !res.HasFinding("tool-missing") || res.Findings[1].Severity != Advice {
		t.Fatalf("no advice: %+v", res.Findings)
	}
	have["syft"] = true
	if res := withToolAdvice(nil, fail(Finding{Code: "x"}), RoleSBOM); res.HasFinding("tool-missing") {
		t.Errorf("syft writes SBOMs too: %+v", res.Findings)
	}
	delete(have, "syft")
	if res := withToolAdvice(nil, result("done"), RoleSBOM); res.HasFinding("tool-missing") {
		t.Errorf("a passed step: %+v", res.Findings)
	}
}
