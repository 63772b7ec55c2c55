package lessons

import "testing"

// TestValuesWithPrefix: a workshop attendee's repositories are under their
// own prefix of a shared registry; docker login and pull secrets still
// name the registry alone.
func TestValuesWithPrefix(t *testing.T) {
	cases := []struct {
		name, registry, prefix, repos, api string
	}{
		{"own registry", "localhost:5055", "", "localhost:5055", "http://localhost:5055/v2"},
		{"workshop", "registry.example:5000", "w1k3f-ana", "registry.example:5000/w1k3f-ana", "https://registry.example:5000/v2/w1k3f-ana"},
		{"loopback address", "127.0.0.1:5000", "/ana/", "127.0.0.1:5000/ana", "http://127.0.0.1:5000/v2/ana"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := NewValues(c.registry, "u", "p", "ns").WithPrefix(c.prefix)
			if v.Registry != c.registry || v.Repos != c.repos || v.RegistryAPI != c.api {
				t.Errorf("Registry %q Repos %q RegistryAPI %q, want %q %q %q", v.Registry, v.Repos, v.RegistryAPI, c.registry, c.repos, c.api)
			}
		})
	}
	cur, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	s, err := cur.Find("pull-secrets/image-pull-secrets")
	if err != nil {
		t.Fatal(err)
	}
	v := NewValues("registry.example:5000", "u", "p", "ns").WithPrefix("w1k3f-ana")
	if got := s.Params(v)["image"]; got != "registry.example:5000/w1k3f-ana/apps/internal-app:1.0" {
		t.Errorf("the step's image is %q, want the attendee's repository", got)
	}
}
