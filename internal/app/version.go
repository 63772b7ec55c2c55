package app

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/internal/i18n"
)

// version is imagelab's version, stamped at build time (make build):
//
//	go build -ldflags "-X github.com/imagelab/imagelab/internal/app.version=v1.2.3"
//
// Left empty, the main module's version is used (a go install of a tag), else "dev".
// A package variable because -X can set nothing else.
var version string

// Module paths whose versions say what imagelab was built against.
const (
	clientGoModule = "k8s.io/client-go"
	kindModule     = "sigs.k8s.io/kind"
)

// versionInfo is what imagelab version prints.
type versionInfo struct {
	Version string `json:"version"`
	// Commit is the VCS revision built, "" when the build did not record it.
	Commit string `json:"commit,omitempty"`
	// Modified says the work tree had uncommitted changes.
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Kubernetes is the Kubernetes release client-go is from (client-go
	// v0.X.Y is Kubernetes v1.X.Y).
	Kubernetes string `json:"kubernetes,omitempty"`
	ClientGo   string `json:"clientGo,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// currentVersion reads the running binary's build information.
func currentVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return newVersionInfo(bi, version)
}

// newVersionInfo is the version from build information bi (nil when the
// binary has none) and the stamped version ("" when not stamped).
func newVersionInfo(bi *debug.BuildInfo, stamped string) versionInfo {
	v := versionInfo{Version: stamped, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if v.Version == "" {
			v.Version = "dev"
		}
		return v
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, dep := range bi.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		switch dep.Path {
		case clientGoModule:
			v.ClientGo = dep.Version
			v.Kubernetes = kubernetesVersion(dep.Version)
		case kindModule:
			v.Kind = dep.Version
		}
	}
	return v
}

// kubernetesVersion maps a client-go version to its Kubernetes release:
// v0.37.2 → v1.37.2 (and v0.37.0-rc.1 → v1.37.0-rc.1); "" for a version
// that is no release (a pseudo-version) or from before that scheme.
func kubernetesVersion(clientGo string) string {
	rest, ok := strings.CutPrefix(clientGo, "v0.")
	if !ok {
		return ""
	}
	minor, _, _ := strings.Cut(rest, ".")
	if minor == "" || minor == "0" || strings.Trim(minor, "0123456789") != "" {
		return ""
	}
	return "v1." + rest
}

// String is the text imagelab version prints.
func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "imagelab %s\n", v.Version)
	commit := v.Commit
	switch {
	case commit == "":
		commit = "unknown (built without VCS information)"
	case v.Modified:
		commit += " (modified)"
	}
	fmt.Fprintf(&b, "commit:     %s\n", commit)
	fmt.Fprintf(&b, "go:         %s %s\n", v.Go, v.Platform)
	switch {
	case v.Kubernetes != "":
		fmt.Fprintf(&b, "kubernetes: %s (%s %s)\n", v.Kubernetes, clientGoModule, v.ClientGo)
	case v.ClientGo != "":
		fmt.Fprintf(&b, "kubernetes: unknown (%s %s)\n", clientGoModule, v.ClientGo)
	default:
		fmt.Fprintf(&b, "kubernetes: unknown\n")
	}
	kind := v.Kind
	if kind == "" {
		kind = "unknown"
	}
	fmt.Fprintf(&b, "kind:       %s (%s)\n", kind, kindModule)
	return b.String()
}

func newVersionCommand(p *i18n.Printer, streams Streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: p.T("Print imagelab's version and the Go, Kubernetes and kind versions it was built with"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(streams.Out, currentVersion(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, p.T("print as JSON"))
	return cmd
}

func printVersion(w io.Writer, v versionInfo, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(w, v.String())
	return err
}
