package workshop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop/registry"
)

// lessonPods are the pods the lessons make or ask for: those in the
// steps' setups, outcomes and solution files, and, for a solution that
// runs kubectl run, the pod it makes (one container, nothing set).
func lessonPods(t *testing.T, v lessons.Values) map[string]*corev1.Pod {
	t.Helper()
	cur, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*corev1.Pod{}
	for _, s := range cur.Steps() {
		docs := map[string]string{"setup": s.RenderedSetup(v), "given": s.RenderedGiven(v)}
		sol := s.RenderedSolution(v)
		for name, body := range sol.Files {
			docs["solution "+name] = body
		}
		for what, body := range docs {
			for i, doc := range strings.Split(body, "\n---") {
				obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
				if p, ok := obj.(*corev1.Pod); ok && err == nil {
					out[fmt.Sprintf("%s %s #%d (%s)", s.Ref(), what, i+1, p.Name)] = p
				}
			}
		}
		if strings.Contains(sol.Run, "kubectl run") {
			out[s.Ref()+" solution: kubectl run"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "run"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "run", Image: v.Repos + "/apps/internal-app:1.0"}}}}
		}
	}
	return out
}

// TestIntegrationPodSecurity is why a seat enforces baseline, not
// restricted: every pod the lessons make is offered (a server-side dry
// run) to a namespace of each level. restricted refuses the lessons' own
// pods (kubectl run sets no securityContext); baseline admits them all but
// the hardening step's starting pod, privileged on purpose.
func TestIntegrationPodSecurity(t *testing.T) {
	client, _ := instructor(t)
	ctx := context.Background()
	v := lessons.NewValues("registry.example:5000", "u", "p", "ps").WithPrefix("w-ps")
	levels := []string{"restricted", "baseline"}
	for _, level := range levels {
		ns := "pod-security-" + level
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": "latest"}}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if err := ensureDefaultServiceAccount(ctx, client, ns, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
	pods := lessonPods(t, v)
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	refused := map[string][]string{}
	var table strings.Builder
	for _, n := range names {
		fmt.Fprintf(&table, "\n  %-70s", n)
		for _, level := range levels {
			p := pods[n].DeepCopy()
			p.Namespace = "pod-security-" + level
			if sa := p.Spec.ServiceAccountName; sa != "" {
				_, _ = client.CoreV1().ServiceAccounts(p.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
			}
			_, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			verdict := "admitted"
			if err != nil {
				if !strings.Contains(err.Error(), "PodSecurity") {
					t.Fatalf("%s in %s: %v", n, level, err)
				}
				verdict = "refused"
				refused[level] = append(refused[level], n)
			}
			fmt.Fprintf(&table, " %s:%-8s", level, verdict)
		}
	}
	t.Logf("the lessons' pods under Pod Security:%s", table.String())
	if len(refused["restricted"]) < len(pods)/2 {
		t.Errorf("restricted refuses only %v: the reason for baseline is gone", refused["restricted"])
	}
	for _, n := range refused["baseline"] {
		if !strings.HasPrefix(n, "supply-chain-tools/harden setup") {
			t.Errorf("baseline refuses a lesson's pod: %s", n)
		}
	}
}

// failingAdmin fails the registry account of one attendee: Create fails
// half-way.
type failingAdmin struct {
	rt      http.RoundTripper
	account string
}

func (f failingAdmin) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/accounts/"+f.account) {
		return nil, errors.New("the registry went away")
	}
	return f.rt.RoundTrip(r)
}

// TestIntegrationCreateFailureUndoes: a create that fails half-way (the
// registry fails one attendee's account) leaves nothing labelled and no
// registry account; one refused at the start (a wrong admin password)
// makes nothing at all.
func TestIntegrationCreateFailureUndoes(t *testing.T) {
	client, cfg := instructor(t)
	host, admin := testRegistry(t)
	ctx := context.Background()
	opts := CreateOptions{Client: client, Config: cfg, Names: NumberedNames(8), Registry: Registry{Host: host},
		Seed: sandbox.SeedOptions{Source: testenv.SeedTarball(t)}, Expires: time.Hour}

	wrong := admin
	wrong.Password = "not-the-admins"
	opts.ID, opts.Admin = "wrefused", wrong
	if _, _, err := Create(ctx, opts); !errors.Is(err, registry.ErrNotAdmin) {
		t.Fatalf("a wrong admin password: %v", err)
	}
	if nss, _ := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: LabelWorkshop + "=wrefused"}); len(nss.Items) > 0 {
		t.Errorf("a refused create made %d namespaces", len(nss.Items))
	}

	broken := admin
	broken.Transport = failingAdmin{rt: http.DefaultTransport, account: "whalf-a05"}
	opts.ID, opts.Admin = "whalf", broken
	_, _, err := Create(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "the registry went away") {
		t.Fatalf("a create failing half-way: %v", err)
	}
	requireNothingLabelled(t, client, "whalf")
	if accounts, err := admin.Accounts(ctx, "whalf"); err != nil || len(accounts) > 0 {
		t.Errorf("registry accounts left: %v, %v", accounts, err)
	}
}
