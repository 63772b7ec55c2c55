package check

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// The exam's own instruments. A supply-chain step is done with a real
// tool (trivy, cosign, kubesec…), but its check never runs one and never
// reads what one printed: it verifies the outcome with libraries (the
// image's own files, sigstore's verifier, the pod the API server keeps).
// What the checks do with the tools is say when none is on the PATH.

// Roles a tool plays in a step.
const (
	RoleScanner        = "scanner"
	RoleSBOM           = "sbom"
	RoleSigner         = "signer"
	RoleStaticAnalysis = "static-analysis"
)

// Tool is one instrument the learner may use.
type Tool struct {
	Name string
	// Roles are what it does for the steps; any tool of a role will do.
	Roles   []string
	Purpose string
	// VersionArgs print its version.
	VersionArgs []string
	// Pinned is the version imagelab's tests run.
	Pinned string
}

// Tools are the instruments the supply-chain steps name, the ones the
// tests pin first.
var Tools = []Tool{
	{Name: "trivy", Roles: []string{RoleScanner, RoleSBOM}, Purpose: "scans an image's packages for known vulnerabilities; writes SBOMs (--format spdx-json|cyclonedx)",
		VersionArgs: []string{"--version"}, Pinned: "v0.74.0"},
	{Name: "cosign", Roles: []string{RoleSigner}, Purpose: "signs an image by digest and verifies signatures (a key pair, offline)",
		VersionArgs: []string{"version"}, Pinned: "v2.6.5"},
	{Name: "kubesec", Roles: []string{RoleStaticAnalysis}, Purpose: "scores a manifest's security settings and says what to fix",
		VersionArgs: []string{"version"}, Pinned: "v2.14.2"},
	{Name: "syft", Roles: []string{RoleSBOM}, Purpose: "writes SBOMs (-o spdx-json|cyclonedx-json); another choice than trivy",
		VersionArgs: []string{"version"}},
	{Name: "kube-linter", Roles: []string{RoleStaticAnalysis}, Purpose: "lints manifests for security and reliability; another choice than kubesec",
		VersionArgs: []string{"version"}},
}

// RoleOf is the role of the tool a step of the named check is done with
// (its Definition's Tool), "" when it needs none.
func RoleOf(checkName string) string {
	d, _ := Lookup(checkName)
	return d.Tool
}

// ToolsFor lists the tools that play role.
func ToolsFor(role string) []Tool {
	var out []Tool
	for _, t := range Tools {
		for _, r := range t.Roles {
			if r == role {
				out = append(out, t)
			}
		}
	}
	return out
}

// lookPath finds a command on the PATH; tests replace it.
var lookPath = execLookPath

var execLookPath = exec.LookPath

// FindTool says where on the PATH the tool is, "" when it is not.
func FindTool(name string) string {
	p, err := lookPath(name)
	if err != nil {
		return ""
	}
	return p
}

var versionPattern = regexp.MustCompile(`v?[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*`)

// ToolVersion runs the tool's version command and picks the version out
// of what it prints: from a line that says "version" when there is one
// (cosign prints a banner first), else the first that looks like one.
func ToolVersion(ctx context.Context, t Tool, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, t.VersionArgs...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", t.Name, strings.Join(t.VersionArgs, " "), err)
	}
	return parseVersion(string(out)), nil
}

func parseVersion(out string) string {
	lines := strings.Split(out, "\n")
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), "version") {
			if v := versionPattern.FindString(l); v != "" {
				return v
			}
		}
	}
	return versionPattern.FindString(out)
}

// toolMissing is advice for a step not done yet when no tool of its role
// is on the PATH: the check does not need it, the learner does.
func toolMissing(env *Env, role string) []Finding {
	tools := ToolsFor(role)
	names := make([]string, len(tools))
	for i, t := range tools {
		if FindTool(t.Name) != "" {
			return nil
		}
		names[i] = t.Name
	}
	return []Finding{{Code: "tool-missing", Severity: Advice,
		Problem:  env.T("No %s on your PATH (%s): this step is done with one.", roleWords(env, role), strings.Join(names, env.T(" or "))),
		Expected: env.T("%s on the PATH of your sandbox shell", names[0]),
		Try:      env.T("imagelab tools says which are installed and how to install %s on this machine.", names[0])}}
}

// roleWords names a role for the learner.
func roleWords(env *Env, role string) string {
	switch role {
	case RoleScanner:
		return env.T("vulnerability scanner")
	case RoleSBOM:
		return env.T("SBOM tool")
	case RoleSigner:
		return env.T("image signer")
	case RoleStaticAnalysis:
		return env.T("manifest analyser")
	}
	return role
}

// withToolAdvice adds the missing-tool advice to a result that did not
// pass: once a step passes, how it was done no longer matters.
func withToolAdvice(env *Env, res Result, role string) Result {
	if res.Passed {
		return res
	}
	res.Findings = append(res.Findings, toolMissing(env, role)...)
	return res
}
