package app

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// kindNode is a kind sandbox's control-plane node as the checks see it.
type kindNode struct{ *sandbox.KindNode }

func (kindNode) Files() check.NodeFiles {
	return check.NodeFiles{
		APIServerManifest: sandbox.NodeAPIServerManifest,
		KubeletConfig:     sandbox.NodeKubeletConfig,
		PodLogs:           sandbox.NodePodLogs,
		Backups:           sandbox.NodeBackups,
		ImagePolicy:       sandbox.NodeImagePolicy,
	}
}

// nodeOf is the sandbox's control-plane node for the checks, or why there
// is none.
func nodeOf(sb *sandbox.Sandbox) (check.Node, string) {
	n, err := sb.ControlPlane()
	if err != nil {
		return nil, err.Error()
	}
	return kindNode{n}, ""
}

// backUpNode keeps the originals of the files the control-plane lessons
// edit, before the learner can change them; reset puts them back.
func backUpNode(ctx context.Context, sb *sandbox.Sandbox) error {
	n, _ := nodeOf(sb)
	if n == nil {
		return nil
	}
	if err := check.BackUpNodeFiles(ctx, n); err != nil {
		return fmt.Errorf("keeping the control-plane files to reset from: %w", err)
	}
	return nil
}

func newNodeShellCommand(g *globalFlags, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "node-shell [NODE]",
		Short: g.p.T("Open a root shell on the sandbox's control-plane node, as the CKS exam's ssh does"),
		Long: g.p.T(`node-shell opens a root shell on the sandbox's control-plane node: the
API server's static pod manifest is /etc/kubernetes/manifests/kube-apiserver.yaml,
the kubelet's config /var/lib/kubelet/config.yaml, and systemctl restart
kubelet restarts the kubelet. exit returns. imagelab reset puts the files back.`),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, sb, err := g.savedSandbox()
			if err != nil {
				return err
			}
			n, err := sb.ControlPlane()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if len(args) == 1 && args[0] != n.Name() {
				return &exitError{code: 2, err: g.p.Errorf("the sandbox has one node, %s", n.Name())}
			}
			sh := n.ShellCommand()
			sh.Stdin, sh.Stdout, sh.Stderr = streams.In, streams.Out, streams.Err
			g.p.Fprintf(streams.Err, "Root shell on %s, the control-plane node. exit returns.\n", n.Name())
			err = sh.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return nil // the shell's own last status is not imagelab's failure
			}
			return err
		},
	}
}
