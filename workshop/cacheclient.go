package workshop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
	kind     string // "Pod"
	// subject is the kind as the checks' subjects name it ("pod").
	subject  string
	informer cache.SharedIndexInformer
	// fields are an object's selectable fields (the API server's own field
	// selectors for the kind, as the checks use them).
	fields func(obj runtime.Object) fields.Set
}

// newCacheClient is a kubernetes.Interface whose requests are answered
// from the informers' stores: the checks the board runs are the lessons'
// own, and they ask it what they would ask the API server. It is the
// ordinary typed client over a transport that is the cache; anything but
// a read of a kind the informers hold (a write, a watch, another kind) is
// refused with errCacheOnly.
func newCacheClient(kinds []*cachedKind) kubernetes.Interface {
	t := &cacheTransport{kinds: map[string]*cachedKind{}}
	for _, k := range kinds {
		t.kinds[k.resource.GroupVersion().String()+"/"+k.resource.Resource] = k
	}
	client, err := kubernetes.NewForConfigAndClient(&rest.Config{Host: "http://board.cache", QPS: -1}, &http.Client{Transport: t})
	if err != nil {
		panic(err) // a fixed configuration: a bug if it does not build
	}
	return client
}

// cacheTransport answers the API's GETs from the informers' stores.
type cacheTransport struct {
	kinds map[string]*cachedKind
}

func (t *cacheTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	gv, ns, resource, name, ok := parseAPIPath(r.URL.Path)
	k := t.kinds[gv+"/"+resource]
	q := r.URL.Query()
	if !ok || k == nil || r.Method != http.MethodGet || q.Get("watch") == "true" || q.Get("watch") == "1" {
		return status(r, http.StatusForbidden, metav1.StatusReasonForbidden, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, errCacheOnly)), nil
	}
	if name != "" {
		key := name
		if ns != "" {
			key = ns + "/" + name
		}
		obj, found, err := k.informer.GetIndexer().GetByKey(key)
		if err != nil || !found {
			return status(r, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("%s %q not found", k.resource.Resource, name)), nil
		}
		return object(r, k, obj.(runtime.Object)), nil
	}
	sel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return status(r, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error()), nil
	}
	fsel, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return status(r, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error()), nil
	}
	var objs []any
	if ns != "" {
		objs, _ = k.informer.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	} else {
		objs = k.informer.GetIndexer().List()
	}
	items := []runtime.Object{}
	for _, o := range objs {
		obj := o.(runtime.Object)
		acc, err := meta.Accessor(obj)
		if err != nil || !sel.Matches(labels.Set(acc.GetLabels())) {
			continue
		}
		if !fsel.Empty() {
			set := k.fields(obj)
			for _, req := range fsel.Requirements() {
				if _, known := set[req.Field]; !known {
					return status(r, http.StatusForbidden, metav1.StatusReasonForbidden, fmt.Sprintf("field selector %s on %s: %v", req.Field, k.resource.Resource, errCacheOnly)), nil
				}
			}
			if !fsel.Matches(set) {
				continue
			}
		}
		items = append(items, obj)
	}
	body, err := json.Marshal(map[string]any{"apiVersion": gv, "kind": k.kind + "List", "metadata": map[string]any{}, "items": items})
	if err != nil {
		return nil, err
	}
	return respond(r, http.StatusOK, body), nil
}

// parseAPIPath reads /api/v1/[namespaces/NS/]RESOURCE[/NAME] and
// /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME].
func parseAPIPath(path string) (gv, ns, resource, name string, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		gv, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		gv, parts = parts[1]+"/"+parts[2], parts[3:]
	default:
		return "", "", "", "", false
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		ns, parts = parts[1], parts[2:]
	}
	switch len(parts) {
	case 1:
		return gv, ns, parts[0], "", true
	case 2:
		return gv, ns, parts[0], parts[1], true
	}
	return "", "", "", "", false // a subresource
}

func object(r *http.Request, k *cachedKind, obj runtime.Object) *http.Response {
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(k.resource.GroupVersion().WithKind(k.kind))
	body, err := json.Marshal(obj)
	if err != nil {
		return status(r, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
	}
	return respond(r, http.StatusOK, body)
}

func status(r *http.Request, code int32, reason metav1.StatusReason, msg string) *http.Response {
	body, _ := json.Marshal(&metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg})
	return respond(r, int(code), body)
}

func respond(r *http.Request, code int, body []byte) *http.Response {
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}
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
