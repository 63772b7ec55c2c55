package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Admin is the admin API of a workshop registry, as imagelab workshop
// create and delete use it.
type Admin struct {
	// Host is the registry's host:port.
	Host           string
	User, Password string
	// Transport reaches it (trusting its certificate); nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// ErrNotAdmin means the registry refused the admin's credentials.
var ErrNotAdmin = errors.New("the registry refused the admin user and password")

// ErrNoAdminAPI means the registry answered but has no imagelab admin API.
var ErrNoAdminAPI = errors.New("the registry has no imagelab admin API (is it imagelab workshop registry?)")

func (a Admin) url(path string, q url.Values) (string, error) {
	reg, err := name.NewRegistry(a.Host)
	if err != nil {
		return "", fmt.Errorf("registry %q: %w", a.Host, err)
	}
	u := url.URL{Scheme: reg.Scheme(), Host: reg.RegistryStr(), Path: AdminPath + path, RawQuery: q.Encode()}
	return u.String(), nil
}

func (a Admin) do(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	u, err := a.url(path, q)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(a.User, a.Password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rt := a.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := (&http.Client{Transport: rt, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the registry %s does not answer: %w", a.Host, err)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		resp.Body.Close()
		return nil, fmt.Errorf("%w (%s as %s)", ErrNotAdmin, a.Host, a.User)
	}
	return resp, nil
}

// Accounts lists a workshop's accounts ("" for every account). It is
// also how imagelab makes sure the registry and the admin's credentials
// work before it makes anything.
func (a Admin) Accounts(ctx context.Context, workshop string) ([]Account, error) {
	resp, err := a.do(ctx, http.MethodGet, "accounts", url.Values{"workshop": {workshop}}, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Accounts []Account `json:"accounts"`
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil, fmt.Errorf("%w: GET %s answered HTTP %d", ErrNoAdminAPI, AdminPath+"accounts", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoAdminAPI, err)
	}
	return out.Accounts, nil
}

// PutAccount makes (or replaces) an account of the workshop.
func (a Admin) PutAccount(ctx context.Context, account, password, workshop string) error {
	resp, err := a.do(ctx, http.MethodPut, "accounts/"+url.PathEscape(account), nil, accountRequest{Password: password, Workshop: workshop})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("making registry account %s: HTTP %d: %s", account, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

// DeleteAccount removes an account and every repository under its name;
// one that is not there is already removed.
func (a Admin) DeleteAccount(ctx context.Context, account string) error {
	resp, err := a.do(ctx, http.MethodDelete, "accounts/"+url.PathEscape(account), nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("deleting registry account %s: HTTP %d: %s", account, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}
