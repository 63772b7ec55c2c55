package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/internal/imagepolicy"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// policyBackendDir is where a sandbox's image policy webhook keeps its
// certificates, kubeconfig, state and log, under the state dir.
const policyBackendDir = "imagepolicy"

// policyBackendOf is the image policy webhook of a kind sandbox: a
// process of its own (imagelab policy-backend) that the node's API server
// reaches at the address the node has for this machine. nil for other
// sandboxes (no node to configure).
func policyBackendOf(sb *sandbox.Sandbox) check.PolicyBackend {
	n, err := sb.ControlPlane()
	if err != nil || sb.StateDir == "" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return &imagepolicy.Process{
		Dir:      filepath.Join(sb.StateDir, policyBackendDir),
		Registry: sb.Registry.Host,
		Command:  []string{exe, "policy-backend"},
		Locate: func(ctx context.Context) (string, string, error) {
			dial, listen, err := n.HostAddress(ctx)
			if errors.Is(err, sandbox.ErrNodeCannotReachHost) {
				err = fmt.Errorf("%w: %v", check.ErrUnavailable, err)
			}
			return dial, listen, err
		},
	}
}

// stopPolicyBackend stops a sandbox's image policy webhook, if it runs.
func stopPolicyBackend(ctx context.Context, stateDir string, sb *sandbox.Sandbox) error {
	return (&imagepolicy.Process{Dir: filepath.Join(stateDir, policyBackendDir), Registry: sb.Registry.Host}).Down(ctx)
}

// newPolicyBackendCommand serves the image policy webhook in the
// foreground; imagelab starts it, detached, for the ImagePolicyWebhook
// step. Hidden: learners never run it.
func newPolicyBackendCommand() *cobra.Command {
	var f imagepolicy.ServeFlags
	cmd := &cobra.Command{
		Use:    "policy-backend",
		Short:  "Serve the sandbox's image policy webhook (imagelab starts it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return imagepolicy.Serve(ctx, f)
		},
	}
	cmd.Flags().StringVar(&f.Dir, "dir", "", "where its certificates, kubeconfig, state and log are")
	cmd.Flags().StringVar(&f.Registry, "registry", "", "the one registry it allows")
	cmd.Flags().StringVar(&f.Listen, "listen", "127.0.0.1:0", "host:port to listen on")
	cmd.Flags().StringVar(&f.Dial, "dial", "127.0.0.1", "the host the node dials (the certificate's name)")
	for _, name := range []string{"dir", "registry"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}
