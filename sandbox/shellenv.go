package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// ShellEnv lists the variables that put a shell into the sandbox:
// KUBECONFIG and DOCKER_CONFIG point at imagelab's own files, so the
// learner's ~/.kube/config and ~/.docker/config.json are never written.
//
// Moving DOCKER_CONFIG would also hide the learner's docker context
// (Colima, OrbStack, Docker Desktop keep theirs there), so the engine the
// current context names is passed on as DOCKER_HOST: only credentials go
// to the sandbox's config.
//
// Podman (and podman-docker's docker) logs in to
// $XDG_RUNTIME_DIR/containers/auth.json, not to DOCKER_CONFIG: its
// REGISTRY_AUTH_FILE names the sandbox's config.json, so a login with
// either tool lands in the one file the checks read. The format is the
// same.
func (s *Sandbox) ShellEnv(environ []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	out := []string{
		"KUBECONFIG=" + s.Kubeconfig,
		"DOCKER_CONFIG=" + s.DockerConfigDir,
		"REGISTRY_AUTH_FILE=" + s.dockerConfigFile(),
		// kubectl's discovery cache would otherwise go to ~/.kube/cache.
		"KUBECACHEDIR=" + filepath.Join(filepath.Dir(s.DockerConfigDir), "kube-cache"),
		"IMAGELAB_SANDBOX=" + s.Name,
	}
	if env["DOCKER_HOST"] == "" {
		if host := dockerContextHost(env); host != "" {
			out = append(out, "DOCKER_HOST="+host)
		}
	}
	return out
}

// dockerConfigFile is the docker config file in the sandbox's DOCKER_CONFIG
// dir, where docker login (and podman login) write credentials.
func (s *Sandbox) dockerConfigFile() string {
	return filepath.Join(s.DockerConfigDir, "config.json")
}

// dockerContextHost reads (never writes) the learner's docker config to
// find the engine endpoint of their current context; "" for the default.
func dockerContextHost(env map[string]string) string {
	dir := env["DOCKER_CONFIG"]
	if dir == "" {
		home := env["HOME"]
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		dir = filepath.Join(home, ".docker")
	}
	name := env["DOCKER_CONTEXT"]
	if name == "" {
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			return ""
		}
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		if json.Unmarshal(data, &cfg) != nil {
			return ""
		}
		name = cfg.CurrentContext
	}
	if name == "" || name == "default" {
		return ""
	}
	sum := sha256.Sum256([]byte(name))
	data, err := os.ReadFile(filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json"))
	if err != nil {
		return ""
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if json.Unmarshal(data, &meta) != nil {
		return ""
	}
	return meta.Endpoints["docker"].Host
}
