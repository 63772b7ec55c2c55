package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	storagemiddleware "github.com/distribution/distribution/v3/registry/storage/driver/middleware"
	"github.com/sirupsen/logrus"

	"github.com/imagelab/imagelab/internal/fsutil"

	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Paths the server answers besides the registry's /v2/.
const (
	// TokenPath is the token endpoint, the realm of the registry's challenge.
	TokenPath = "/token"
	// AdminPath is the admin API: accounts/{name} (PUT, DELETE) and
	// accounts?workshop=ID (GET).
	AdminPath = "/imagelab/v1/"
)

// Options configure a Server.
type Options struct {
	// DataDir keeps the accounts, the token key and the images; "" keeps
	// them in memory (tests).
	DataDir string
	// AdminUser and AdminPassword open everything: imagelab workshop
	// create and delete use them. They are never stored.
	AdminUser, AdminPassword string
	// Service and Issuer name the registry and the token server in tokens
	// (defaults DefaultService, DefaultIssuer).
	Service, Issuer string
	// Log receives the registry's warnings; nil discards them.
	Log io.Writer
}

// Server is a workshop's registry: distribution's registry with token
// authentication, the token server and the admin API, on one handler (so
// on one address and one TLS certificate).
type Server struct {
	accounts *Accounts
	issuer   *Issuer
	registry http.Handler
	tmpDir   string

	driverMu sync.Mutex
	driver   storagedriver.StorageDriver
}

// New prepares a Server.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.Issuer == "" {
		opts.Issuer = DefaultIssuer
	}
	s := &Server{}
	dir := opts.DataDir
	accountsFile := ""
	if dir == "" {
		tmp, err := os.MkdirTemp("", "imagelab-registry-")
		if err != nil {
			return nil, err
		}
		s.tmpDir, dir = tmp, tmp
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		accountsFile = filepath.Join(dir, "accounts.json")
	}
	var err error
	if s.accounts, err = OpenAccounts(accountsFile, opts.AdminUser, opts.AdminPassword); err != nil {
		s.Close()
		return nil, err
	}
	// The token key survives restarts: tokens handed out stay good.
	keyFile, certFile := filepath.Join(dir, "token.key"), filepath.Join(dir, "token.crt")
	keyPEM, _ := os.ReadFile(keyFile)
	if s.issuer, err = NewIssuer(opts.Issuer, opts.Service, keyPEM); err != nil {
		s.Close()
		return nil, err
	}
	if len(keyPEM) == 0 {
		if keyPEM, err = s.issuer.KeyPEM(); err == nil {
			err = fsutil.WriteFileAtomic(keyFile, keyPEM, 0o600)
		}
	}
	if err == nil {
		err = fsutil.WriteFileAtomic(certFile, s.issuer.CertificatePEM, 0o644)
	}
	if err != nil {
		s.Close()
		return nil, err
	}

	driver, params := "inmemory", configuration.Parameters{}
	if opts.DataDir != "" {
		driver, params = "filesystem", configuration.Parameters{"rootdirectory": filepath.Join(dir, "storage")}
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	id := hex.EncodeToString(secret[:8])
	captured.Store(id, s)
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			driver:        params,
			"delete":      configuration.Parameters{"enabled": true},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
		Auth: configuration.Auth{"token": configuration.Parameters{
			"realm": "", "service": opts.Service, "issuer": opts.Issuer, "rootcertbundle": certFile,
			// The realm is this server's own address, as each client reached it.
			"autoredirect": true, "autoredirectpath": TokenPath,
		}},
		Middleware: map[string][]configuration.Middleware{"storage": {{Name: captureMiddleware, Options: configuration.Parameters{"id": id}}}},
	}
	cfg.Catalog.MaxEntries = 1000
	cfg.Log.Level = "warn"
	cfg.Log.AccessLog.Disabled = true
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	logrus.SetOutput(opts.Log) // distribution logs through logrus
	s.registry = handlers.NewApp(ctx, cfg)
	return s, nil
}

// Close removes the files of a server kept in memory.
func (s *Server) Close() {
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
	}
}

// Accounts are the server's accounts.
func (s *Server) Accounts() *Accounts { return s.accounts }

// Issuer is the server's token issuer.
func (s *Server) Issuer() *Issuer { return s.issuer }

// captureMiddleware hands the server the registry's storage driver, so
// that deleting an account can delete its repositories, which the
// registry's API cannot (it deletes manifests, not repositories).
const captureMiddleware = "imagelab-capture"

var captured sync.Map // id → *Server

func init() {
	_ = storagemiddleware.Register(captureMiddleware, func(_ context.Context, d storagedriver.StorageDriver, options map[string]any) (storagedriver.StorageDriver, error) {
		id, _ := options["id"].(string)
		if v, ok := captured.LoadAndDelete(id); ok {
			s := v.(*Server)
			s.driverMu.Lock()
			s.driver = d
			s.driverMu.Unlock()
		}
		return d, nil
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == TokenPath:
		s.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, AdminPath):
		s.serveAdmin(w, r)
	default:
		// The realm in the registry's challenge follows the scheme the
		// client used.
		if r.TLS != nil {
			r.Header.Set("X-Forwarded-Proto", "https")
		} else if r.Header.Get("X-Forwarded-Proto") == "" {
			r.Header.Set("X-Forwarded-Proto", "http")
		}
		s.exchangeBasic(r)
		s.registry.ServeHTTP(w, r)
	}
}

