package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/tui"
)

func addSandboxCommands(root *cobra.Command, g *globalFlags, streams Streams) {
	root.AddCommand(
		newUpCommand(g, streams),
		newDownCommand(g, streams),
		newStatusCommand(g, streams),
		newEnvCommand(g, streams),
		newShellCommand(g, streams),
		newNodeShellCommand(g, streams),
		newPolicyBackendCommand(),
		newResetCommand(g, streams),
	)
}

type upOptions struct {
	sandbox       sandboxFlags
	seedImage     string
	name          string
	nodeImage     string
	registryImage string
	runtime       string
	dryRun        bool
}

func (o *upOptions) kindOptions(stateDir string, report sandbox.Reporter) sandbox.KindOptions {
	return sandbox.KindOptions{
		Name: o.name, NodeImage: o.nodeImage, RegistryImage: o.registryImage, Runtime: o.runtime,
		StateDir: stateDir, Seed: sandbox.SeedOptions{Source: o.seedImage}, Report: report,
	}
}

// startSandbox makes (or reuses) the sandbox up describes, as choose
// decides: the cluster the flags name; else the sandbox saved in the state
// dir, checked to answer (a kind one restarted if it was stopped); else a
// new kind sandbox.
func (o *upOptions) startSandbox(ctx context.Context, stateDir string, report sandbox.Reporter) (*sandbox.Sandbox, error) {
	c, err := o.sandbox.choose(stateDir)
	if err != nil {
		return nil, err
	}
	var sb *sandbox.Sandbox
	switch {
	case c.source == sourceNamed:
		opts := o.sandbox.existingOptions(stateDir)
		opts.Seed.Source = o.seedImage
		opts.Report = report
		sb, err = sandbox.UseExisting(ctx, opts)
	case c.source == sourceSaved && (c.saved.Provider == sandbox.ProviderExisting || c.saved.Provider == sandbox.ProviderWorkshop):
		sb, err = c.saved, sandbox.Reuse(ctx, c.saved, report)
	default:
		// A saved kind sandbox is reused by UpKind, restarted if stopped.
		sb, err = sandbox.UpKind(ctx, o.kindOptions(stateDir, report))
	}
	if err != nil {
		return nil, err
	}
	if err := backUpNode(ctx, sb); err != nil {
		return nil, err
	}
	pushLabImages(ctx, sb, report)
	return o.sandbox.override(sb), nil
}

func newUpCommand(g *globalFlags, streams Streams) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: g.p.T("Create the sandbox (or prepare a cluster you name) and print where it is"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, err := g.resolveStateDir()
			if err != nil {
				return err
			}
			if o.dryRun {
				return printPlan(streams.Out, g.p, o, stateDir)
			}
			start := time.Now()
			sb, err := o.startSandbox(cmd.Context(), stateDir, printReporter(streams.Err, g.p))
			if err != nil {
				return err
			}
			g.p.Fprintf(streams.Err, "Ready in %.1fs\n\n", time.Since(start).Seconds())
			printSandbox(streams.Out, g.p, sb)
			return nil
		},
	}
	o.addFlags(cmd.Flags(), g.p)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, g.p.T("print the kind config and registry settings, create nothing"))
	return cmd
}

// addFlags adds the flags that say which sandbox to start.
func (o *upOptions) addFlags(fs *pflag.FlagSet, p *i18n.Printer) {
	o.sandbox.add(fs, p)
	fs.StringVar(&o.seedImage, "seed-image", "", p.T("image (or tarball, or OCI layout dir) the seeded apps/internal-app is built on (default %s)", sandbox.DefaultSeedSource))
	fs.StringVar(&o.name, "name", sandbox.DefaultName, p.T("name of the kind cluster (and prefix of the registry container)"))
	fs.StringVar(&o.nodeImage, "node-image", "", p.T("kind node image (default: kind's own)"))
	fs.StringVar(&o.registryImage, "registry-image", sandbox.DefaultRegistryImage, p.T("registry image, e.g. a mirror's copy"))
	fs.StringVar(&o.runtime, "runtime", "", p.T("container runtime: docker or podman (default: detect, as kind does)"))
}

