package check

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
)

// TestMoreFindingsSpeakTheLearnersLanguage: the checks of pods, service
// accounts, pushes, quizzes, hardening, SBOMs and signatures judge the
// same way in English and Korean — the same verdict, the same codes in
// the same order — and in Korean every finding's problem is Korean.
func TestMoreFindingsSpeakTheLearnersLanguage(t *testing.T) {
	const hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	image := func(host string) string { return host + "/apps/internal-app:1.0" }
	unhardened := func(host string) runtime.Object {
		return runningPod("web", image(host), "")
	}
	cases := []struct {
		name, check string
		objs        func(host string) []runtime.Object
		params      func(host string) map[string]string
		answer      string
		files       map[string]string // in the work dir
		codes       []string          // some of the codes it must give
	}{
		{name: "quiz without an answer", check: "quiz.choice", codes: []string{"answer-missing"},
			params: func(string) map[string]string { return map[string]string{"correct": "b", "options": "a,b,c"} }},
		{name: "quiz, no such option", check: "quiz.choice", answer: "z", codes: []string{"answer-not-an-option"},
			params: func(string) map[string]string { return map[string]string{"correct": "b", "options": "a,b,c"} }},
		{name: "quiz, wrong pick", check: "quiz.choice", answer: "a", codes: []string{"wrong-choice"},
			params: func(string) map[string]string { return map[string]string{"correct": "b", "options": "a,b,c"} }},
		{name: "service account missing", check: "serviceaccount.pull-secret", codes: []string{"serviceaccount-missing"},
			params: func(string) map[string]string {
				return map[string]string{"serviceaccount": "puller", "secret": "regcred"}
			}},
		{name: "secret under secrets", check: "serviceaccount.pull-secret", codes: []string{"serviceaccount-secret-in-secrets"},
			objs: func(string) []runtime.Object {
				return []runtime.Object{&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "puller", Namespace: "lab"},
					Secrets: []corev1.ObjectReference{{Name: "regcred"}}}}
			},
			params: func(string) map[string]string {
				return map[string]string{"serviceaccount": "puller", "secret": "regcred"}
			}},
		{name: "pod missing", check: "pod.pulled", codes: []string{"pod-missing"},
			params: func(h string) map[string]string { return map[string]string{"pod": "app", "image": image(h)} }},
		{name: "pod with another image", check: "pod.pulled", codes: []string{"pod-image-no-registry"},
			objs:   func(string) []runtime.Object { return []runtime.Object{runningPod("app", "nginx:1.27", "")} },
			params: func(h string) map[string]string { return map[string]string{"pod": "app", "image": image(h)} }},
		{name: "pod without pull secret", check: "pod.pulled", codes: []string{"pod-no-pull-secret", "pod-pulled-without-secret"},
			objs: func(h string) []runtime.Object {
				return []runtime.Object{runningPod("app", image(h), ""), regcred("regcred", h, "learner", "x")}
			},
			params: func(h string) map[string]string { return map[string]string{"pod": "app", "image": image(h)} }},
		{name: "pod with a pull secret where none is wanted", check: "pod.pull-denied", codes: []string{"pod-has-pull-secret"},
			objs:   func(h string) []runtime.Object { return []runtime.Object{runningPod("app", image(h), "", "regcred")} },
			params: func(h string) map[string]string { return map[string]string{"pod": "app", "image": image(h)} }},
		{name: "pod not hardened", check: "pod.hardened", codes: []string{"hardened-root-allowed", "hardened-escalation-allowed", "hardened-root-writable", "hardened-capabilities-kept", "hardened-no-resources"},
			objs:   func(h string) []runtime.Object { return []runtime.Object{unhardened(h)} },
			params: func(string) map[string]string { return map[string]string{"pod": "web"} }},
		{name: "hardened pod missing", check: "pod.hardened", codes: []string{"hardened-pod-missing"},
			params: func(string) map[string]string { return map[string]string{"pod": "web"} }},
		{name: "image not pushed", check: "registry.image", codes: []string{"push-missing"},
			params: func(string) map[string]string { return map[string]string{"repository": "apps/my-app", "tag": "v1"} }},
		{name: "no SBOM yet", check: "image.sbom", codes: []string{"sbom-missing"},
			params: func(string) map[string]string {
				return map[string]string{"file": "ledger-sbom.json", "image": "apps/ledger:2.3", "package": "openssl"}
			}},
		{name: "SBOM printed as a table", check: "image.sbom", codes: []string{"sbom-not-json"},
			files: map[string]string{"ledger-sbom.json": "ledger:2.3 (debian 12)\n=====\nTotal: 0\n"},
			params: func(string) map[string]string {
				return map[string]string{"file": "ledger-sbom.json", "image": "apps/ledger:2.3", "package": "openssl"}
			}},
		{name: "signed pod gone", check: "image.signed", codes: []string{"sign-pod-missing"},
			params: func(string) map[string]string { return map[string]string{"pod": "release"} }},
		{name: "no public key", check: "image.signed", codes: []string{"sign-no-key"},
			objs: func(h string) []runtime.Object {
				p := runningPod("release", h+"/apps/release@sha256:"+hex, "")
				p.Status.ContainerStatuses[0].ImageID = h + "/apps/release@sha256:" + hex
				return []runtime.Object{p}
			},
			params: func(string) map[string]string { return map[string]string{"pod": "release"} }},
	}
	env0, host := fakeEnv(t)
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() {
				for name := range tc.files {
					os.Remove(filepath.Join(dir, name))
				}
			})
			run := func(l i18n.Lang) Result {
				env := *env0
				var objs []runtime.Object
				if tc.objs != nil {
					objs = tc.objs(host)
				}
				env.Kube = fake.NewClientset(objs...)
				env.WorkDir = dir
				env.Printer = i18n.For(l)
				var params map[string]string
				if tc.params != nil {
					params = tc.params(host)
				}
				res, err := Run(context.Background(), tc.check, &env, Request{Params: params, Answer: tc.answer})
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				return res
			}
			en, ko := run(i18n.English), run(i18n.Korean)
			sameVerdict(t, en, ko)
			for _, want := range tc.codes {
				if !en.HasFinding(want) {
					t.Errorf("no %s among %v", want, findingCodes(en))
				}
			}
			for i, f := range ko.Findings {
				if !testenv.HasHangul(f.Problem) {
					t.Errorf("finding %s is not in Korean: %q", f.Code, f.Problem)
				}
				if f.Evidence != en.Findings[i].Evidence {
					t.Errorf("finding %s: the evidence changed with the language: %q, %q", f.Code, en.Findings[i].Evidence, f.Evidence)
				}
			}
		})
	}
}

// TestCouldNotCheckSpeaksTheLearnersLanguage: why a check could not run
// is said in the learner's language and is still, for errors.Is, what
// the app and the exam tell apart (the sandbox not ready, not answering).
func TestCouldNotCheckSpeaksTheLearnersLanguage(t *testing.T) {
	ko := &Env{Printer: i18n.For(i18n.Korean), Registry: Registry{Host: "localhost:5055"}}
	_, err := Run(context.Background(), "pod.pulled", ko, Request{Params: map[string]string{"pod": "app", "image": "localhost:5055/apps/internal-app"}})
	if !errors.Is(err, ErrNoSandbox) || !testenv.HasHangul(err.Error()) {
		t.Errorf("no cluster: %v", err)
	}
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, u := range []string{"https://127.0.0.1:6443/api", "http://localhost:5055/v2/"} {
		refused.URL = u
		err := explainUnreachable(refused, ko)
		if !errors.Is(err, ErrUnreachable) || !testenv.HasHangul(err.Error()) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s: %v", u, err)
		}
		if en := explainUnreachable(refused, &Env{Registry: ko.Registry}); !strings.Contains(en.Error(), "does not answer") {
			t.Errorf("%s in English: %v", u, en)
		}
	}
}
