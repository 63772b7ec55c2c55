package check

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Registry replies a check tells apart.
var (
	errUnauthorized = errors.New("the registry refused the credentials")
	errNotFound     = errors.New("not in the registry")
)

func (env *Env) transport() http.RoundTripper {
	if env != nil && env.Transport != nil {
		return env.Transport
	}
	return http.DefaultTransport
}

// adminAuth is the sandbox's own view of the registry: the credentials the
// learner was given.
func (env *Env) adminAuth() authn.Authenticator {
	return &authn.Basic{Username: env.Registry.User, Password: env.Registry.Password}
}

// registryError sorts a registry reply into unauthorized / not found / other.
func registryError(err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %v", errUnauthorized, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w: %v", errNotFound, err)
		}
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w: %v", errUnauthorized, err)
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return fmt.Errorf("%w: %v", errNotFound, err)
			}
		}
	}
	// ggcr reports a failed token exchange (bearer registries) as a plain error.
	if strings.Contains(err.Error(), "UNAUTHORIZED") || strings.Contains(err.Error(), "401 Unauthorized") {
		return fmt.Errorf("%w: %v", errUnauthorized, err)
	}
	return err
}

// authVerdicts remembers, for a minute, whether a registry accepted a set
// of credentials: live checking asks again on every change, and a
// registry may spend tens of milliseconds on each bcrypt comparison. The
// same user and password keep their verdict; new ones are asked for.
var authVerdicts = struct {
	sync.Mutex
	m map[[32]byte]authVerdict
}{m: map[[32]byte]authVerdict{}}

type authVerdict struct {
	err error
	at  time.Time
}

const authVerdictTTL = time.Minute

// Authenticate asks the registry at host whether auth is accepted, the
// way docker login does: a request to /v2/ with the credentials.
func Authenticate(ctx context.Context, rt http.RoundTripper, host string, auth authn.Authenticator) error {
	cfg, err := auth.Authorization()
	if err != nil {
		return err
	}
	key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s", host, cfg.Username, cfg.Password, cfg.IdentityToken, cfg.RegistryToken))
	authVerdicts.Lock()
	v, ok := authVerdicts.m[key]
	authVerdicts.Unlock()
	if ok && time.Since(v.at) < authVerdictTTL {
		return v.err
	}
	err = authenticate(ctx, rt, host, auth)
	if err == nil || errors.Is(err, errUnauthorized) { // definite answers only
		authVerdicts.Lock()
		authVerdicts.m[key] = authVerdict{err: err, at: time.Now()}
		authVerdicts.Unlock()
	}
	return err
}

func authenticate(ctx context.Context, rt http.RoundTripper, host string, auth authn.Authenticator) error {
	reg, err := name.NewRegistry(host)
	if err != nil {
		return fmt.Errorf("registry %q: %w", host, err)
	}
	tr, err := transport.NewWithContext(ctx, reg, auth, rt, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return registryError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return registryError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w (HTTP %d)", errUnauthorized, resp.StatusCode)
	default:
		return fmt.Errorf("registry %s answered /v2/ with HTTP %d", host, resp.StatusCode)
	}
}

// headManifest asks the registry for ref's manifest with auth, as a pull would.
func headManifest(ctx context.Context, rt http.RoundTripper, ref string, auth authn.Authenticator) (*v1.Descriptor, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Head(r, remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt))
	if err != nil {
		return nil, registryError(err)
	}
	return desc, nil
}

// headManifestWithKeychain resolves credentials for ref from kc, as the
// kubelet does with a pod's pull secrets, and asks for the manifest.
func headManifestWithKeychain(ctx context.Context, rt http.RoundTripper, ref string, kc authn.Keychain) (*v1.Descriptor, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Head(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(rt))
	if err != nil {
		return nil, registryError(err)
	}
	return desc, nil
}

// listTags lists repo's tags; a missing repository is no tags.
func listTags(ctx context.Context, rt http.RoundTripper, repo string, auth authn.Authenticator) ([]string, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt))
	if err != nil {
		if err := registryError(err); errors.Is(err, errNotFound) {
			return nil, nil
		} else {
			return nil, err
		}
	}
	return tags, nil
}

// catalog lists the registry's repositories.
func catalog(ctx context.Context, rt http.RoundTripper, host string, auth authn.Authenticator) ([]string, error) {
	reg, err := name.NewRegistry(host)
	if err != nil {
		return nil, err
	}
	// One page is plenty for a sandbox; registries cap n (distribution at 100 by default).
	repos, err := remote.CatalogPage(reg, "", 100, remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt))
	if err != nil {
		return nil, registryError(err)
	}
	return repos, nil
}
