package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/sandbox"
)

type resetOptions struct {
	sandbox sandboxFlags
	all     bool
	yes     bool
}

func newResetCommand(g *globalFlags, streams Streams) *cobra.Command {
	o := &resetOptions{}
	cmd := &cobra.Command{
		Use:   "reset [STEP | --all]",
		Short: "Put a step (or every step) back to its starting state, without recreating the cluster",
		Long: `Reset deletes what a step makes in the sandbox (its pods, secrets, service
accounts, the docker login, pushed repositories) and forgets the step's
progress. Only the sandbox's own namespace and registry are touched.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all == (len(args) == 1) {
				return &exitError{code: 2, err: errors.New("name one step, or --all")}
			}
			ss, err := g.session()
			if err != nil {
				return err
			}
			cur, store := ss.cur, ss.store
			steps := cur.Steps()
			if !o.all {
				s, err := cur.Find(args[0])
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				steps = []*lessons.Step{s}
			} else if !o.yes && !confirm(streams, "Reset every step and forget all progress?") {
				return errors.New("nothing reset")
			}
			// The sandbox is needed only for steps that made something in it.
			var sb *sandbox.Sandbox
			var errs []error
			start := time.Now()
			for _, s := range steps {
				if len(s.Reset) > 0 && sb == nil {
					if sb, err = o.sandbox.resolve(cmd.Context(), ss.stateDir); err != nil {
						errs = append(errs, err)
						break
					}
				}
				if err := resetStep(cmd.Context(), sb, s); err != nil {
					errs = append(errs, fmt.Errorf("resetting %s: %w", s.Ref(), err))
					continue // its progress stays: its objects may still be there
				}
				store.Reset(s.Ref())
				fmt.Fprintf(streams.Out, "reset %s\n", s.Ref())
			}
			if o.all && len(errs) == 0 {
				store.ResetAll()
			}
			if err := store.Save(); err != nil {
				errs = append(errs, err)
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			fmt.Fprintf(streams.Err, "done in %.1fs\n", time.Since(start).Seconds())
			return nil
		},
	}
	o.sandbox.add(cmd.Flags())
	cmd.Flags().BoolVar(&o.all, "all", false, "reset every step")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask")
	return cmd
}

func confirm(streams Streams, question string) bool {
	fmt.Fprintf(streams.Err, "%s [y/N] ", question)
	line, _ := bufio.NewReader(streams.In).ReadString('\n')
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "y")
}

// ErrNotOurNamespace keeps reset from deleting in a namespace imagelab did not create.
var ErrNotOurNamespace = errors.New("the namespace was not created by imagelab, so imagelab deletes nothing in it")

// resetStep deletes the objects the step lists under reset, and waits
// until they are gone, so the step's check fails again at once.
func resetStep(ctx context.Context, sb *sandbox.Sandbox, s *lessons.Step) error {
	if len(s.Reset) == 0 {
		return nil
	}
	client, err := sb.Client()
	if err != nil {
		return err
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, sb.Namespace, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	ours := err == nil && sb.Owns(ns.Labels)
	var errs []error
	for _, item := range s.Reset {
		kind, objName, _ := strings.Cut(item, "/")
		switch kind {
		case "docker-login":
			errs = append(errs, dockerLogout(sb))
		case "registry-repository":
			errs = append(errs, deleteRepository(ctx, sb, objName))
		default:
			if !ours {
				errs = append(errs, fmt.Errorf("%w: delete %s yourself (kubectl delete %s %s -n %s)", ErrNotOurNamespace, item, kind, objName, sb.Namespace))
				continue
			}
			errs = append(errs, deleteObject(ctx, client, sb.Namespace, kind, objName))
		}
	}
	return errors.Join(errs...)
}

// deleteObject deletes at once (no grace period: a sandbox pod has nothing
// to finish) and waits until the API server no longer has it.
func deleteObject(ctx context.Context, client kubernetes.Interface, ns, kind, objName string) error {
	now := int64(0)
	opts := metav1.DeleteOptions{GracePeriodSeconds: &now}
	var del func() error
	var get func() error
	switch kind {
	case "pod":
		del = func() error { return client.CoreV1().Pods(ns).Delete(ctx, objName, opts) }
		get = func() error { _, err := client.CoreV1().Pods(ns).Get(ctx, objName, metav1.GetOptions{}); return err }
	case "secret":
		del = func() error { return client.CoreV1().Secrets(ns).Delete(ctx, objName, opts) }
		get = func() error { _, err := client.CoreV1().Secrets(ns).Get(ctx, objName, metav1.GetOptions{}); return err }
	case "serviceaccount":
		del = func() error { return client.CoreV1().ServiceAccounts(ns).Delete(ctx, objName, opts) }
		get = func() error {
			_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, objName, metav1.GetOptions{})
			return err
		}
	case "deployment":
		bg := metav1.DeletePropagationBackground
		opts.PropagationPolicy = &bg
		del = func() error { return client.AppsV1().Deployments(ns).Delete(ctx, objName, opts) }
		get = func() error {
			_, err := client.AppsV1().Deployments(ns).Get(ctx, objName, metav1.GetOptions{})
			return err
		}
	default:
		return fmt.Errorf("cannot reset %s objects", kind)
	}
	if err := del(); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", kind, objName, err)
	}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		err := get()
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, nil
	})
}

// dockerLogout removes the sandbox registry's login from the sandbox's
// docker config (from its credential store too), as docker logout does.
func dockerLogout(sb *sandbox.Sandbox) error {
	cfg, err := dockerconfig.Load(sb.DockerConfigDir)
	if err != nil {
		return err
	}
	// As docker logout: a login that is not there is not an error.
	if err := cfg.GetCredentialsStore(sb.Registry.Host).Erase(sb.Registry.Host); err != nil && !strings.Contains(strings.ToLower(err.Error()), "not found") {
		return fmt.Errorf("docker logout %s: %w", sb.Registry.Host, err)
	}
	return cfg.Save()
}

// deleteRepository deletes every tag of repo from the sandbox registry.
func deleteRepository(ctx context.Context, sb *sandbox.Sandbox, repo string) error {
	r, err := name.NewRepository(sb.Registry.Host + "/" + repo)
	if err != nil {
		return err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(sb.Registry.Auth())}
	tags, err := remote.List(r, opts...)
	if err != nil {
		if strings.Contains(err.Error(), "NAME_UNKNOWN") || strings.Contains(err.Error(), "404") {
			return nil
		}
		return err
	}
	for _, t := range tags {
		desc, err := remote.Head(r.Tag(t), opts...)
		if err != nil {
			continue
		}
		if err := remote.Delete(r.Digest(desc.Digest.String()), opts...); err != nil {
			return fmt.Errorf("deleting %s:%s: %w", r, t, err)
		}
	}
	return nil
}
