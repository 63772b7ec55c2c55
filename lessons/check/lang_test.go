package check

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/internal/testenv"
)

// TestFindingsSpeakTheLearnersLanguage: a check judges the same way in
// every language, with the same finding codes; only its words change.
func TestFindingsSpeakTheLearnersLanguage(t *testing.T) {
	cases := map[string]func() *corev1.Secret{
		"missing": func() *corev1.Secret { return nil },
		"wrong password": func() *corev1.Secret {
			return regcred("regcred", "", "learner", "wrong")
		},
		"opaque": func() *corev1.Secret {
			s := regcred("regcred", "", "learner", testenv.TestPassword)
			s.Type = corev1.SecretTypeOpaque
			return s
		},
		"right": func() *corev1.Secret { return regcred("regcred", "", "learner", testenv.TestPassword) },
	}
	for name, secret := range cases {
		t.Run(name, func(t *testing.T) {
			run := func(l i18n.Lang) Result {
				env, host := fakeEnv(t)
				if s := secret(); s != nil {
					if s.Type != corev1.SecretTypeOpaque {
						s = regcred("regcred", host, "learner", passwordOf(s))
					}
					env.Kube = fake.NewClientset(s)
				} else {
					env.Kube = fake.NewClientset()
				}
				env.Printer = i18n.For(l)
				res, err := Run(context.Background(), "secret.pull", env, Request{Params: map[string]string{"secret": "regcred"}})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			en, ko := run(i18n.English), run(i18n.Korean)
			sameVerdict(t, en, ko)
			text := ko.Summary
			for _, f := range ko.Findings {
				text += f.Problem
			}
			if !testenv.HasHangul(text) {
				t.Errorf("no Korean in the Korean result: %+v", ko)
			}
		})
	}
}

func passwordOf(s *corev1.Secret) string {
	if strings.Contains(string(s.Data[corev1.DockerConfigJsonKey]), `"wrong"`) {
		return "wrong"
	}
	return testenv.TestPassword
}

// sameVerdict fails the test unless a check's English and Korean results
// pass alike with the same finding codes, in order.
func sameVerdict(t *testing.T, en, ko Result) {
	t.Helper()
	if en.Passed != ko.Passed {
		t.Fatalf("passed in English %v, in Korean %v", en.Passed, ko.Passed)
	}
	if !slices.Equal(findingCodes(en), findingCodes(ko)) {
		t.Errorf("codes in English %v, in Korean %v", findingCodes(en), findingCodes(ko))
	}
}

func findingCodes(r Result) []string {
	var c []string
	for _, f := range r.Findings {
		c = append(c, f.Code)
	}
	return c
}
