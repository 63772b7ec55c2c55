package workshop

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop/registry"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// testRegistry runs a workshop registry in memory on the loopback, where
// docker and go-containerregistry speak plain HTTP to it.
func testRegistry(t testing.TB) (host string, admin registry.Admin) {
	t.Helper()
	srv, err := registry.New(context.Background(), registry.Options{AdminUser: "admin", AdminPassword: "instructor-password"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	host = "localhost:" + u.Port()
	return host, registry.Admin{Host: host, User: "admin", Password: "instructor-password"}
}

// instructor is the instructor's view of the shared API server: its
// admin kubeconfig, read as imagelab workshop does.
func instructor(t testing.TB) (kubernetes.Interface, *rest.Config) {
	t.Helper()
	api := testenv.SharedAPIServer(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", api.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client, cfg
}

// testWorkshop creates a workshop of n attendees on the shared API
// server, with its own registry; it is deleted at cleanup.
func testWorkshop(t testing.TB, id string, n int, expires time.Duration) (*Record, []*JoinFile, registry.Admin) {
	t.Helper()
	client, cfg := instructor(t)
	host, admin := testRegistry(t)
	ctx := context.Background()
	rec, joins, err := Create(ctx, CreateOptions{Client: client, Config: cfg, ID: id, Names: NumberedNames(n), Expires: expires,
		Registry: Registry{Host: host}, Admin: admin, Seed: sandbox.SeedOptions{Source: testenv.SeedTarball(t)}})
	if err != nil {
		t.Fatalf("creating workshop %s: %v", id, err)
	}
	t.Cleanup(func() {
		_, _ = Delete(context.Background(), DeleteOptions{Client: client, Admin: admin, ID: id})
	})
	return rec, joins, admin
}

// takeSeat joins an attendee in a state dir of their own.
func takeSeat(t testing.TB, j *JoinFile) *sandbox.Sandbox {
	t.Helper()
	dir := t.TempDir()
	sb, err := Join(context.Background(), JoinOptions{File: j, StateDir: dir})
	if err != nil {
		t.Fatalf("joining as %s: %v", j.Attendee, err)
	}
	return sb
}

// as runs a script in an attendee's shell (imagelab env's variables), with
// the real kubectl.
func as(t testing.TB, sb *sandbox.Sandbox, script string) (string, error) {
	t.Helper()
	return testenv.Shell(context.Background(), sb.WorkDir, sb.ShellEnv(os.Environ()), script)
}
