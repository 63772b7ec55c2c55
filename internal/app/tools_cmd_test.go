package app

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// requireStepTools stops a step's test unless the tool its reference
// solution runs (trivy, cosign, kubesec) is there, with trivy's test DB.
func requireStepTools(t testing.TB, s *lessons.Step) {
	t.Helper()
	if check.RoleOf(s.Check.Name) != "" {
		testenv.RequireTools(t)
	}
}

// fakeTool puts a script called name on dir that prints out.
func fakeTool(t *testing.T, dir, name, out string) {
	t.Helper()
	script := "#!/bin/sh\n/bin/cat <<'EOF'\n" + out + "\nEOF\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestToolsCommand: the tools on the PATH are found with their versions
// (from each tool's own way of printing one), a role is met by any of its
// tools, and the ones missing come with install commands for this OS.
func TestToolsCommand(t *testing.T) {
	bin := t.TempDir()
	fakeTool(t, bin, "trivy", "Version: 0.74.0\nVulnerability DB:\n  Version: 2")
	fakeTool(t, bin, "cosign", "  ______   ______\n / ____/  / __  /\nGitVersion:    v2.6.5\nGitCommit:     unknown")
	t.Setenv("PATH", bin)
	out, err := run(t, "tools", "--json", "--state-dir", t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r toolsReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tools := map[string]toolJSON{}
	for _, tj := range r.Tools {
		tools[tj.Name] = tj
	}
	if tj := tools["trivy"]; !tj.Found || tj.Version != "0.74.0" || tj.Path != filepath.Join(bin, "trivy") {
		t.Errorf("trivy: %+v", tj)
	}
	if tj := tools["cosign"]; !tj.Found || tj.Version != "v2.6.5" {
		t.Errorf("cosign: %+v", tj)
	}
	if tj := tools["kubesec"]; tj.Found || len(tj.Install) == 0 || !slices.ContainsFunc(tj.Install, func(c string) bool { return strings.Contains(c, "go install") }) {
		t.Errorf("kubesec: %+v", tj)
	}
	roles := map[string]roleJSON{}
	for _, rj := range r.Roles {
		roles[rj.Role] = rj
		if len(rj.Steps) == 0 {
			t.Errorf("role %s: no step is done with it", rj.Role)
		}
	}
	if !slices.Equal(roles["sbom"].By, []string{"trivy"}) || len(roles["static-analysis"].By) != 0 {
		t.Errorf("roles: %+v", r.Roles)
	}
	text, err := run(t, "tools", "--state-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"✓ scanner          trivy", "✗ static-analysis  none on your PATH", "installed: 0.74.0", "go install github.com/controlplaneio/kubesec/v2@v2.14.2"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}

// TestInstallCommands: each OS family gets its package system's command
// first, and every tool can be had some way anywhere.
func TestInstallCommands(t *testing.T) {
	for _, tc := range []struct {
		host  osInfo
		tool  string
		first string
	}{
		{osInfo{GOOS: "darwin"}, "trivy", "brew install trivy"},
		{osInfo{GOOS: "linux", ID: "ubuntu", Like: "debian"}, "trivy", "sudo apt-get install -y wget gnupg"},
		{osInfo{GOOS: "linux", ID: "rocky", Like: "rhel centos fedora"}, "cosign", "sudo rpm -ivh https://github.com/sigstore/cosign/releases/download/v2.6.5/cosign-2.6.5-1.x86_64.rpm"},
		{osInfo{GOOS: "linux", ID: "alpine"}, "cosign", "sudo apk add cosign"},
		{osInfo{GOOS: "linux", ID: "arch"}, "syft", "sudo pacman -S syft"},
		{osInfo{GOOS: "linux", ID: "nixos"}, "kube-linter", "go install golang.stackrox.io/kube-linter/cmd/kube-linter@latest"},
	} {
		got := installCommands(tc.tool, tc.host, "amd64")
		if len(got) == 0 || got[0] != tc.first {
			t.Errorf("%s on %s: %q", tc.tool, tc.host.ID+tc.host.GOOS, got)
		}
	}
	if o := hostOS("linux", map[string]string{"ID": "debian", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}); o.family() != "debian" || o.String() != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("hostOS: %+v", o)
	}
}

// TestInstallCommandsPaste: every install command is pasted into a shell
// as it is, so each must parse as one (a note on it is a shell comment),
// and the note reads in the learner's language.
func TestInstallCommandsPaste(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("bash: %v", err)
	}
	hosts := []osInfo{{GOOS: "darwin"}, {GOOS: "windows"}, {GOOS: "linux", ID: "debian"}, {GOOS: "linux", ID: "fedora", Like: "rhel"},
		{GOOS: "linux", ID: "alpine"}, {GOOS: "linux", ID: "arch"}, {GOOS: "linux", ID: "opensuse", Like: "suse"}, {GOOS: "linux", ID: "nixos"}}
	ko := i18n.For(i18n.Korean)
	for _, host := range hosts {
		for _, tool := range check.Tools {
			for _, c := range installCommands(tool.Name, host, "amd64") {
				if out, err := exec.Command("bash", "-n", "-c", c).CombinedOutput(); err != nil {
					t.Errorf("%s on %s: %q does not parse as a shell line: %v %s", tool.Name, host.GOOS+host.ID, c, err, out)
				}
				if _, comment, ok := strings.Cut(installComment(ko, c), "# "); ok && !testenv.HasHangul(comment) {
					t.Errorf("%s on %s: the note of %q is not in Korean: %q", tool.Name, host.GOOS+host.ID, c, comment)
				}
			}
		}
	}
}
