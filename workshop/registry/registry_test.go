package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestParseScope(t *testing.T) {
	cases := []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "repository:w1-ana/apps/x:pull,push", want: "repository:w1-ana/apps/x:pull,push"},
		{in: "repository(plugin):w1-ana/p:pull", want: "repository:w1-ana/p:pull"},
		{in: "registry:catalog:*", want: "registry:catalog:*"},
		{in: "repository:a/b:pull,pull,", want: "repository:a/b:pull"},
		{in: "repository:nothing", bad: true},
		{in: "repository::pull", bad: true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			a, err := ParseScope(c.in)
			if c.bad {
				if err == nil {
					t.Fatalf("parsed %q as %v", c.in, a)
				}
				return
			}
			if err != nil || a.String() != c.want {
				t.Fatalf("ParseScope(%q) = %v, %v; want %s", c.in, a, err, c.want)
			}
		})
	}
}

func TestGrant(t *testing.T) {
	cases := []struct {
		name    string
		account string
		admin   bool
		scope   string
		want    string // "" means nothing granted
	}{
		{"own repository", "w1-ana", false, "repository:w1-ana/apps/x:pull,push", "repository:w1-ana/apps/x:pull,push"},
		{"own, all actions", "w1-ana", false, "repository:w1-ana/x:*", "repository:w1-ana/x:pull,push,delete"},
		{"another attendee's", "w1-ana", false, "repository:w1-bob/apps/x:pull", ""},
		{"a name that only begins like hers", "w1-ana", false, "repository:w1-anabel/x:pull", ""},
		{"the top of the registry", "w1-ana", false, "repository:apps/internal-app:pull", ""},
		{"the catalog", "w1-ana", false, "registry:catalog:*", ""},
		{"an unknown action", "w1-ana", false, "repository:w1-ana/x:own", ""},
		{"the admin, anything", "admin", true, "repository:w1-bob/x:pull,delete", "repository:w1-bob/x:pull,delete"},
		{"the admin, the catalog", "admin", true, "registry:catalog:*", "registry:catalog:*"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := ParseScope(c.scope)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := Grant(c.account, c.admin, req)
			if c.want == "" {
				if ok {
					t.Fatalf("granted %v", got)
				}
				return
			}
			if !ok || got.String() != c.want {
				t.Fatalf("granted %v (%v), want %s", got, ok, c.want)
			}
		})
	}
}

// testServer runs a workshop registry in memory with two attendees'
// accounts.
func testServer(t *testing.T) (host string, admin Admin) {
	t.Helper()
	srv, err := New(context.Background(), Options{AdminUser: "admin", AdminPassword: "admin-password-1234"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	host = "localhost:" + u.Port()
	admin = Admin{Host: host, User: "admin", Password: "admin-password-1234"}
	ctx := context.Background()
	for _, a := range []string{"w1-ana", "w1-bob"} {
		if err := admin.PutAccount(ctx, a, a+"-password-1234", "w1"); err != nil {
			t.Fatal(err)
		}
	}
	return host, admin
}

func basic(user string) authn.Authenticator {
	return &authn.Basic{Username: user, Password: user + "-password-1234"}
}

func push(ctx context.Context, ref string, auth authn.Authenticator) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	img, err := random.Image(256, 1)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithContext(ctx), remote.WithAuth(auth))
}

func pull(ctx context.Context, ref string, auth authn.Authenticator) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	_, err = remote.Image(r, remote.WithContext(ctx), remote.WithAuth(auth))
	return err
}

// refused reports whether err is the registry's (or its token server's)
// refusal, not some other failure.
func refused(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden
	}
	return err != nil && (strings.Contains(err.Error(), "UNAUTHORIZED") || strings.Contains(err.Error(), "DENIED") || strings.Contains(err.Error(), "401"))
}

