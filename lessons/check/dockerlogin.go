package check

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"

	dockerconfig "github.com/docker/cli/cli/config"
	dockertypes "github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
)

func init() {
	Register(Definition{
		Name:    "docker.login",
		Needs:   NeedsRegistry | NeedsDockerConfig,
		Watches: []*Subject{DockerLogin},
		Resets:  []*Subject{DockerLogin},
		Criteria: []Criterion{
			{Name: "logged-in", Doc: "the sandbox's docker config holds a login for the registry", Gate: true},
			{Name: "credentials", Doc: "the registry accepts the stored credentials"},
		},
		Run: checkDockerLogin,
	})
}

// checkDockerLogin reads the sandbox's docker config the way the docker CLI
// does (credsStore and credHelpers included) and proves the stored
// credentials open the registry.
func checkDockerLogin(ctx context.Context, env *Env, _ Request) (Result, error) {
	host := env.Registry.Host
	configPath := filepath.Join(env.DockerConfigDir, dockerconfig.ConfigFileName)

	cfg, err := dockerconfig.Load(env.DockerConfigDir)
	if err != nil {
		return fail(Finding{Code: "docker-config-invalid", Criterion: "logged-in",
			Problem:  env.T("The docker config %s cannot be read: %v.", configPath, err),
			Expected: env.T("a JSON file written by docker login"), Try: env.T("Fix the JSON by hand, or remove the file and run docker login again.")}), nil
	}

	creds, err := cfg.GetAuthConfig(host)
	if err != nil {
		helper := cfg.CredentialsStore
		if h, ok := cfg.CredentialHelpers[host]; ok {
			helper = h
		}
		return fail(Finding{Code: "docker-credential-helper", Criterion: "logged-in",
			Problem:  env.T("The docker config asks the credential helper %q for %s, and it failed: %v.", helper, host, err),
			Expected: env.T("credentials docker can read back"),
			Try:      env.T("Make sure docker-credential-%s is on your PATH, or remove \"credsStore\"/\"credHelpers\" from %s and log in again.", helper, configPath)}), nil
	}

	if creds.Username == "" && creds.Password == "" && creds.IdentityToken == "" {
		return fail(notLoggedIn(env, cfg.GetAuthConfigs(), configPath)...), nil
	}

	auth := authn.FromConfig(authn.AuthConfig{
		Username:      creds.Username,
		Password:      creds.Password,
		IdentityToken: creds.IdentityToken,
		RegistryToken: creds.RegistryToken,
	})
	switch err := Authenticate(ctx, env.transport(), host, auth); {
	case errors.Is(err, errUnauthorized):
		return fail(Finding{Code: "docker-login-rejected", Criterion: "credentials",
			Problem:  env.T("The credentials stored for %s (user %s) are refused by the registry.", host, quote(env, creds.Username)),
			Expected: env.T("user %q and the sandbox's password", env.Registry.User),
			Try:      env.T("Log in again: docker login %s -u %s", host, env.Registry.User), Evidence: err.Error()}), nil
	case err != nil:
		return Result{}, fmt.Errorf("asking the registry %s: %w", host, err)
	}
	return result(env.T("docker login to %s as %s works: the registry accepts the stored credentials.", host, creds.Username)), nil
}

// notLoggedIn explains a config with no login for the registry: logged in
// somewhere else (another port, another registry), or nowhere.
func notLoggedIn(env *Env, logins map[string]dockertypes.AuthConfig, configPath string) []Finding {
	host := env.Registry.Host
	var found []Finding
	for _, key := range slices.Sorted(maps.Keys(logins)) {
		other := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
		other = strings.TrimSuffix(strings.SplitN(other, "/", 2)[0], "/")
		switch {
		case other == host:
			continue
		case sameHostOtherPort(other, host):
			found = append(found, Finding{Code: "docker-login-wrong-port", Criterion: "logged-in",
				Problem:  env.T("You are logged in to %s, but the registry listens on %s.", other, host),
				Expected: env.T("a login for %s", host), Try: env.T("The port is part of the registry's name: docker login %s", host)})
		default:
			found = append(found, Finding{Code: "docker-login-wrong-registry", Criterion: "logged-in",
				Problem: env.T("You are logged in to %s, not to %s.", other, host), Expected: env.T("a login for %s", host), Try: "docker login " + host})
		}
	}
	if len(found) == 0 {
		found = append(found, Finding{Code: "docker-not-logged-in", Criterion: "logged-in",
			Problem:  env.T("No login for %s in the sandbox's docker config (%s) yet.", host, configPath),
			Expected: env.T("a login for %s", host),
			Try:      env.T("Run docker login %s -u %s in the sandbox shell (imagelab shell, or eval \"$(imagelab env)\"), so DOCKER_CONFIG points at the sandbox and not at ~/.docker.", host, env.Registry.User)})
	}
	return found
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