// printPlan shows what up would create.
func printPlan(w io.Writer, pr *i18n.Printer, o *upOptions, stateDir string) error {
	if o.sandbox.namesCluster() {
		pr.Fprintf(w, "Would use the cluster of %s (context %q), namespace %q, registry %s as %s;\n", o.sandbox.kubeconfig, o.sandbox.context, o.sandbox.namespace, o.sandbox.registry, o.sandbox.registryUser)
		pr.Fprintf(w, "write imagelab's own kubeconfig to %s and seed %s/%s:%s.\n", filepath.Join(stateDir, "kubeconfig"), o.sandbox.registry, sandbox.SeedRepository, sandbox.SeedTag)
		return nil
	}
	p, err := sandbox.PlanKind(o.kindOptions(stateDir, nil))
	if err != nil {
		return err
	}
	pr.Fprintf(w, "# kind cluster %q, node image %s (%s)\n", p.Name, p.NodeImage, p.Runtime)
	pr.Fprintf(w, "# kubeconfig: %s (imagelab's own; ~/.kube/config is not touched)\n\n", p.Kubeconfig)
	fmt.Fprintf(w, "# kind config\n%s\n", p.ClusterConfig)
	pr.Fprintf(w, "# registry container (htpasswd auth, random password, loopback only)\n%s\n\n", strings.Join(p.RegistryRun, " "))
	pr.Fprintf(w, "# joined to kind's network\n%s\n\n", strings.Join(p.NetworkJoin, " "))
	pr.Fprintf(w, "# on each node: %s\n%s\n", p.HostsTomlPath, p.HostsToml)
	fmt.Fprintf(w, "# ConfigMap\n%s\n", p.ConfigMap)
	pr.Fprintf(w, "# then: namespace %s, and %s/%s:%s seeded from %s\n", sandbox.DefaultNamespace, p.RegistryHost, sandbox.SeedRepository, sandbox.SeedTag, seedSourceName(o.seedImage))
	return nil
}

func seedSourceName(s string) string {
	if s == "" {
		return sandbox.DefaultSeedSource
	}
	return s
}

func newShellCommand(g *globalFlags, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "shell",
		Short: g.p.T("Open your shell in the sandbox: kubectl and docker use the sandbox's files, not yours"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, sb, err := g.savedSandbox()
			if err != nil {
				return err
			}
			sh, err := sb.ShellCommand(stateDir, os.Environ())
			if err != nil {
				return err
			}
			sh.Stdin, sh.Stdout, sh.Stderr = streams.In, streams.Out, streams.Err
			g.p.Fprintf(streams.Err, "Sandbox shell: KUBECONFIG and DOCKER_CONFIG point at %s. exit returns.\n", stateDir)
			err = sh.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return nil // the shell's own last status is not imagelab's failure
			}
			return err
		},
	}
}

// printReporter prints progress events as lines in p's language.
func printReporter(w io.Writer, p *i18n.Printer) sandbox.Reporter {
	return func(e sandbox.Event) { fmt.Fprintln(w, tui.EventLine(p, e)) }
}

func printSandbox(w io.Writer, p *i18n.Printer, sb *sandbox.Sandbox) {
	switch sb.Provider {
	case sandbox.ProviderExisting:
		p.Fprintf(w, "sandbox:    a cluster you named (context %s)\n", sb.Context)
	case sandbox.ProviderWorkshop:
		p.Fprintf(w, "sandbox:    %s\n", workshopSeat(p, sb))
	default:
		p.Fprintf(w, "sandbox:    kind cluster %s\n", sb.Name)
	}
	p.Fprintf(w, "registry:   %s  user %s\n", sb.Registry.Host, sb.Registry.User)
	if sb.Registry.Prefix != "" {
		p.Fprintf(w, "your images: %s/…\n", sb.Registry.Repos())
	}
	p.Fprintf(w, "namespace:  %s\n", sb.Namespace)
	p.Fprintf(w, "kubeconfig: %s\n", sb.Kubeconfig)
	p.Fprintf(w, "\nIn another terminal:  eval \"$(imagelab env)\"\n")
}

