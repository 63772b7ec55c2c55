package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Registry is a distribution registry (the code behind the registry image)
// serving in-process on loopback, with htpasswd (bcrypt) auth.
type Registry struct {
	// Host is localhost:<port>, as learners write it.
	Host     string
	User     string
	Password string
	server   *http.Server
}

// TestPassword contains a $ on purpose: lessons must quote it, and the
// shell-expansion mistake can be made for real.
const TestPassword = "pa$w0rd-imagelab"

// StartRegistry starts a registry for the test; it stops at cleanup.
func StartRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	r, err := NewRegistry(t.TempDir(), user, password)
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// NewRegistry starts a registry keeping its htpasswd file in dir.
func NewRegistry(dir, user, password string) (*Registry, error) {
	// The sandbox's cost (see sandbox.HtpasswdCost), so timings match it.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(fmt.Sprintf("%s:%s\n", user, hash)), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory":    configuration.Parameters{},
			"delete":      configuration.Parameters{"enabled": true},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
		Auth: configuration.Auth{"htpasswd": configuration.Parameters{"realm": "imagelab", "path": htpasswd}},
	}
	cfg.Catalog.MaxEntries = 1000 // the default a configuration file gets
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	cfg.HTTP.Secret = "imagelab-test"
	logrus.SetOutput(io.Discard) // distribution logs through logrus
	app := handlers.NewApp(context.Background(), cfg)
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "registry:", err)
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	return &Registry{Host: fmt.Sprintf("localhost:%d", port), User: user, Password: password, server: srv}, nil
}

// Close stops the registry.
func (r *Registry) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.server.Shutdown(ctx)
}
