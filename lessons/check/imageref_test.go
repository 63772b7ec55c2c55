package check

import (
	"context"
	"strings"
	"testing"
)

func TestSplitImage(t *testing.T) {
	tests := []struct {
		in   string
		want ImageParts
	}{
		{"nginx", ImageParts{Registry: "docker.io", Account: "library", Image: "nginx", Tag: "latest", Full: "docker.io/library/nginx:latest"}},
		{"library/nginx", ImageParts{Registry: "docker.io", Account: "library", Image: "nginx", Tag: "latest", Full: "docker.io/library/nginx:latest"}},
		{"myregistry/app", ImageParts{Registry: "docker.io", Account: "myregistry", Image: "app", Tag: "latest", Full: "docker.io/myregistry/app:latest"}},
		{"index.docker.io/library/nginx:1.27", ImageParts{Registry: "docker.io", Account: "library", Image: "nginx", Tag: "1.27", Full: "docker.io/library/nginx:1.27"}},
		{"gcr.io/kubernetes-e2e-test-images/dnsutils", ImageParts{Registry: "gcr.io", Account: "kubernetes-e2e-test-images", Image: "dnsutils", Tag: "latest", Full: "gcr.io/kubernetes-e2e-test-images/dnsutils:latest"}},
		{"localhost:5000/apps/internal-app:1.0", ImageParts{Registry: "localhost:5000", Account: "apps", Image: "internal-app", Tag: "1.0", Full: "localhost:5000/apps/internal-app:1.0"}},
		{"localhost/app", ImageParts{Registry: "localhost", Image: "app", Tag: "latest", Full: "localhost/app:latest"}},
		{"private-registry.io/apps/internal-app", ImageParts{Registry: "private-registry.io", Account: "apps", Image: "internal-app", Tag: "latest", Full: "private-registry.io/apps/internal-app:latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := SplitImage(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("SplitImage(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitImageRejects(t *testing.T) {
	for _, in := range []string{"", "Nginx", "docker.io/Library/nginx", "nginx:", "https://gcr.io/x", "a b"} {
		if _, err := SplitImage(in); err == nil {
			t.Errorf("SplitImage(%q) accepted it", in)
		}
	}
}

func TestFullNameQuiz(t *testing.T) {
	tests := []struct {
		name   string
		image  string
		answer string
		pass   bool
		codes  []string
	}{
		{"canonical", "nginx", "docker.io/library/nginx:latest", true, nil},
		{"old docker hub alias", "nginx", "index.docker.io/library/nginx:latest", true, []string{"index-docker-io"}},
		{"spaces around", "nginx", "  docker.io/library/nginx:latest ", true, nil},
		{"bare name", "nginx", "nginx", false, []string{"registry-implied", "account-implied", "tag-implied"}},
		{"no tag", "nginx", "docker.io/library/nginx", false, []string{"tag-implied"}},
		{"no account", "nginx", "docker.io/nginx:latest", false, []string{"account-implied"}},
		{"wrong registry", "nginx", "gcr.io/library/nginx:latest", false, []string{"wrong-registry"}},
		{"wrong tag", "nginx", "docker.io/library/nginx:1.27", false, []string{"wrong-tag"}},
		{"uppercase", "nginx", "docker.io/library/NGINX:latest", false, []string{"image-uppercase"}},
		{"scheme", "nginx", "https://docker.io/library/nginx:latest", false, []string{"image-scheme"}},
		{"empty", "nginx", "", false, []string{"answer-missing"}},
		{"myregistry is an account", "myregistry/app", "myregistry/app:latest", false, []string{"registry-implied"}},
		{"myregistry taken for a registry", "myregistry/app", "myregistry.io/library/app:latest", false, []string{"wrong-registry", "wrong-account"}},
		{"myregistry right", "myregistry/app", "docker.io/myregistry/app:latest", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := checkFullName(context.Background(), nil, Request{Params: map[string]string{"image": tt.image}, Answer: tt.answer})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed != tt.pass {
				t.Errorf("passed = %v, want %v (%+v)", res.Passed, tt.pass, res.Findings)
			}
			for _, c := range tt.codes {
				if !res.HasFinding(c) {
					t.Errorf("missing finding %s in %+v", c, res.Findings)
				}
			}
			for _, f := range res.Findings {
				if f.Severity == Problem && f.Try == "" && f.Code != "answer-missing" {
					t.Errorf("finding %s tells the learner nothing to try", f.Code)
				}
			}
		})
	}
}

func TestPartQuiz(t *testing.T) {
	tests := []struct {
		name, image, part, answer string
		pass                      bool
		code                      string
	}{
		{"registry", "gcr.io/kubernetes-e2e-test-images/dnsutils", "registry", "gcr.io", true, ""},
		{"registry with slash", "gcr.io/kubernetes-e2e-test-images/dnsutils", "registry", "gcr.io/", true, ""},
		{"registry uppercase", "gcr.io/kubernetes-e2e-test-images/dnsutils", "registry", "GCR.IO", true, ""},
		{"account for registry", "gcr.io/kubernetes-e2e-test-images/dnsutils", "registry", "kubernetes-e2e-test-images", false, "wrong-part"},
		{"account", "private-registry.io/apps/internal-app", "account", "apps", true, ""},
		{"image for account", "private-registry.io/apps/internal-app", "account", "internal-app", false, "wrong-part"},
		{"default tag", "gcr.io/kubernetes-e2e-test-images/dnsutils", "tag", "latest", true, ""},
		{"tag with colon", "gcr.io/kubernetes-e2e-test-images/dnsutils", "tag", ":latest", true, ""},
		{"port kept", "localhost:5000/apps/internal-app:1.0", "registry", "localhost:5000", true, ""},
		{"port dropped", "localhost:5000/apps/internal-app:1.0", "registry", "localhost", false, "registry-port-missing"},
		{"nonsense", "localhost:5000/apps/internal-app:1.0", "registry", "docker.io", false, "wrong-answer"},
		{"empty", "nginx", "registry", "", false, "answer-missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := checkImagePart(context.Background(), nil, Request{Params: map[string]string{"image": tt.image, "part": tt.part}, Answer: tt.answer})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed != tt.pass {
				t.Errorf("passed = %v, want %v (%+v)", res.Passed, tt.pass, res.Findings)
			}
			if tt.code != "" && !res.HasFinding(tt.code) {
				t.Errorf("missing finding %s in %+v", tt.code, res.Findings)
			}
		})
	}
}

func TestChoiceQuiz(t *testing.T) {
	params := map[string]string{"options": "a,b,c", "correct": "b", "explain-a": "no: a", "explain-b": "yes: b"}
	for answer, pass := range map[string]bool{"b": true, "B": true, "(b)": true, "b)": true, "a": false, "d": false, "": false} {
		res, err := checkChoice(context.Background(), nil, Request{Params: params, Answer: answer})
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed != pass {
			t.Errorf("answer %q: passed = %v, want %v", answer, res.Passed, pass)
		}
	}
	res, _ := checkChoice(context.Background(), nil, Request{Params: params, Answer: "a"})
	if len(res.Findings) != 1 || !strings.HasSuffix(res.Findings[0].Problem, ": no: a") {
		t.Errorf("a wrong choice should explain itself: %+v", res.Findings)
	}
}

func FuzzSplitImage(f *testing.F) {
	for _, s := range []string{"nginx", "docker.io/library/nginx:latest", "localhost:5000/a/b:1@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "a//b", ":", "@", "Z/z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := SplitImage(s)
		if err != nil {
			return
		}
		// A normalized name splits into the same parts again.
		again, err := SplitImage(p.Full)
		if err != nil {
			t.Fatalf("SplitImage(%q) gave %q, which does not parse: %v", s, p.Full, err)
		}
		if again != p {
			t.Fatalf("not stable: %+v then %+v", p, again)
		}
		_ = explicitParts(s)
		for _, part := range PartNames {
			_, _ = checkImagePart(context.Background(), nil, Request{Params: map[string]string{"image": "nginx", "part": part}, Answer: s})
		}
		_, _ = checkFullName(context.Background(), nil, Request{Params: map[string]string{"image": "nginx"}, Answer: s})
	})
}

// TestAnswersAreQuotedShort: a pasted page of text is not echoed back.
func TestAnswersAreQuotedShort(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	for _, tc := range []struct {
		check  string
		params map[string]string
	}{
		{"image.full-name", map[string]string{"image": "nginx"}},
		{"image.part", map[string]string{"image": "nginx", "part": "registry"}},
		{"quiz.choice", map[string]string{"options": "a,b", "correct": "a"}},
	} {
		res, err := Run(context.Background(), tc.check, &Env{}, Request{Params: tc.params, Answer: long})
		if err != nil {
			t.Fatalf("%s: %v", tc.check, err)
		}
		if res.Passed || len(res.Findings) == 0 {
			t.Fatalf("%s passed a page of x", tc.check)
		}
		for _, f := range res.Findings {
			if n := len(f.Problem) + len(f.Try) + len(f.Expected); n > 400 {
				t.Errorf("%s: finding %s is %d bytes long", tc.check, f.Code, n)
			}
		}
	}
}
