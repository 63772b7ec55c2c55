package workshop

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
)

// TestCacheClient: the typed client the board's checks use reads the
// informers' stores — gets, lists with label and field selectors — and
// is refused everything else.
func TestCacheClient(t *testing.T) {
	pods := cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.Pod{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	events := cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.Event{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "w1-ana", Labels: map[string]string{"app": "x"}}, Spec: corev1.PodSpec{ServiceAccountName: "puller"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "w1-ana"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "w1-bob"}},
	} {
		if err := pods.GetStore().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	_ = events.GetStore().Add(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "w1-ana"}, Reason: "Failed",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "a", UID: "u1"}})
	_ = events.GetStore().Add(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: "w1-ana"}, Reason: "Pulled",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "b", UID: "u2"}})
	c := newCacheClient([]*cachedKind{
		{resource: corev1.SchemeGroupVersion.WithResource("pods"), kind: "Pod", informer: pods, fields: podFields},
		{resource: corev1.SchemeGroupVersion.WithResource("events"), kind: "Event", informer: events, fields: eventFields},
	})
	ctx := context.Background()

	p, err := c.CoreV1().Pods("w1-ana").Get(ctx, "a", metav1.GetOptions{})
	if err != nil || p.Name != "a" || p.Namespace != "w1-ana" || p.Spec.ServiceAccountName != "puller" {
		t.Fatalf("get: %+v, %v", p, err)
	}
	if _, err := c.CoreV1().Pods("w1-ana").Get(ctx, "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a pod that is not there: %v", err)
	}
	list, err := c.CoreV1().Pods("w1-ana").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 2 {
		t.Errorf("list in one namespace: %d, %v", len(list.Items), err)
	}
	list, _ = c.CoreV1().Pods("w1-ana").List(ctx, metav1.ListOptions{LabelSelector: "app=x"})
	if len(list.Items) != 1 {
		t.Errorf("list by label: %d", len(list.Items))
	}
	evs, err := c.CoreV1().Events("w1-ana").List(ctx, metav1.ListOptions{FieldSelector: fields.Set{"involvedObject.name": "a", "involvedObject.uid": "u1"}.AsSelector().String()})
	if err != nil || len(evs.Items) != 1 || evs.Items[0].Reason != "Failed" {
		t.Errorf("events by field: %+v, %v", evs, err)
	}
	for name, err := range map[string]error{
		"create": func() error {
			_, err := c.CoreV1().Pods("w1-ana").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}(),
		"delete": c.CoreV1().Pods("w1-ana").Delete(ctx, "a", metav1.DeleteOptions{}),
		"watch": func() error {
			_, err := c.CoreV1().Pods("w1-ana").Watch(ctx, metav1.ListOptions{})
			return err
		}(),
		"another kind": func() error {
			_, err := c.CoreV1().Secrets("w1-ana").Get(ctx, "s", metav1.GetOptions{})
			return err
		}(),
		"an unknown field": func() error {
			_, err := c.CoreV1().Pods("w1-ana").List(ctx, metav1.ListOptions{FieldSelector: "spec.hostname=x"})
			return err
		}(),
	} {
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), errCacheOnly.Error()) {
			t.Errorf("%s through the board's client: %v", name, err)
		}
	}
}

func TestParseAPIPath(t *testing.T) {
	for path, want := range map[string][4]string{
		"/api/v1/namespaces/w1-ana/pods/a":            {"v1", "w1-ana", "pods", "a"},
		"/api/v1/namespaces/w1-ana/pods":              {"v1", "w1-ana", "pods", ""},
		"/api/v1/namespaces/w1-ana":                   {"v1", "", "namespaces", "w1-ana"},
		"/api/v1/namespaces":                          {"v1", "", "namespaces", ""},
		"/apis/apps/v1/namespaces/w1-ana/deployments": {"apps/v1", "w1-ana", "deployments", ""},
		"/api/v1/pods":                                {"v1", "", "pods", ""},
	} {
		gv, ns, res, name, ok := parseAPIPath(path)
		if !ok || [4]string{gv, ns, res, name} != want {
			t.Errorf("%s: %s %s %s %s %v", path, gv, ns, res, name, ok)
		}
	}
	if _, _, _, _, ok := parseAPIPath("/api/v1/namespaces/w1-ana/pods/a/log"); ok {
		t.Error("a subresource is read")
	}
}
