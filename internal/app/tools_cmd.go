package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// toolJSON is one tool as imagelab tools reports it.
type toolJSON struct {
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	Purpose string   `json:"purpose"`
	// Steps are the steps done with a tool of one of its roles.
	Steps        []string `json:"steps,omitempty"`
	Found        bool     `json:"found"`
	Path         string   `json:"path,omitempty"`
	Version      string   `json:"version,omitempty"`
	VersionError string   `json:"versionError,omitempty"`
	// Tested is the version imagelab's own tests run.
	Tested  string   `json:"tested,omitempty"`
	Install []string `json:"install"`
}

// roleJSON says whether some tool on the PATH plays a role.
type roleJSON struct {
	Role  string   `json:"role"`
	Steps []string `json:"steps"`
	// By are the tools on the PATH that play it; empty: none.
	By []string `json:"by"`
}

type toolsReport struct {
	// OS is what the install commands are for.
	OS    string     `json:"os"`
	Roles []roleJSON `json:"roles"`
	Tools []toolJSON `json:"tools"`
	// DockerConfig is where trivy and cosign find the registry login in
	// the sandbox shell (DOCKER_CONFIG), when there is a sandbox.
	DockerConfig string `json:"dockerConfig,omitempty"`
	Registry     string `json:"registry,omitempty"`
}

