// Package contracttest proves, from outside the check package, that a new
// kind of check needs nothing but its Definition: a throwaway check on
// ConfigMaps — a kind no built-in check knows — is loaded, watched,
// polled and reset by the same code the app uses, against a real API
// server.
package contracttest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// configMaps is the new kind's subject, declared next to its check as a
// check file would.
var configMaps = check.KubeObjects("configmap", func(c kubernetes.Interface, ns string) check.ObjectClient[*corev1.ConfigMap] {
	return c.CoreV1().ConfigMaps(ns)
})

const checkName = "test.configmap"

func init() {
	check.Register(check.Definition{
		Name:     checkName,
		Params:   []string{"name"},
		Needs:    check.NeedsCluster,
		Watches:  []*check.Subject{configMaps},
		Resets:   []*check.Subject{configMaps},
		Criteria: []check.Criterion{{Name: "exists", Gate: true}, {Name: "greeting", Doc: "data.greeting is hello"}},
		Run: func(ctx context.Context, env *check.Env, req check.Request) (check.Result, error) {
			cm, err := env.Kube.CoreV1().ConfigMaps(env.Namespace).Get(ctx, req.Params["name"], metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return check.Result{Findings: []check.Finding{{Code: "configmap-missing", Severity: check.Problem, Criterion: "exists", Problem: "no configmap yet"}}}, nil
			}
			if err != nil {
				return check.Result{}, err
			}
			if cm.Data["greeting"] != "hello" {
				return check.Result{Findings: []check.Finding{{Code: "configmap-greeting", Severity: check.Problem, Criterion: "greeting", Problem: "greeting is not hello"}}}, nil
			}
			return check.Result{Passed: true, Summary: "hello"}, nil
		},
	})
}

func curriculum(reset string) fstest.MapFS {
	return fstest.MapFS{
		"01-cm/lesson.yaml": {Data: []byte(fmt.Sprintf(`id: cm
title: ConfigMaps
order: 1
steps:
  - id: make
    title: Make one
    check:
      name: %s
      params:
        name: greeting
    solution:
      run: kubectl create configmap greeting --from-literal=greeting=hello
    reset:
      - %s
`, checkName, reset))},
		"01-cm/make.md": {Data: []byte("# Make one\n")},
	}
}

func TestLoaderTakesResetsFromTheDefinition(t *testing.T) {
	if _, err := lessons.Load(curriculum("configmap/greeting")); err != nil {
		t.Fatalf("a reset the check declares is refused: %v", err)
	}
	_, err := lessons.Load(curriculum("secret/greeting"))
	if err == nil || !strings.Contains(err.Error(), "cannot reset secret objects") || !strings.Contains(err.Error(), "it resets: configmap") {
		t.Fatalf("a reset the check cannot carry out was loaded: %v", err)
	}
}

func TestNeedsWatchAndPollFollowTheDefinition(t *testing.T) {
	cur, err := lessons.Load(curriculum("configmap/greeting"))
	if err != nil {
		t.Fatal(err)
	}
	step := cur.Steps()[0]
	def := step.Definition()
	if !step.Needs().Sandbox() || step.IsQuiz() {
		t.Errorf("needs = %v: a cluster check is a sandbox step", step.Needs())
	}
	if !def.Watching("configmap") || def.Watching("pod") || def.Polls() {
		t.Errorf("watching configmap %v, pod %v, polls %v", def.Watching("configmap"), def.Watching("pod"), def.Polls())
	}
	watched := check.WatchedBy(def)
	if len(watched) != 1 || watched[0] != configMaps {
		t.Errorf("watched = %v", watched)
	}
	// Needs are enforced from the definition: no cluster, no run.
	if _, err := step.Run(context.Background(), &check.Env{}, lessons.Placeholder(), ""); !errors.Is(err, check.ErrNoSandbox) {
		t.Errorf("ran without a cluster: %v", err)
	}
}

// TestWatchAndResetOnARealAPIServer: the app's watcher sees the new kind
// change, the criteria score it, and reset deletes it and waits until it
// is gone — all from the Definition.
func TestIntegrationWatchAndResetFollowTheDefinition(t *testing.T) {
	api := testenv.SharedAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := "contract"
	if _, err := api.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cur, err := lessons.Load(curriculum("configmap/greeting"))
	if err != nil {
		t.Fatal(err)
	}
	step := cur.Steps()[0]
	env := &check.Env{Kube: api.Client, Namespace: ns}

	changes := make(chan check.Change, 16)
	check.Watch(ctx, env, check.WatchedBy(step.Definition()), func(c check.Change) { changes <- c }, func(string, error) {})
	time.Sleep(300 * time.Millisecond) // let the watch open before the change

	if _, err := api.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "greeting"}, Data: map[string]string{"greeting": "hi"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-changes:
		if c.Kind != "configmap" || c.Name != "greeting" {
			t.Errorf("change = %+v", c)
		}
	case <-ctx.Done():
		t.Fatal("the watch never reported the new configmap")
	}

	res, err := step.Run(ctx, env, lessons.Placeholder(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []check.CriterionVerdict{{Name: "exists", Met: true, Judged: true}, {Name: "greeting", Met: false, Judged: true, Findings: []string{"configmap-greeting"}}}
	if fmt.Sprint(res.Criteria) != fmt.Sprint(want) {
		t.Errorf("criteria = %+v, want %+v", res.Criteria, want)
	}

	if err := step.ResetIn(ctx, env, lessons.Placeholder(), false); !errors.Is(err, lessons.ErrNotOurNamespace) {
		t.Errorf("reset deleted in a namespace that is not imagelab's: %v", err)
	}
	if err := step.ResetIn(ctx, env, lessons.Placeholder(), true); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := api.Client.CoreV1().ConfigMaps(ns).Get(ctx, "greeting", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the configmap is still there after reset: %v", err)
	}
	res, err = step.Run(ctx, env, lessons.Placeholder(), "")
	if err != nil || res.Passed || !res.HasFinding("configmap-missing") {
		t.Errorf("after reset: %+v, %v", res, err)
	}
	if res.Criteria[1].Judged {
		t.Errorf("a criterion behind a failed gate was judged: %+v", res.Criteria)
	}
}
