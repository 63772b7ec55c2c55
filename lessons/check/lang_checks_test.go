package check

import (
	"context"
	"os"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
)

// TestMoreChecksSpeakTheLearnersLanguage: as TestFindingsSpeakTheLearnersLanguage, for
// more checks: each case's result in English and in Korean has the same
// verdict and codes, and the Korean one's words are Korean.
func TestMoreChecksSpeakTheLearnersLanguage(t *testing.T) {
	// Each case makes its result from an Env in the learner's language.
	cases := map[string]func(t *testing.T, env *Env) Result{
		"image name in capitals": func(t *testing.T, env *Env) Result {
			return runCheck(t, env, "image.full-name", Request{Params: map[string]string{"image": "nginx"}, Answer: "docker.io/library/NGINX:latest"})
		},
		"image name with defaults": func(t *testing.T, env *Env) Result {
			return runCheck(t, env, "image.full-name", Request{Params: map[string]string{"image": "nginx"}, Answer: "nginx"})
		},
		"image name right": func(t *testing.T, env *Env) Result {
			return runCheck(t, env, "image.full-name", Request{Params: map[string]string{"image": "nginx"}, Answer: "docker.io/library/nginx:latest"})
		},
		"another part of the name": func(t *testing.T, env *Env) Result {
			return runCheck(t, env, "image.part", Request{Params: map[string]string{"image": "gcr.io/google-containers/pause:3.9", "part": "account"}, Answer: "gcr.io"})
		},
		"not logged in": func(t *testing.T, env *Env) Result {
			env.DockerConfigDir = t.TempDir()
			return runCheck(t, env, "docker.login", Request{})
		},
		"pod not pinned": func(t *testing.T, env *Env) Result {
			pushIndex(t, env, "apps/multi", "1.0")
			pod := runningPod("pinned", env.Registry.Host+"/apps/multi:1.0", "default", "regcred")
			env.Kube = fake.NewClientset(pod, regcred("regcred", env.Registry.Host, "learner", testenv.TestPassword))
			return runCheck(t, env, "pod.digest", Request{Params: map[string]string{"pod": "pinned", "repository": "apps/multi", "tag": "1.0", "secret": "regcred"}})
		},
		"webhook not on": func(t *testing.T, env *Env) Result {
			n := localNode{t.TempDir()}
			if err := os.WriteFile(n.Files().APIServerManifest, []byte(webhookManifest), 0o600); err != nil {
				t.Fatal(err)
			}
			env.Node = n
			return fail(readWebhookSetup(context.Background(), env).notConsulted(env))
		},
		"kubelet checks under NeverVerify": func(t *testing.T, env *Env) Result {
			return fail(*judgeCachedImage(env, "NeverVerify", cachedImageProbe{}))
		},
		"no admission policy": func(t *testing.T, env *Env) Result {
			private := env.Registry.Repo("apps/internal-app") + ":1.0"
			parts, err := SplitImage(private)
			if err != nil {
				t.Fatal(err)
			}
			answers := map[string]answer{}
			for _, p := range registryProbes(env, private, parts) {
				answers[p.name] = answer{probe: p, admitted: true}
			}
			inv := admissionInventory{policies: []admissionv1.ValidatingAdmissionPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "private-registry-only"}}}}
			return fail(noPolicy(env, inv, answers, "private-registry-only", parts.Registry)...)
		},
	}
	for name, result := range cases {
		t.Run(name, func(t *testing.T) {
			res := map[i18n.Lang]Result{}
			for _, l := range []i18n.Lang{i18n.English, i18n.Korean} {
				env, _ := fakeEnv(t)
				env.Printer = i18n.For(l)
				res[l] = result(t, env)
			}
			en, ko := res[i18n.English], res[i18n.Korean]
			sameVerdict(t, en, ko)
			words := func(r Result) string {
				s := r.Summary
				for _, f := range r.Findings {
					s += f.Problem + f.Expected + f.Try
				}
				return s
			}
			if testenv.HasHangul(words(en)) {
				t.Errorf("Korean in the English result: %+v", en)
			}
			if !testenv.HasHangul(words(ko)) || strings.Contains(words(ko), "%!") {
				t.Errorf("the Korean result is not (well-formed) Korean: %+v", ko)
			}
		})
	}
}

func runCheck(t *testing.T, env *Env, check string, req Request) Result {
	t.Helper()
	res, err := Run(context.Background(), check, env, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
