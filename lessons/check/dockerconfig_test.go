package check

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	k8schain "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

func TestDecodeDockerConfigJSON(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("u:p$ss:word"))
	got, err := DecodeDockerConfigJSON([]byte(`{"auths": {"b:5000": {"username": "x", "password": "y"}, "a:5000": {"auth": "` + auth + `"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []DockerAuth{{Key: "a:5000", Username: "u", Password: "p$ss:word"}, {Key: "b:5000", Username: "x", Password: "y"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"auths": 3}`, `{}`, `{"auths": {"a": {"auth": "%%%"}}}`, `{"auths": {"a": {"auth": "bm9jb2xvbg=="}}}`} {
		if _, err := DecodeDockerConfigJSON([]byte(bad)); err == nil {
			t.Errorf("DecodeDockerConfigJSON(%q) accepted it", bad)
		}
	}
}

// TestServerKeyMatchesLikeTheKubelet compares ServerKey.Matches with
// go-containerregistry's port of the kubelet's keyring.
func TestServerKeyMatchesLikeTheKubelet(t *testing.T) {
	keys := []string{
		"localhost:5055", "localhost:5000", "https://localhost:5055", "http://localhost:5055/",
		"localhost:5055/apps", "localhost:5055/other", "https://localhost:5055/v2/", "https://localhost:5055/v1/",
		"127.0.0.1:5055", "localhost", "*.example.com", "reg.example.com", "https://index.docker.io/v1/", "docker.io",
	}
	images := []string{"localhost:5055/apps/internal-app", "reg.example.com/apps/x", "docker.io/library/nginx", "localhost/app"}
	for _, key := range keys {
		for _, image := range images {
			sk, err := ParseServerKey(key)
			if err != nil {
				t.Fatalf("ParseServerKey(%q): %v", key, err)
			}
			got := sk.Matches(image)
			if strings.HasPrefix(image, "docker.io/") {
				continue // ggcr spells Docker Hub index.docker.io; see TestServerKeyDockerHub
			}
			want := kubeletMatches(t, key, image)
			if got != want {
				t.Errorf("key %q, image %q: Matches = %v, the kubelet's keyring says %v", key, image, got, want)
			}
		}
	}
}

// TestServerKeyDockerHub follows the kubelet's keyring
// (pkg/credentialprovider/keyring.go): images are looked up by their
// normalized name (docker.io/library/nginx), and index.docker.io
// credentials are the fallback for Docker Hub images.
func TestServerKeyDockerHub(t *testing.T) {
	for key, want := range map[string]bool{
		"docker.io":                   true,
		"https://index.docker.io/v1/": true,
		"index.docker.io":             true,
		"registry-1.docker.io":        false,
		"gcr.io":                      false,
	} {
		sk, err := ParseServerKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if got := sk.Matches("docker.io/library/nginx"); got != want {
			t.Errorf("key %q: Matches(docker.io/library/nginx) = %v, want %v", key, got, want)
		}
	}
}

func kubeletMatches(t *testing.T, key, image string) bool {
	t.Helper()
	secret := corev1.Secret{
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths": {"` + key + `": {"username": "u", "password": "p"}}}`)},
	}
	kc, err := k8schain.NewFromPullSecrets(context.Background(), []corev1.Secret{secret})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewRepository(image)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	return a != authn.Anonymous
}

func TestShellExpand(t *testing.T) {
	env := map[string]string{"HOME": "/root"}
	lookup := func(k string) string { return env[k] }
	tests := map[string]string{
		"pa$w0rd-imagelab": "pa-imagelab",
		"a$HOME-b":         "a/root-b",
		"a${HOME}b":        "a/rootb",
		"a$1b":             "ab",
		"end$":             "end$",
		"no-dollar":        "no-dollar",
		"x$$y":             "xy",
	}
	for in, want := range tests {
		if got := ShellExpand(in, lookup); got != want {
			t.Errorf("ShellExpand(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzDecodeDockerConfigJSON(f *testing.F) {
	f.Add([]byte(`{"auths": {"localhost:5055": {"username": "u", "password": "p", "auth": "dTpw"}}}`))
	f.Add([]byte(`{"auths": {"https://index.docker.io/v1/": {"auth": "Og=="}}}`))
	f.Add([]byte(`{"auths": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		auths, err := DecodeDockerConfigJSON(data)
		if err != nil {
			return
		}
		for _, a := range auths {
			if k, err := ParseServerKey(a.Key); err == nil {
				_ = k.Matches("localhost:5055/apps/internal-app")
			}
		}
		_, _ = DecodeDockercfg(data)
	})
}