func newToolsCommand(g *globalFlags, streams Streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tools",
		Short: g.p.T("The exam's tools the supply-chain steps use (trivy, cosign, an SBOM tool, kubesec): which are installed, and how to install the others"),
		Long: g.p.T(`The supply-chain steps are done with the tools the CKS exam gives you:
a vulnerability scanner (trivy), an SBOM writer (trivy or syft), a signer
(cosign) and a manifest analyser (kubesec or kube-linter). imagelab's
checks never run them — they verify what you made — so any of them will do.

tools lists which are on your PATH, their versions, and the commands that
install the others on this machine. In the sandbox shell they reach the
private registry with your docker login: trivy, cosign and syft read
DOCKER_CONFIG, as docker does.`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cur, err := lessons.Default()
			if err != nil {
				return err
			}
			r := toolsStatus(cmd.Context(), cur, hostOS(runtime.GOOS, readOSRelease("/etc/os-release")), runtime.GOARCH)
			if _, sb, err := g.savedSandbox(); err == nil {
				r.DockerConfig, r.Registry = sb.DockerConfigDir, sb.Registry.Host
			} else if !errors.Is(err, sandbox.ErrNoSandbox) {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // install commands hold | and >
				return enc.Encode(r)
			}
			printTools(streams.Out, g.p, r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, g.p.T("print as JSON"))
	return cmd
}

// toolsStatus looks for each tool on the PATH and asks the ones found for
// their version (in parallel: each is a process start).
func toolsStatus(ctx context.Context, cur *lessons.Curriculum, host osInfo, arch string) toolsReport {
	r := toolsReport{OS: host.String()}
	steps := map[string][]string{} // role → steps
	for _, s := range cur.Steps() {
		if role := check.RoleOf(s.Check.Name); role != "" {
			steps[role] = append(steps[role], s.Ref())
		}
	}
	r.Tools = make([]toolJSON, len(check.Tools))
	var wg sync.WaitGroup
	for i, t := range check.Tools {
		tj := toolJSON{Name: t.Name, Roles: t.Roles, Purpose: t.Purpose, Tested: t.Pinned, Install: installCommands(t.Name, host, arch)}
		for _, role := range t.Roles {
			tj.Steps = append(tj.Steps, steps[role]...)
		}
		slices.Sort(tj.Steps)
		tj.Steps = slices.Compact(tj.Steps)
		tj.Path = check.FindTool(t.Name)
		tj.Found = tj.Path != ""
		r.Tools[i] = tj
		if tj.Found {
			wg.Go(func() {
				v, err := check.ToolVersion(ctx, t, r.Tools[i].Path)
				r.Tools[i].Version = v
				if err != nil {
					r.Tools[i].VersionError = err.Error()
				}
			})
		}
	}
	wg.Wait()
	for _, role := range []string{check.RoleScanner, check.RoleSBOM, check.RoleSigner, check.RoleStaticAnalysis} {
		rj := roleJSON{Role: role, Steps: append([]string{}, steps[role]...), By: []string{}}
		for _, t := range r.Tools {
			if t.Found && slices.Contains(t.Roles, role) {
				rj.By = append(rj.By, t.Name)
			}
		}
		r.Roles = append(r.Roles, rj)
	}
	return r
}

func printTools(w io.Writer, p *i18n.Printer, r toolsReport) {
	p.Fprintf(w, "The supply-chain steps' tools (install commands for %s)\n\n", r.OS)
	for _, role := range r.Roles {
		mark, by := "✗", p.T("none on your PATH")
		if len(role.By) > 0 {
			mark, by = "✓", strings.Join(role.By, ", ")
		}
		fmt.Fprintf(w, "%s %-16s %s", mark, role.Role, by)
		if len(role.Steps) > 0 {
			p.Fprintf(w, "  (for %s)", strings.Join(role.Steps, ", "))
		}
		fmt.Fprintln(w)
	}
	for _, t := range r.Tools {
		fmt.Fprintf(w, "\n%s — %s\n", t.Name, toolPurpose(p, t.Name, t.Purpose))
		switch {
		case t.Found && t.Version != "":
			p.Fprintf(w, "  installed: %s (%s)\n", t.Version, t.Path)
		case t.Found:
			p.Fprintf(w, "  installed: %s (version unknown: %s)\n", t.Path, t.VersionError)
		default:
			p.Fprintln(w, "  not on your PATH; to install:")
			for _, c := range t.Install {
				fmt.Fprintf(w, "    %s\n", installComment(p, c))
			}
		}
		if t.Tested != "" && t.Version != "" && strings.TrimPrefix(t.Version, "v") != strings.TrimPrefix(t.Tested, "v") {
			p.Fprintf(w, "  imagelab is tested with %s\n", t.Tested)
		}
	}
	if r.DockerConfig != "" {
		p.Fprintf(w, "\nIn the sandbox shell, trivy, cosign and syft reach %s with your docker login:\nthey read DOCKER_CONFIG=%s, as docker does (docker login %s first).\n", r.Registry, r.DockerConfig, r.Registry)
	}
}

// toolPurpose is what a tool is for, in p's language: check.Tools says it
// in English (its source), translated here by the tool's name. A tool with
// no translation is said in English.
func toolPurpose(p *i18n.Printer, name, english string) string {
	if p.Lang() == i18n.English {
		return english
	}
	switch name {
	case "trivy":
		return p.T("scans an image's packages for known vulnerabilities; writes SBOMs (--format spdx-json|cyclonedx)")
	case "cosign":
		return p.T("signs an image by digest and verifies signatures (a key pair, offline)")
	case "kubesec":
		return p.T("scores a manifest's security settings and says what to fix")
	case "syft":
		return p.T("writes SBOMs (-o spdx-json|cyclonedx-json); another choice than trivy")
	case "kube-linter":
		return p.T("lints manifests for security and reliability; another choice than kubesec")
	}
	return english
}

// osInfo is what the install commands depend on.
type osInfo struct {
	GOOS string
	// ID and Like are /etc/os-release's ID and ID_LIKE on Linux.
	ID, Like, Pretty string
}

func (o osInfo) String() string {
	if o.Pretty != "" {
		return o.Pretty
	}
	return o.GOOS
}

// family is the package system: brew, debian, rhel, alpine, arch, suse, or "".
func (o osInfo) family() string {
	if o.GOOS == "darwin" {
		return "brew"
	}
	if o.GOOS != "linux" {
		return ""
	}
	for _, id := range append([]string{o.ID}, strings.Fields(o.Like)...) {
		switch id {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "fedora", "centos", "rocky", "almalinux":
			return "rhel"
		case "alpine":
			return "alpine"
		case "arch":
			return "arch"
		case "suse", "opensuse", "sles":
			return "suse"
		}
	}
	return ""
}

func hostOS(goos string, release map[string]string) osInfo {
	o := osInfo{GOOS: goos}
	if goos == "linux" {
		o.ID, o.Like, o.Pretty = release["ID"], release["ID_LIKE"], release["PRETTY_NAME"]
	}
	if o.Pretty == "" && goos == "darwin" {
		o.Pretty = "macOS"
	}
	return o
}

// readOSRelease reads an os-release file's KEY=value lines; nothing when
// it is not there.
func readOSRelease(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && !strings.HasPrefix(k, "#") {
			out[k] = strings.Trim(v, `"'`)
		}
	}
	return out
}

// Install commands are pasted into a shell as they are: what a reader
// should know about one follows it as a shell comment, translated when
// printed (installComment).
const (
	commentMark        = "   # "
	noteInContainer    = "nothing to install: runs in a container"
	noteWindowsRelease = "or the Windows release from "
)