func newDownCommand(g *globalFlags, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: g.p.T("Remove the sandbox: what imagelab created, and nothing else"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, sb, err := g.savedSandbox()
			if errors.Is(err, sandbox.ErrNoSandbox) {
				left, err := sandbox.RemoveLeftovers(cmd.Context(), stateDir)
				if len(left) > 0 {
					g.p.Fprintf(streams.Out, "No sandbox recorded; removed imagelab's leftover containers: %s\n", strings.Join(left, ", "))
				} else if err == nil {
					g.p.Fprintln(streams.Out, "No sandbox to remove.")
				}
				return err
			}
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			if err := stopPolicyBackend(ctx, stateDir, sb); err != nil {
				return err
			}
			if err := sandbox.Remove(ctx, sb, stateDir, printReporter(streams.Err, g.p)); err != nil {
				return err
			}
			g.p.Fprintln(streams.Out, "Sandbox removed.")
			return nil
		},
	}
}

type statusJSON struct {
	Exists     bool   `json:"exists"`
	Provider   string `json:"provider,omitempty"`
	Name       string `json:"name,omitempty"`
	Ready      bool   `json:"ready"`
	Cluster    string `json:"cluster,omitempty"`
	Registry   string `json:"registry,omitempty"`
	RegistryOK string `json:"registryStatus,omitempty"`
	User       string `json:"registryUser,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	DockerCfg  string `json:"dockerConfig,omitempty"`
	Kubelet    bool   `json:"kubelet"`
	Created    string `json:"createdAt,omitempty"`
}

func newStatusCommand(g *globalFlags, streams Streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: g.p.T("Show what the sandbox has, whether it is ready, and where its files are"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, err := g.resolveStateDir()
			if err != nil {
				return err
			}
			st := statusJSON{}
			sb, err := sandbox.Load(stateDir)
			if err != nil && !errors.Is(err, sandbox.ErrNoSandbox) {
				return err
			}
			if sb != nil {
				ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
				defer cancel()
				h := sandbox.Check(ctx, sb)
				st = statusJSON{Exists: true, Provider: sb.Provider, Name: sb.Name, Ready: h.Ready(),
					Cluster: h.Cluster, Registry: sb.Registry.Host, RegistryOK: h.Registry, User: sb.Registry.User,
					Namespace: sb.Namespace, Kubeconfig: sb.Kubeconfig, DockerCfg: sb.DockerConfigDir, Kubelet: sb.Kubelet,
					Created: sb.CreatedAt.Format(time.RFC3339)}
			}
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			if !st.Exists {
				g.p.Fprintln(streams.Out, "No sandbox. imagelab up creates one.")
				return nil
			}
			ready := g.p.T("ready")
			if !st.Ready {
				ready = g.p.T("not ready")
			}
			switch sb.Provider {
			case sandbox.ProviderExisting:
				g.p.Fprintf(streams.Out, "sandbox:    a cluster you named (context %s), %s\n", sb.Context, ready)
			case sandbox.ProviderWorkshop:
				g.p.Fprintf(streams.Out, "sandbox:    %s, %s\n", workshopSeat(g.p, sb), ready)
			default:
				g.p.Fprintf(streams.Out, "sandbox:    kind cluster %s, %s\n", sb.Name, ready)
			}
			g.p.Fprintf(streams.Out, "cluster:    %s\n", st.Cluster)
			g.p.Fprintf(streams.Out, "registry:   %s (%s), user %s\n", st.Registry, st.RegistryOK, st.User)
			g.p.Fprintf(streams.Out, "namespace:  %s\n", st.Namespace)
			g.p.Fprintf(streams.Out, "kubeconfig: %s\n", st.Kubeconfig)
			g.p.Fprintf(streams.Out, "docker:     DOCKER_CONFIG=%s\n", st.DockerCfg)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, g.p.T("print as JSON"))
	return cmd
}

func newEnvCommand(g *globalFlags, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: g.p.T(`Print the shell settings for the sandbox: eval "$(imagelab env)"`),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, sb, err := g.savedSandbox()
			if err != nil {
				return err
			}
			for _, kv := range sb.ShellEnv(os.Environ()) {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(streams.Out, "export %s=%s\n", k, shellQuote(v))
			}
			return nil
		},
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
