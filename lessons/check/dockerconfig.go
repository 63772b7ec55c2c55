package check

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
)

// DockerAuth is one entry of a docker config's "auths": the credentials for
// one server key.
type DockerAuth struct {
	// Key is the server as written in the file (what --docker-server said).
	Key      string
	Username string
	Password string
}

// DockerConfig is what a pull secret's .dockerconfigjson holds: the
// entries the kubelet reads, and the credential helpers that a
// config.json copied from a laptop names (the kubelet ignores those).
type DockerConfig struct {
	Auths       []DockerAuth
	CredsStore  string
	CredHelpers map[string]string
}

// HelperFor names the credential helper docker would use for server key,
// or "" when docker keeps its credentials in the file.
func (c DockerConfig) HelperFor(key string) string {
	if h, ok := c.CredHelpers[key]; ok && h != "" {
		return h
	}
	return c.CredsStore
}

// DecodeDockerConfig reads the .dockerconfigjson of a pull secret
// ({"auths": {...}}). Entries come back sorted by key; an "auth" field,
// when present, wins over username and password, as in the kubelet
// (pkg/credentialprovider DockerConfigEntry.UnmarshalJSON).
func DecodeDockerConfig(data []byte) (DockerConfig, error) {
	var raw struct {
		Auths       map[string]dockerAuthEntry `json:"auths"`
		CredsStore  string                     `json:"credsStore"`
		CredHelpers map[string]string          `json:"credHelpers"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return DockerConfig{}, err
	}
	if raw.Auths == nil {
		return DockerConfig{}, fmt.Errorf(`no "auths" object`)
	}
	auths, err := sortedAuths(raw.Auths)
	return DockerConfig{Auths: auths, CredsStore: raw.CredsStore, CredHelpers: raw.CredHelpers}, err
}

// DecodeDockerConfigJSON is DecodeDockerConfig's entries alone.
func DecodeDockerConfigJSON(data []byte) ([]DockerAuth, error) {
	cfg, err := DecodeDockerConfig(data)
	return cfg.Auths, err
}

// DecodeDockercfg reads the legacy .dockercfg format: the auths map itself.
func DecodeDockercfg(data []byte) ([]DockerAuth, error) {
	var auths map[string]dockerAuthEntry
	if err := json.Unmarshal(data, &auths); err != nil {
		return nil, err
	}
	return sortedAuths(auths)
}

type dockerAuthEntry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

func sortedAuths(m map[string]dockerAuthEntry) ([]DockerAuth, error) {
	out := make([]DockerAuth, 0, len(m))
	for key, e := range m {
		a := DockerAuth{Key: key, Username: e.Username, Password: e.Password}
		if e.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("auths[%q].auth is not base64: %w", key, err)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf(`auths[%q].auth is not "user:password"`, key)
			}
			a.Username, a.Password = user, pass
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// ServerKey is a docker config key read the way the kubelet's keyring reads
// it (k8s.io/kubernetes pkg/credentialprovider): an optional scheme, a host
// with an optional port, and a path that must prefix the image's path.
type ServerKey struct {
	Scheme string // as written, "" when none
	Host   string // host[:port]
	Path   string // after /v1/ or /v2/ is dropped; "" for the whole registry
}

// ParseServerKey parses a docker config key.
func ParseServerKey(key string) (ServerKey, error) {
	var k ServerKey
	value := key
	if strings.HasPrefix(value, "https://") {
		k.Scheme = "https"
	} else if strings.HasPrefix(value, "http://") {
		k.Scheme = "http"
	} else {
		value = "https://" + value
	}
	u, err := url.Parse(value)
	if err != nil {
		return k, err
	}
	if u.Host == "" {
		return k, fmt.Errorf("%q names no host", key)
	}
	p := u.Path
	if strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, "/v1/") {
		p = p[3:]
	}
	if p == "/" {
		p = ""
	}
	k.Host, k.Path = u.Host, p
	return k, nil
}

// Matches reports whether the kubelet would offer this key's credentials
// for image (a normalized name without tag: localhost:5055/apps/internal-app).
// Like the kubelet: same number of host labels, each glob-matched, equal
// ports, and the key's path a prefix of the image's path.
//
// As in the kubelet, Docker Hub's index.docker.io credentials (kubectl's
// default server) also serve any docker.io image no other key matched.
func (k ServerKey) Matches(image string) bool {
	if k.Host == "index.docker.io" && k.Path == "" && strings.HasPrefix(image, "docker.io/") {
		return true
	}
	target, err := url.Parse("https://" + image)
	if err != nil {
		return false
	}
	gh, gp := splitHostPort(k.Host)
	th, tp := splitHostPort(target.Host)
	if gp != tp || !strings.HasPrefix(target.Path, k.Path) {
		return false
	}
	gl, tl := strings.Split(gh, "."), strings.Split(th, ".")
	if len(gl) != len(tl) {
		return false
	}
	for i := range gl {
		if ok, err := filepath.Match(gl[i], tl[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func splitHostPort(hostport string) (string, string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, ""
	}
	return h, p
}
