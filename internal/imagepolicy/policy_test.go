package imagepolicy

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/api/imagepolicy/v1alpha1"
)

func TestNormalizeRegistry(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "localhost:5001", want: "localhost:5001"},
		{in: "localhost:5001/", want: "localhost:5001"},
		{in: "Registry.Example.com", want: "registry.example.com"},
		{in: "registry.example.com:443", want: "registry.example.com:443"},
		{in: "127.0.0.1:5000", want: "127.0.0.1:5000"},
		{in: "[::1]:5000", want: "[::1]:5000"},
		{in: "localhost", want: "localhost"},
		{in: "docker.io", want: "docker.io"},
		{in: "index.docker.io", want: "docker.io"},
		{in: "myregistry", err: true}, // a Docker Hub account, not a host
		{in: "localhost:5001/team", err: true},
		{in: "localhost:5001/app:1", err: true},
		{in: "", err: true},
		{in: "local host", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeRegistry(tc.in)
			if tc.err {
				if !errors.Is(err, ErrNotRegistry) {
					t.Fatalf("NormalizeRegistry(%q) = %q, %v; want ErrNotRegistry", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeRegistry(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func review(images ...string) v1alpha1.ImageReviewSpec {
	spec := v1alpha1.ImageReviewSpec{Namespace: "default"}
	for _, i := range images {
		spec.Containers = append(spec.Containers, v1alpha1.ImageReviewContainerSpec{Image: i})
	}
	return spec
}

func TestJudge(t *testing.T) {
	const reg = "localhost:5001"
	const digest = "sha256:4f0f6b9e3c1b2a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	for _, tc := range []struct {
		name   string
		images []string
		allow  bool
		reason []string // each must appear in the reason
	}{
		{name: "allowed registry with tag", images: []string{"localhost:5001/app:1"}, allow: true},
		{name: "allowed registry, nested path", images: []string{"localhost:5001/team/app"}, allow: true},
		{name: "allowed registry by digest", images: []string{"localhost:5001/app@" + digest}, allow: true},
		{name: "host is case-insensitive", images: []string{"LOCALHOST:5001/app:1"}, allow: true},
		{name: "no containers", allow: true},
		{name: "short name is docker hub", images: []string{"nginx"},
			reason: []string{`image "nginx" (docker.io/library/nginx) is from docker.io`, "allowed registry localhost:5001"}},
		{name: "docker.io spelled out", images: []string{"docker.io/library/nginx:1.27"},
			reason: []string{`image "docker.io/library/nginx:1.27" is from docker.io, not from the allowed registry localhost:5001`}},
		{name: "account on docker hub named like the registry", images: []string{"localhost/app"},
			reason: []string{`"localhost/app" is from localhost,`}},
		{name: "longer port", images: []string{"localhost:50010/app:1"},
			reason: []string{`"localhost:50010/app:1" is from localhost:50010,`}},
		{name: "look-alike domain is no reference at all", images: []string{"localhost:5001.evil/app:1"},
			reason: []string{`image "localhost:5001.evil/app:1" is not a valid image reference (invalid reference format)`}},
		{name: "look-alike domain", images: []string{"localhost.evil:5001/app:1"},
			reason: []string{`"localhost.evil:5001/app:1" is from localhost.evil:5001,`}},
		{name: "subdomain", images: []string{"registry.localhost:5001/app"},
			reason: []string{"is from registry.localhost:5001,"}},
		{name: "same host by another name", images: []string{"127.0.0.1:5001/app"},
			reason: []string{"is from 127.0.0.1:5001"}},
		{name: "no port", images: []string{"localhost/app:1"},
			reason: []string{"is from localhost,"}},
		{name: "invalid reference", images: []string{"localhost:5001/App"},
			reason: []string{`image "localhost:5001/App" is not a valid image reference`, "allowed registry localhost:5001"}},
		{name: "empty image", images: []string{""},
			reason: []string{"a container has no image"}},
		{name: "one bad image among good ones", images: []string{"localhost:5001/app:1", "busybox", "localhost:5001/sidecar"},
			reason: []string{`"busybox" (docker.io/library/busybox)`}},
		{name: "every refused image named once", images: []string{"nginx", "quay.io/x/y", "nginx"},
			reason: []string{`"nginx" (docker.io/library/nginx)`, `"quay.io/x/y" is from quay.io`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Judge(reg, review(tc.images...))
			if st.Allowed != tc.allow {
				t.Fatalf("allowed = %v, want %v (reason %q)", st.Allowed, tc.allow, st.Reason)
			}
			for _, want := range tc.reason {
				if !strings.Contains(st.Reason, want) {
					t.Errorf("reason %q lacks %q", st.Reason, want)
				}
			}
			if !tc.allow && strings.Count(st.Reason, "nginx") > 2 {
				t.Errorf("reason names an image more than once: %q", st.Reason)
			}
		})
	}
}

func FuzzJudge(f *testing.F) {
	for _, s := range []string{"nginx", "localhost:5001/app", "localhost:50010/app", "localhost:5001.evil/a", "a@sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, image string) {
		st := Judge("localhost:5001", review(image))
		host, _, err := RegistryOf(image)
		if st.Allowed != (err == nil && host == "localhost:5001") {
			t.Fatalf("%q: allowed = %v, registry %q, err %v", image, st.Allowed, host, err)
		}
		if st.Allowed && !strings.HasPrefix(strings.ToLower(image), "localhost:5001/") {
			t.Fatalf("%q allowed without the registry's prefix", image)
		}
	})
}