// installComment translates a command's trailing shell comment.
func installComment(p *i18n.Printer, command string) string {
	cmd, note, ok := strings.Cut(command, commentMark)
	if !ok || p.Lang() == i18n.English {
		return command
	}
	switch {
	case note == noteInContainer:
		note = p.T("nothing to install: runs in a container")
	case strings.HasPrefix(note, noteWindowsRelease):
		note = p.T("or the Windows release from %s", strings.TrimPrefix(note, noteWindowsRelease))
	}
	return cmd + commentMark + note
}

// installCommands are the ways to install a tool on this machine, the
// package system's first, then ones that work anywhere (a release binary,
// go install). Versions are the ones imagelab's tests run.
func installCommands(name string, host osInfo, arch string) []string {
	fam := host.family()
	osName := host.GOOS
	var out []string
	add := func(cmds ...string) { out = append(out, cmds...) }
	switch name {
	case "trivy":
		switch fam {
		case "brew":
			add("brew install trivy")
		case "debian":
			add("sudo apt-get install -y wget gnupg",
				"wget -qO - https://aquasecurity.github.io/trivy-repo/deb/public.key | gpg --dearmor | sudo tee /usr/share/keyrings/trivy.gpg > /dev/null",
				`echo "deb [signed-by=/usr/share/keyrings/trivy.gpg] https://aquasecurity.github.io/trivy-repo/deb generic main" | sudo tee /etc/apt/sources.list.d/trivy.list`,
				"sudo apt-get update && sudo apt-get install -y trivy")
		case "rhel":
			add("sudo rpm -ivh https://github.com/aquasecurity/trivy/releases/download/v0.74.0/trivy_0.74.0_Linux-64bit.rpm")
		case "alpine":
			add("sudo apk add trivy")
		case "arch":
			add("sudo pacman -S trivy")
		case "suse":
			add("sudo zypper install trivy")
		}
		if osName == "windows" {
			add("scoop install trivy" + commentMark + noteWindowsRelease + "https://github.com/aquasecurity/trivy/releases/tag/v0.74.0")
			break
		}
		add("curl -sfL https://raw.githubusercontent.com/aquasecurity/trivy/main/contrib/install.sh | sudo sh -s -- -b /usr/local/bin v0.74.0",
			"GOEXPERIMENT=jsonv2 go install github.com/aquasecurity/trivy/cmd/trivy@v0.74.0")
	case "cosign":
		switch fam {
		case "brew":
			add("brew install cosign")
		case "debian":
			add(fmt.Sprintf("curl -LO https://github.com/sigstore/cosign/releases/download/v2.6.5/cosign_2.6.5_%s.deb && sudo dpkg -i cosign_2.6.5_%s.deb", arch, arch))
		case "rhel":
			add(fmt.Sprintf("sudo rpm -ivh https://github.com/sigstore/cosign/releases/download/v2.6.5/cosign-2.6.5-1.%s.rpm", rpmArch(arch)))
		case "alpine":
			add("sudo apk add cosign")
		case "arch":
			add("sudo pacman -S cosign")
		}
		if osName == "windows" {
			add("winget install sigstore.cosign" + commentMark + noteWindowsRelease + "https://github.com/sigstore/cosign/releases/tag/v2.6.5")
			break
		}
		add(fmt.Sprintf("curl -Lo cosign https://github.com/sigstore/cosign/releases/download/v2.6.5/cosign-%s-%s && chmod +x cosign && sudo mv cosign /usr/local/bin/", osName, arch),
			"go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5")
	case "kubesec":
		if fam == "brew" {
			add("brew install kubesec")
		}
		add(fmt.Sprintf("curl -sSL https://github.com/controlplaneio/kubesec/releases/download/v2.14.2/kubesec_%s_%s.tar.gz | tar -xz kubesec && sudo mv kubesec /usr/local/bin/", osName, arch),
			"go install github.com/controlplaneio/kubesec/v2@v2.14.2",
			"docker run -i kubesec/kubesec:v2 scan /dev/stdin < pod.yaml"+commentMark+noteInContainer)
	case "syft":
		switch fam {
		case "brew":
			add("brew install syft")
		case "arch":
			add("sudo pacman -S syft")
		}
		add("curl -sSfL https://raw.githubusercontent.com/anchore/syft/main/install.sh | sudo sh -s -- -b /usr/local/bin",
			"go install github.com/anchore/syft/cmd/syft@latest")
	case "kube-linter":
		if fam == "brew" {
			add("brew install kube-linter")
		}
		add("go install golang.stackrox.io/kube-linter/cmd/kube-linter@latest",
			"docker run --rm -v \"$PWD\":/dir stackrox/kube-linter lint /dir"+commentMark+noteInContainer)
	}
	return out
}

func rpmArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goarch
}
