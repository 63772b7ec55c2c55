package workshop

import (
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// errCacheOnly is what the board's client says to anything but a read of
// what its informers hold: the board never writes to an attendee's
// namespace, and never asks the API server per attendee.
var errCacheOnly = errors.New("the board judges from its informers' caches, which do not hold this")

// cachedKind is one kind of object the board's informers hold, and how
// the checks may read it.
type cachedKind struct {
	resource schema.GroupVersionResource
	kind     string
	informer cache.SharedIndexInformer
	// list wraps objects into the kind's typed list.
	list func(items []runtime.Object) runtime.Object
	// fields are an object's selectable fields (the API server's own
	// field selectors for the kind, as the checks use them).
	fields func(obj runtime.Object) fields.Set
}

// newCacheClient is a kubernetes.Interface whose reads are served from the
// informers' stores: the checks the board runs are the lessons' own, and
// they ask it what they would ask the API server. Anything else — a
// write, a kind no informer holds — is refused with errCacheOnly.
func newCacheClient(kinds []*cachedKind) kubernetes.Interface {
	c := fake.NewClientset()
	byResource := map[schema.GroupVersionResource]*cachedKind{}
	for _, k := range kinds {
		byResource[k.resource] = k
	}
	c.PrependReactor("*", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		k := byResource[action.GetResource()]
		if k == nil || action.GetSubresource() != "" {
			return true, nil, fmt.Errorf("%s %s: %w", action.GetVerb(), action.GetResource().Resource, errCacheOnly)
		}
		switch a := action.(type) {
		case k8stesting.GetAction:
			key := a.GetName()
			if ns := a.GetNamespace(); ns != "" {
				key = ns + "/" + key
			}
			obj, ok, err := k.informer.GetIndexer().GetByKey(key)
			if err != nil {
				return true, nil, err
			}
			if !ok {
				return true, nil, apierrors.NewNotFound(k.resource.GroupResource(), a.GetName())
			}
			return true, obj.(runtime.Object).DeepCopyObject(), nil
		case k8stesting.ListAction:
			r := a.GetListRestrictions()
			var objs []any
			if ns := a.GetNamespace(); ns != "" {
				var err error
				if objs, err = k.informer.GetIndexer().ByIndex(cache.NamespaceIndex, ns); err != nil {
					return true, nil, err
				}
			} else {
				objs = k.informer.GetIndexer().List()
			}
			var items []runtime.Object
			for _, o := range objs {
				obj := o.(runtime.Object)
				acc, err := meta.Accessor(obj)
				if err != nil {
					continue
				}
				if r.Labels != nil && !r.Labels.Matches(labels.Set(acc.GetLabels())) {
					continue
				}
				if r.Fields != nil && !r.Fields.Empty() {
					set := k.fields(obj)
					for _, req := range r.Fields.Requirements() {
						if _, known := set[req.Field]; !known {
							return true, nil, fmt.Errorf("field selector %s on %s: %w", req.Field, k.resource.Resource, errCacheOnly)
						}
					}
					if !r.Fields.Matches(set) {
						continue
					}
				}
				items = append(items, obj.DeepCopyObject())
			}
			return true, k.list(items), nil
		}
		return true, nil, fmt.Errorf("%s %s: %w", action.GetVerb(), action.GetResource().Resource, errCacheOnly)
	})
	c.PrependWatchReactor("*", func(action k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, fmt.Errorf("watch %s: %w", action.GetResource().Resource, errCacheOnly)
	})
	return c
}

// objectFields are every kind's selectable fields.
func objectFields(obj runtime.Object) fields.Set {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return fields.Set{}
	}
	return fields.Set{"metadata.name": acc.GetName(), "metadata.namespace": acc.GetNamespace()}
}

