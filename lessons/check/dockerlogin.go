package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
)

func init() {
	register(Definition{
		Name:  "docker.login",
		Needs: NeedsRegistry | NeedsDockerConfig,
		Run:   checkDockerLogin,
	})
}

// checkDockerLogin reads the sandbox's docker config the way the docker CLI
// does (credsStore and credHelpers included) and proves the stored
// credentials open the registry.
func checkDockerLogin(ctx context.Context, env *Env, _ Request) (Result, error) {
	host := env.Registry.Host
	configPath := filepath.Join(env.DockerConfigDir, dockerconfig.ConfigFileName)
	var f findings

	cfg, err := dockerconfig.Load(env.DockerConfigDir)
	if err != nil {
		f.problem("docker-config-invalid", fmt.Sprintf("The docker config %s cannot be read: %v.", configPath, err),
			"a JSON file written by docker login", "Fix the JSON by hand, or remove the file and run docker login again.")
		return f.result(""), nil
	}

	creds, err := cfg.GetAuthConfig(host)
	if err != nil {
		helper := cfg.CredentialsStore
		if h, ok := cfg.CredentialHelpers[host]; ok {
			helper = h
		}
		f.problem("docker-credential-helper", fmt.Sprintf("The docker config asks the credential helper %q for %s, and it failed: %v.", helper, host, err),
			"credentials docker can read back", fmt.Sprintf("Make sure docker-credential-%s is on your PATH, or remove \"credsStore\"/\"credHelpers\" from %s and log in again.", helper, configPath))
		return f.result(""), nil
	}

	if creds.Username == "" && creds.Password == "" && creds.IdentityToken == "" {
		// Not logged in here; say where the learner did log in, if anywhere.
		loggedInElsewhere := false
		for key := range cfg.GetAuthConfigs() {
			other := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
			other = strings.TrimSuffix(strings.SplitN(other, "/", 2)[0], "/")
			if other == host {
				continue
			}
			loggedInElsewhere = true
			if sameHostOtherPort(other, host) {
				f.problem("docker-login-wrong-port", fmt.Sprintf("You are logged in to %s, but the registry listens on %s.", other, host),
					"a login for "+host, fmt.Sprintf("The port is part of the registry's name: docker login %s", host))
			} else {
				f.problem("docker-login-wrong-registry", fmt.Sprintf("You are logged in to %s, not to %s.", other, host),
					"a login for "+host, "docker login "+host)
			}
		}
		if !loggedInElsewhere {
			f.problem("docker-not-logged-in", fmt.Sprintf("No login for %s in the sandbox's docker config (%s) yet.", host, configPath),
				"a login for "+host,
				fmt.Sprintf("Run docker login %s -u %s in the sandbox shell (imagelab shell, or eval \"$(imagelab env)\"), so DOCKER_CONFIG points at the sandbox and not at ~/.docker.", host, env.Registry.User))
		}
		return f.result(""), nil
	}

	auth := authn.FromConfig(authn.AuthConfig{
		Username:      creds.Username,
		Password:      creds.Password,
		IdentityToken: creds.IdentityToken,
		RegistryToken: creds.RegistryToken,
	})
	switch err := Authenticate(ctx, env.transport(), host, auth); {
	case errors.Is(err, errUnauthorized):
		p := f.problem("docker-login-rejected", fmt.Sprintf("The credentials stored for %s (user %q) are refused by the registry.", host, creds.Username),
			fmt.Sprintf("user %q and the sandbox's password", env.Registry.User), fmt.Sprintf("Log in again: docker login %s -u %s", host, env.Registry.User))
		p.Evidence = err.Error()
		return f.result(""), nil
	case err != nil:
		return Result{}, fmt.Errorf("asking the registry %s: %w", host, err)
	}
	return f.result(fmt.Sprintf("docker login to %s as %s works: the registry accepts the stored credentials.", host, creds.Username)), nil
}

// sameHostOtherPort reports whether a and b name the same host with
// different ports (localhost:5000 against localhost:5055).
func sameHostOtherPort(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil {
		ha, pa = a, ""
	}
	if errB != nil {
		hb, pb = b, ""
	}
	return ha == hb && pa != pb
}
