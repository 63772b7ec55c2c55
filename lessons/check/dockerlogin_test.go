package check

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagelab/imagelab/internal/testenv"
)

// TestDockerLoginReadsLikeTheDockerCLI: the login check finds credentials
// where docker login leaves them — in config.json, or with a credential
// helper (credsStore or credHelpers) — and asks the registry about them.
func TestDockerLoginReadsLikeTheDockerCLI(t *testing.T) {
	reg := testenv.StartRegistry(t, "learner", testenv.TestPassword)
	// A credential helper, as docker-credential-osxkeychain answers `get`.
	bin := t.TempDir()
	helper := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n[ \"$host\" = %q ] || { echo 'credentials not found in native keychain'; exit 1; }\nprintf '{\"ServerURL\": \"%%s\", \"Username\": \"learner\", \"Secret\": \"%s\"}' \"$host\"\n", reg.Host, reg.Password)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-imagelabtest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	tests := []struct {
		name   string
		config string
		pass   bool
		code   string
	}{
		{"no config", "", false, "docker-not-logged-in"},
		{"auth in the file", `{"auths": {"` + reg.Host + `": {"auth": "` + basic("learner", reg.Password) + `"}}}`, true, ""},
		{"wrong password in the file", `{"auths": {"` + reg.Host + `": {"auth": "` + basic("learner", "nope") + `"}}}`, false, "docker-login-rejected"},
		{"credsStore", `{"auths": {"` + reg.Host + `": {}}, "credsStore": "imagelabtest"}`, true, ""},
		{"credHelpers", `{"credHelpers": {"` + reg.Host + `": "imagelabtest"}}`, true, ""},
		{"missing helper", `{"credsStore": "nosuchhelper"}`, false, "docker-credential-helper"},
		{"another port", `{"auths": {"localhost:1": {"auth": "` + basic("learner", reg.Password) + `"}}}`, false, "docker-login-wrong-port"},
		{"broken file", `{"auths": `, false, "docker-config-invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := &Env{Registry: Registry{Host: reg.Host, User: reg.User, Password: reg.Password}, DockerConfigDir: dir}
			res, err := Run(context.Background(), "docker.login", env, Request{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed != tt.pass || (tt.code != "" && !res.HasFinding(tt.code)) {
				t.Errorf("passed %v (want %v), findings %+v (want %s)", res.Passed, tt.pass, res.Findings, tt.code)
			}
		})
	}
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
