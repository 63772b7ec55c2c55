package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Health is what status reports.
type Health struct {
	Cluster  string // "ready" or why not
	Registry string // "ready" or why not
}

// Ready reports whether both answered.
func (h Health) Ready() bool { return h.Cluster == "ready" && h.Registry == "ready" }

// Check asks the cluster and the registry whether they answer.
func Check(ctx context.Context, sb *Sandbox) Health {
	h := Health{Cluster: "ready", Registry: "ready"}
	client, err := sb.Client()
	if err == nil {
		err = Ping(ctx, client)
	}
	if err != nil {
		h.Cluster = err.Error()
	}
	rt, err := sb.Registry.Transport()
	if err == nil {
		err = PingRegistry(ctx, sb.Registry, rt)
	}
	if err != nil {
		h.Registry = err.Error()
	}
	return h
}

// Reuse checks that a saved existing-cluster sandbox still answers.
func Reuse(ctx context.Context, sb *Sandbox, report Reporter) error {
	done := report.phase(PhaseConnect, TaskConnectSandbox, "", "Connecting to the sandbox")
	if h := Check(ctx, sb); !h.Ready() {
		if h.Cluster != "ready" {
			return fmt.Errorf("the sandbox's cluster does not answer: %s", h.Cluster)
		}
		return fmt.Errorf("the sandbox's registry %s does not answer: %s", sb.Registry.Host, h.Registry)
	}
	done()
	report.phase(PhaseReady, TaskReady, "", "Sandbox ready")()
	return nil
}

// Remove deletes what imagelab made for the sandbox — the kind cluster and
// registry container; on an existing cluster, the namespace if imagelab
// created it (it carries the label), never anything else — and imagelab's
// own files. The learner's manifests in the work dir are kept.
func Remove(ctx context.Context, sb *Sandbox, stateDir string, report Reporter) error {
	var errs []error
	switch sb.Provider {
	case ProviderExisting:
		done := report.phase(PhaseNamespace, TaskRemoveNamespace, sb.Namespace, "Removing namespace "+sb.Namespace)
		if err := removeNamespace(ctx, sb); err != nil {
			errs = append(errs, err)
		}
		done()
	case ProviderKind:
		return DownKind(ctx, KindOptions{Name: sb.Name, StateDir: stateDir, Report: report}, sb)
	case ProviderWorkshop:
		// The namespace and the registry account are the instructor's to
		// remove (imagelab workshop delete); imagelab join makes them ours again.
	default:
		return fmt.Errorf("unknown sandbox provider %q", sb.Provider)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return forgetFiles(sb, stateDir)
}

func removeNamespace(ctx context.Context, sb *Sandbox) error {
	client, err := sb.Client()
	if err != nil {
		return err
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, sb.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading namespace %s: %w", sb.Namespace, err)
	}
	if !sb.CreatedNamespace || !sb.Owns(ns.Labels) {
		return nil // not made by this sandbox: leave it
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, sb.Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", sb.Namespace, err)
	}
	return nil
}

// forgetFiles removes imagelab's own files for the sandbox: only those
// inside the state dir.
func forgetFiles(sb *Sandbox, stateDir string) error {
	for _, p := range []string{sb.Kubeconfig, sb.DockerConfigDir, sb.Registry.CA} {
		if p != "" && isUnder(p, stateDir) {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return Forget(stateDir)
}

func isUnder(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// RemoveLeftovers removes containers that this state dir's sandboxes made
// (they carry its label) when no sandbox record is left, after a crash for
// instance. It returns their names. Without an engine there is nothing to do.
func RemoveLeftovers(ctx context.Context, stateDir string) ([]string, error) {
	rt, err := chooseRuntime(ctx, "", nil)
	if err != nil {
		return nil, nil
	}
	out, err := rt.run(ctx, nil, "ps", "-a", "--format", "{{.Names}}", "--filter", "label="+LabelManagedBy+"="+ManagedBy,
		"--filter", "label="+LabelStateDir+"="+StateLabel(stateDir))
	if err != nil || out == "" {
		return nil, err
	}
	names := strings.Fields(out)
	if _, err := rt.run(ctx, nil, append([]string{"rm", "-f", "-v"}, names...)...); err != nil {
		return nil, err
	}
	return names, nil
}