// TestAttendeesAreIsolated runs distribution's registry with token auth
// and the token server, and pushes and pulls as two attendees with
// go-containerregistry (which does the token exchange as docker does).
func TestAttendeesAreIsolated(t *testing.T) {
	host, admin := testServer(t)
	ctx := context.Background()
	ana, bob := host+"/w1-ana/apps/app:1.0", host+"/w1-bob/apps/app:1.0"
	if err := push(ctx, ana, basic("w1-ana")); err != nil {
		t.Fatalf("ana cannot push to her own repository: %v", err)
	}
	if err := push(ctx, bob, basic("w1-bob")); err != nil {
		t.Fatalf("bob cannot push to his own repository: %v", err)
	}
	if err := pull(ctx, ana, basic("w1-ana")); err != nil {
		t.Fatalf("ana cannot pull her own image: %v", err)
	}

	for _, c := range []struct {
		name string
		err  error
	}{
		{"ana pulls bob's image", pull(ctx, bob, basic("w1-ana"))},
		{"ana pushes to bob's repository", push(ctx, host+"/w1-bob/apps/app:evil", basic("w1-ana"))},
		{"ana pushes to the top of the registry", push(ctx, host+"/apps/app:1.0", basic("w1-ana"))},
		{"ana pushes where only the name begins like hers", push(ctx, host+"/w1-anabel/app:1.0", basic("w1-ana"))},
		{"ana's wrong password", pull(ctx, ana, &authn.Basic{Username: "w1-ana", Password: "w1-bob-password-1234"})},
		{"no credentials", pull(ctx, ana, authn.Anonymous)},
	} {
		t.Logf("%s: %v", c.name, c.err)
		if !refused(c.err) {
			t.Errorf("%s: err = %v, want a refusal", c.name, c.err)
		}
	}
	reg, _ := name.NewRegistry(host)
	if _, err := remote.Catalog(ctx, reg, remote.WithAuth(basic("w1-ana"))); !refused(err) {
		t.Errorf("ana reads the catalog (everyone's repositories): err = %v", err)
	}
	repos, err := remote.Catalog(ctx, reg, remote.WithAuth(&authn.Basic{Username: admin.User, Password: admin.Password}))
	if err != nil || strings.Join(repos, " ") != "w1-ana/apps/app w1-bob/apps/app" {
		t.Errorf("the admin's catalog: %v, %v", repos, err)
	}

	// curl -u, as the digest lesson reads a manifest.
	get := func(repo, user, pass string) int {
		req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/1.0", nil)
		req.SetBasicAuth(user, pass)
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("w1-ana/apps/app", "w1-ana", "w1-ana-password-1234"); code != http.StatusOK {
		t.Errorf("curl -u on her own manifest: HTTP %d", code)
	}
	if code := get("w1-bob/apps/app", "w1-ana", "w1-ana-password-1234"); code != http.StatusUnauthorized {
		t.Errorf("curl -u on bob's manifest: HTTP %d, want 401", code)
	}
	if code := get("w1-ana/apps/app", "w1-ana", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("curl -u with a wrong password: HTTP %d, want 401", code)
	}

	// Deleting ana's account removes her repositories and her access, not bob's.
	if err := admin.DeleteAccount(ctx, "w1-ana"); err != nil {
		t.Fatal(err)
	}
	if err := pull(ctx, ana, basic("w1-ana")); !refused(err) {
		t.Errorf("ana's deleted account still pulls: %v", err)
	}
	repos, err = remote.Catalog(ctx, reg, remote.WithAuth(&authn.Basic{Username: admin.User, Password: admin.Password}))
	if err != nil || strings.Join(repos, " ") != "w1-bob/apps/app" {
		t.Errorf("after deleting ana: catalog %v, %v", repos, err)
	}
	if err := pull(ctx, bob, basic("w1-bob")); err != nil {
		t.Errorf("bob's image went with ana's account: %v", err)
	}
	accounts, err := admin.Accounts(ctx, "w1")
	if err != nil || len(accounts) != 1 || accounts[0].Name != "w1-bob" {
		t.Errorf("accounts of w1: %v, %v", accounts, err)
	}
}

// TestTokenEndpoint: the password grant containerd uses, and a refused
// admin API.
func TestTokenEndpoint(t *testing.T) {
	host, admin := testServer(t)
	form := url.Values{"grant_type": {"password"}, "username": {"w1-ana"}, "password": {"w1-ana-password-1234"},
		"service": {DefaultService}, "scope": {"repository:w1-ana/x:pull repository:w1-bob/x:pull"}, "client_id": {"containerd"}}
	resp, err := http.PostForm("http://"+host+TokenPath, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"scope":"repository:w1-ana/x:pull"`) {
		t.Errorf("password grant: HTTP %d %s", resp.StatusCode, body)
	}
	form.Set("password", "wrong")
	resp, err = http.PostForm("http://"+host+TokenPath, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password gets HTTP %d", resp.StatusCode)
	}
	attendee := Admin{Host: host, User: "w1-ana", Password: "w1-ana-password-1234"}
	if _, err := attendee.Accounts(context.Background(), ""); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("an attendee lists accounts: %v", err)
	}
	if err := attendee.PutAccount(context.Background(), "w1-eve", "eve-password-1234", "w1"); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("an attendee makes an account: %v", err)
	}
	if _, err := admin.Accounts(context.Background(), "w1"); err != nil {
		t.Errorf("the admin lists accounts: %v", err)
	}
}

// TestAccountsRemember: verifications are remembered, right and wrong,
// and forgotten with the account's own changes only.
func TestAccountsRemember(t *testing.T) {
	a, err := OpenAccounts("", "admin", "admin-password-1234")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Put("w1-ana", "first-password-1234", "w1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Verify("w1-ana", "second-password-123"); ok {
		t.Fatal("a wrong password is taken")
	}
	if ok, admin := a.Verify("admin", "admin-password-1234"); !ok || !admin {
		t.Fatal("the admin is refused")
	}
	// A new password: the old is refused, the new taken at once, though
	// it was refused a moment ago.
	if err := a.Put("w1-ana", "second-password-123", "w1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Verify("w1-ana", "second-password-123"); !ok {
		t.Error("the new password is refused from memory")
	}
	if ok, _ := a.Verify("w1-ana", "first-password-1234"); ok {
		t.Error("the old password still works")
	}
	if err := a.Delete("w1-ana"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Verify("w1-ana", "second-password-123"); ok {
		t.Error("a deleted account works from memory")
	}
	if ok, _ := a.Verify("admin", "admin-password-1234"); !ok {
		t.Error("the admin is forgotten with another account")
	}
	if ok, admin := a.Verify("admin", "wrong"); ok || admin {
		t.Error("the admin with a wrong password")
	}
}
