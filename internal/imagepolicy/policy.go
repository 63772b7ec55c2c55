package imagepolicy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/api/imagepolicy/v1alpha1"
)

// ErrNotRegistry: the allowed registry is not a registry host[:port].
var ErrNotRegistry = errors.New("not a registry host[:port]")

// NormalizeRegistry returns the registry host[:port] as image references
// name it ("localhost:5001", "registry.example.com", "docker.io"), or
// ErrNotRegistry. A name a runtime would read as a Docker Hub account
// ("myregistry", without a dot, a port or "localhost") is refused, and so
// is anything with a path.
func NormalizeRegistry(registry string) (string, error) {
	r := strings.TrimSuffix(strings.TrimSpace(registry), "/")
	if r == "" || strings.ContainsAny(r, "/@") {
		return "", fmt.Errorf("%q: %w", registry, ErrNotRegistry)
	}
	named, err := reference.ParseNormalizedNamed(r + "/imagelab-probe")
	if err != nil {
		return "", fmt.Errorf("%q: %w (%v)", registry, ErrNotRegistry, err)
	}
	domain := reference.Domain(named)
	// index.docker.io normalizes to docker.io; anything else must survive as written.
	if !strings.EqualFold(domain, r) && !(domain == "docker.io" && strings.EqualFold(r, "index.docker.io")) {
		return "", fmt.Errorf("%q: %w: an image %s/… is pulled from %s", registry, ErrNotRegistry, r, domain)
	}
	return strings.ToLower(domain), nil
}

// RegistryOf returns the registry an image is pulled from, completed the
// way Docker and containerd complete it ("nginx" → docker.io), and the
// full name it stands for ("docker.io/library/nginx").
func RegistryOf(image string) (registry, fullName string, err error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", err
	}
	return strings.ToLower(reference.Domain(named)), named.String(), nil
}

// Judge answers an ImageReview: allowed only when every image is pulled
// from registry (a NormalizeRegistry result), compared as a whole
// host[:port] — localhost:50010 and localhost:5001.evil are other hosts.
// The reason names every refused image and the allowed registry. A review
// without images is allowed: there is nothing to refuse.
func Judge(registry string, spec v1alpha1.ImageReviewSpec) v1alpha1.ImageReviewStatus {
	var refused []string
	seen := map[string]bool{}
	for _, c := range spec.Containers {
		if seen[c.Image] {
			continue
		}
		seen[c.Image] = true
		if why := refuse(registry, c.Image); why != "" {
			refused = append(refused, why)
		}
	}
	if len(refused) > 0 {
		return v1alpha1.ImageReviewStatus{Allowed: false, Reason: strings.Join(refused, "; ")}
	}
	return v1alpha1.ImageReviewStatus{Allowed: true, Reason: "every image is from the allowed registry " + registry}
}

// refuse says why image may not run, or "" when it may.
func refuse(registry, image string) string {
	if image == "" {
		return fmt.Sprintf("a container has no image; only images from the allowed registry %s may run", registry)
	}
	host, full, err := RegistryOf(image)
	if err != nil {
		return fmt.Sprintf("image %q is not a valid image reference (%v); only images from the allowed registry %s may run", image, err, registry)
	}
	if host == registry {
		return ""
	}
	// Spell out what a short name stands for: that is the lesson.
	written := fmt.Sprintf("%q", image)
	if image != full {
		written = fmt.Sprintf("%q (%s)", image, full)
	}
	return fmt.Sprintf("image %s is from %s, not from the allowed registry %s", written, host, registry)
}
