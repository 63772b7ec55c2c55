package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
		Short: g.p.T("Put a step (or every step) back to its starting state, without recreating the cluster"),
		Long: g.p.T(`Reset deletes what a step makes in the sandbox (its pods, secrets, service
accounts, the docker login, pushed repositories) and forgets the step's
progress. Only the sandbox's own namespace and registry are touched.`),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all == (len(args) == 1) {
				return &exitError{code: 2, err: g.p.Errorf("name one step, or --all")}
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
			} else if !o.yes && !confirm(streams, g.p.T("Reset every step and forget all progress?")) {
				return g.p.Errorf("nothing reset")
			}
			// The sandbox is needed only for steps that made something in it.
			var sb *sandbox.Sandbox
			var errs []error
			start := time.Now()
			for _, s := range steps {
				if s.Resets() && sb == nil {
					if sb, err = o.sandbox.resolve(cmd.Context(), ss.stateDir); err != nil {
						errs = append(errs, err)
						break
					}
				}
				if err := resetStep(cmd.Context(), sb, s); err != nil {
					errs = append(errs, g.p.Errorf("resetting %s: %w", s.Ref(), err))
					continue // its progress stays: its objects may still be there
				}
				store.Reset(s.Ref())
				g.p.Fprintf(streams.Out, "reset %s\n", s.Ref())
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
			g.p.Fprintf(streams.Err, "done in %.1fs\n", time.Since(start).Seconds())
			return nil
		},
	}
	o.sandbox.add(cmd.Flags(), g.p)
	cmd.Flags().BoolVar(&o.all, "all", false, g.p.T("reset every step"))
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, g.p.T("do not ask"))
	return cmd
}

func confirm(streams Streams, question string) bool {
	fmt.Fprintf(streams.Err, "%s [y/N] ", question)
	line, _ := bufio.NewReader(streams.In).ReadString('\n')
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "y")
}

// resetStep deletes the objects the step lists under reset, each the way
// its check's contract says, and waits until they are gone, so the step's
// check fails again at once.
func resetStep(ctx context.Context, sb *sandbox.Sandbox, s *lessons.Step) error {
	if !s.Resets() {
		return nil
	}
	env, err := checkEnv(sb)
	if err != nil {
		return err
	}
	owns := sb.Provider == sandbox.ProviderWorkshop // the attendee's own namespace, which they may not read as an object
	if !owns {
		ns, err := env.Kube.CoreV1().Namespaces().Get(ctx, sb.Namespace, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		owns = err == nil && sb.Owns(ns.Labels)
	}
	if err := s.ResetIn(ctx, env, values(sb), owns); err != nil {
		return err
	}
	// Back to the step's starting state: what it starts from, made anew.
	return s.SetUp(ctx, env, values(sb))
}