// exchangeBasic turns a request that brings a user and password (curl -u,
// as a lesson does to read a digest) into one with a token of its own
// scope, granted by the same rule: the registry still judges the token.
// Wrong credentials are dropped, so the registry's challenge answers.
func (s *Server) exchangeBasic(r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return
	}
	r.Header.Del("Authorization")
	valid, admin := s.accounts.Verify(user, pass)
	if !valid {
		return
	}
	var grants []Access
	for _, a := range requestScopes(r) {
		if g, ok := Grant(user, admin, a); ok {
			grants = append(grants, g)
		}
	}
	if tok, _, err := s.issuer.Issue(user, grants); err == nil {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
}

// requestScopes are the scopes a registry API request needs.
func requestScopes(r *http.Request) []Access {
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	if p == r.URL.Path || p == "" {
		return nil
	}
	if p == "_catalog" {
		return []Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}
	}
	name := ""
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(p, sep); i > 0 && (name == "" || i < len(name)) {
			name = p[:i]
		}
	}
	if name == "" {
		return nil
	}
	actions := []string{"pull"}
	switch r.Method {
	case http.MethodDelete:
		actions = []string{"delete"}
	case http.MethodPut, http.MethodPost, http.MethodPatch:
		actions = []string{"pull", "push"}
	}
	out := []Access{{Type: "repository", Name: name, Actions: actions}}
	if from := r.URL.Query().Get("from"); from != "" {
		out = append(out, Access{Type: "repository", Name: from, Actions: []string{"pull"}})
	}
	return out
}

// tokenResponse is the token server's answer (the docker token
// specification's, with OAuth2's access_token beside it).
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
	Scope       string `json:"scope,omitempty"`
}

// serveToken issues a token: GET with basic auth (the docker CLI,
// go-containerregistry) or POST with an OAuth2 password grant
// (containerd, when it has a password).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	var user, pass, service string
	var scopes []string
	switch r.Method {
	case http.MethodGet:
		u, p, ok := r.BasicAuth()
		if !ok {
			unauthorized(w, "credentials required")
			return
		}
		user, pass = u, p
		q := r.URL.Query()
		service = q.Get("service")
		for _, sc := range q["scope"] {
			scopes = append(scopes, strings.Fields(sc)...)
		}
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		if gt := r.PostForm.Get("grant_type"); gt != "password" {
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only the password grant is supported")
			return
		}
		user, pass, service = r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("service")
		scopes = strings.Fields(r.PostForm.Get("scope"))
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if service != "" && service != s.issuer.Service {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("this token server serves %q, not %q", s.issuer.Service, service))
		return
	}
	ok, admin := s.accounts.Verify(user, pass)
	if !ok {
		unauthorized(w, "wrong user or password")
		return
	}
	var grants []Access
	for _, sc := range scopes {
		a, err := ParseScope(sc)
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_scope", err.Error())
			return
		}
		if g, ok := Grant(user, admin, a); ok {
			grants = append(grants, g)
		}
	}
	tok, expires, err := s.issuer.Issue(user, grants)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	granted := make([]string, len(grants))
	for i, g := range grants {
		granted[i] = g.String()
	}
	writeJSON(w, http.StatusOK, tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(time.Until(expires).Round(time.Second) / time.Second),
		IssuedAt: time.Now().UTC().Format(time.RFC3339), Scope: strings.Join(granted, " ")})
}

func unauthorized(w http.ResponseWriter, why string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="imagelab workshop registry"`)
	writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": why}}})
}

func oauthError(w http.ResponseWriter, status int, code, why string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": why})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// accountRequest is the admin API's PUT body.
type accountRequest struct {
	Password string `json:"password"`
	Workshop string `json:"workshop"`
}

// serveAdmin is the admin API: the admin's credentials only.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		unauthorized(w, "the admin's credentials are required")
		return
	}
	if valid, admin := s.accounts.Verify(user, pass); !valid || !admin {
		unauthorized(w, "the admin's credentials are required")
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, AdminPath)
	switch name, hasName := strings.CutPrefix(rest, "accounts/"); {
	case rest == "accounts" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"accounts": s.accounts.List(r.URL.Query().Get("workshop"))})
	case hasName && r.Method == http.MethodPut:
		var req accountRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
			http.Error(w, "reading the account: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.accounts.Put(name, req.Password, req.Workshop); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case hasName && r.Method == http.MethodDelete:
		// The account's repositories first: an account that is gone while
		// its images stay would leave them to nobody.
		if err := s.deleteRepositories(r.Context(), name); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		switch err := s.accounts.Delete(name); {
		case errors.Is(err, ErrNoAccount):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// deleteRepositories removes every repository under account/ from the
// storage (their manifests, tags and links; blobs no repository links any
// more go at the registry's next garbage collection).
func (s *Server) deleteRepositories(ctx context.Context, account string) error {
	if err := ValidAccountName(account); err != nil {
		return err
	}
	s.driverMu.Lock()
	d := s.driver
	s.driverMu.Unlock()
	if d == nil {
		return errors.New("the registry's storage is not reachable")
	}
	err := d.Delete(ctx, "/docker/registry/v2/repositories/"+account)
	var notFound storagedriver.PathNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	return err
}
