package workshop

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop/registry"
)

// DeleteOptions say which workshop to remove.
type DeleteOptions struct {
	Client kubernetes.Interface
	// Admin is the registry's admin API; with no Host, registry accounts
	// are left (and Delete says so).
	Admin registry.Admin
	ID    string
	// Wait is how long to wait for the namespaces to be gone, when a
	// namespace controller finishes them (0: do not wait).
	Wait   time.Duration
	Report func(Event)
}

// Deleted is what Delete removed.
type Deleted struct {
	Namespaces []string `json:"namespaces"`
	Accounts   []string `json:"registryAccounts"`
}

// Delete removes what Create made for the workshop, and nothing else: the
// namespaces that carry both imagelab's label and the workshop's (with
// everything in them), and the registry accounts made for the workshop
// (with their repositories). In each namespace it first deletes the
// workshop's own objects — the binding first, so the attendee's token
// stops working at once — rather than wait for the namespace controller.
func Delete(ctx context.Context, opts DeleteOptions) (Deleted, error) {
	report := opts.Report
	if report == nil {
		report = func(Event) {}
	}
	var out Deleted
	if err := ValidID(opts.ID); err != nil {
		return out, err
	}
	sel := metav1.ListOptions{LabelSelector: selector(opts.ID).String()}
	nss, err := opts.Client.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		return out, fmt.Errorf("listing the workshop's namespaces: %w", err)
	}
	var errs []error
	for _, ns := range nss.Items {
		// Listed by label; checked again, as anything deleted must be.
		if ns.Labels[sandbox.LabelManagedBy] != sandbox.ManagedBy || ns.Labels[LabelWorkshop] != opts.ID {
			continue
		}
		report(Event{Step: StepDeleteNamespace, Subject: ns.Name})
		if err := deleteOwn(ctx, opts.Client, ns.Name, sel); err != nil {
			errs = append(errs, err)
			continue
		}
		if ns.DeletionTimestamp == nil {
			if err := opts.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting namespace %s: %w", ns.Name, err))
				continue
			}
		}
		out.Namespaces = append(out.Namespaces, ns.Name)
	}
	if opts.Admin.Host != "" {
		accounts, err := opts.Admin.Accounts(ctx, opts.ID)
		if err != nil {
			errs = append(errs, err)
		}
		for _, acc := range accounts {
			if acc.Workshop != opts.ID {
				continue
			}
			report(Event{Step: StepDeleteAccount, Subject: acc.Name})
			if err := opts.Admin.DeleteAccount(ctx, acc.Name); err != nil {
				errs = append(errs, err)
				continue
			}
			out.Accounts = append(out.Accounts, acc.Name)
		}
	} else {
		errs = append(errs, errors.New("no registry named (--registry and its admin): the workshop's registry accounts are left"))
	}
	sort.Strings(out.Namespaces)
	sort.Strings(out.Accounts)
	if opts.Wait > 0 && len(out.Namespaces) > 0 && namespaceController(ctx, opts.Client) {
		report(Event{Step: StepWait})
		err := wait.PollUntilContextTimeout(ctx, time.Second, opts.Wait, true, func(ctx context.Context) (bool, error) {
			left, err := opts.Client.CoreV1().Namespaces().List(ctx, sel)
			return err == nil && len(left.Items) == 0, nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("the namespaces are still terminating after %s (a finalizer or a controller that is down)", opts.Wait))
		}
	}
	return out, errors.Join(errs...)
}

// deleteOwn deletes the workshop's own objects in a namespace: what
// Create made there and the mirrored progress (all labelled).
func deleteOwn(ctx context.Context, client kubernetes.Interface, ns string, sel metav1.ListOptions) error {
	del := metav1.DeleteOptions{}
	for _, d := range []struct {
		what string
		fn   func() error
	}{
		{"role bindings", func() error { return client.RbacV1().RoleBindings(ns).DeleteCollection(ctx, del, sel) }},
		{"roles", func() error { return client.RbacV1().Roles(ns).DeleteCollection(ctx, del, sel) }},
		{"service accounts", func() error { return client.CoreV1().ServiceAccounts(ns).DeleteCollection(ctx, del, sel) }},
		{"config maps", func() error { return client.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, del, sel) }},
		{"limit ranges", func() error { return client.CoreV1().LimitRanges(ns).DeleteCollection(ctx, del, sel) }},
		{"resource quotas", func() error { return client.CoreV1().ResourceQuotas(ns).DeleteCollection(ctx, del, sel) }},
	} {
		if err := d.fn(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the workshop's %s in %s: %w", d.what, ns, err)
		}
	}
	return nil
}

// namespaceController tells whether a kube-controller-manager runs (it
// holds its leader lease), which finishes deleted namespaces. A bare API
// server, as in tests, has none. When the lease cannot be read, assume a
// normal cluster.
func namespaceController(ctx context.Context, client kubernetes.Interface) bool {
	_, err := client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	return err == nil || !apierrors.IsNotFound(err)
}