// eventFields are an event's selectable fields, as the API server has them.
func eventFields(obj runtime.Object) fields.Set {
	set := objectFields(obj)
	e, ok := obj.(*corev1.Event)
	if !ok {
		return set
	}
	for k, v := range map[string]string{
		"involvedObject.kind": e.InvolvedObject.Kind, "involvedObject.namespace": e.InvolvedObject.Namespace,
		"involvedObject.name": e.InvolvedObject.Name, "involvedObject.uid": string(e.InvolvedObject.UID),
		"involvedObject.apiVersion": e.InvolvedObject.APIVersion, "involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath": e.InvolvedObject.FieldPath, "reason": e.Reason, "reportingComponent": e.ReportingController,
		"source": e.Source.Component, "type": e.Type,
	} {
		set[k] = v
	}
	return set
}

// podFields are a pod's selectable fields the checks could use.
func podFields(obj runtime.Object) fields.Set {
	set := objectFields(obj)
	if p, ok := obj.(*corev1.Pod); ok {
		set["spec.nodeName"] = p.Spec.NodeName
		set["spec.serviceAccountName"] = p.Spec.ServiceAccountName
		set["status.phase"] = string(p.Status.Phase)
	}
	return set
}

// secretFields adds a secret's type.
func secretFields(obj runtime.Object) fields.Set {
	set := objectFields(obj)
	if s, ok := obj.(*corev1.Secret); ok {
		set["type"] = string(s.Type)
	}
	return set
}

// typed lists, one per kind the board holds.
func podList(items []runtime.Object) runtime.Object {
	l := &corev1.PodList{}
	for _, o := range items {
		l.Items = append(l.Items, *o.(*corev1.Pod))
	}
	return l
}

func secretList(items []runtime.Object) runtime.Object {
	l := &corev1.SecretList{}
	for _, o := range items {
		l.Items = append(l.Items, *o.(*corev1.Secret))
	}
	return l
}

func serviceAccountList(items []runtime.Object) runtime.Object {
	l := &corev1.ServiceAccountList{}
	for _, o := range items {
		l.Items = append(l.Items, *o.(*corev1.ServiceAccount))
	}
	return l
}

func eventList(items []runtime.Object) runtime.Object {
	l := &corev1.EventList{}
	for _, o := range items {
		l.Items = append(l.Items, *o.(*corev1.Event))
	}
	return l
}

func deploymentList(items []runtime.Object) runtime.Object {
	l := &appsv1.DeploymentList{}
	for _, o := range items {
		l.Items = append(l.Items, *o.(*appsv1.Deployment))
	}
	return l
}

func configMapList(items []runtime.Object) runtime.Object {
	l := &corev1.ConfigMapList{}
	for _, o := range items {
		l.Items = append(l.Items, *o.(*corev1.ConfigMap))
	}
	return l
}

func namespaceList(items []runtime.Object) runtime.Object {
	l := &corev1.NamespaceList{}
	for _, o := range items {
		l.Items = append(l.Items, *o.(*corev1.Namespace))
	}
	return l
}

// stub is what the board keeps of an object outside the workshop's
// namespaces, which the cluster-wide informers see too: its name, and
// nothing of its contents.
func stub(obj any) (any, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil
	}
	keep := metav1.ObjectMeta{Name: acc.GetName(), Namespace: acc.GetNamespace(), UID: acc.GetUID(), ResourceVersion: acc.GetResourceVersion()}
	switch obj.(type) {
	case *corev1.Pod:
		return &corev1.Pod{ObjectMeta: keep}, nil
	case *corev1.Secret:
		return &corev1.Secret{ObjectMeta: keep}, nil
	case *corev1.ServiceAccount:
		return &corev1.ServiceAccount{ObjectMeta: keep}, nil
	case *corev1.Event:
		return &corev1.Event{ObjectMeta: keep}, nil
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: keep}, nil
	}
	return obj, nil
}

// inWorkshop reports whether a namespace's name is one the workshop's
// could be (<id>-…); the namespace informer says which really are.
func inWorkshop(id, ns string) bool { return strings.HasPrefix(ns, id+"-") }
