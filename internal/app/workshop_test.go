package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop"
	"github.com/imagelab/imagelab/workshop/registry"
)

// runStdout runs imagelab and returns its stdout and stderr apart.
func runStdout(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = Run(context.Background(), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, args)
	return out.String(), errOut.String(), err
}

// workshopRegistry runs imagelab's workshop registry in-process.
func workshopRegistry(t *testing.T) (host, adminPassword string) {
	t.Helper()
	const pass = "instructor-password"
	srv, err := registry.New(context.Background(), registry.Options{AdminUser: "admin", AdminPassword: pass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	return "localhost:" + u.Port(), pass
}

// TestIntegrationWorkshop is a workshop from the instructor's commands to
// the board: create on the real API server with the workshop registry,
// several attendees join and do the lessons at once (the real kubectl
// and docker CLI, imagelab check as they would run it), each somewhere
// else; status --json shows each as the board judged them; delete leaves
// nothing labelled.
func TestIntegrationWorkshop(t *testing.T) {
	testenv.RequireDocker(t)
	api := testenv.SharedAPIServer(t)
	host, adminPass := workshopRegistry(t)
	instr, out := t.TempDir(), filepath.Join(t.TempDir(), "join")
	ctx := context.Background()
	const id = "wapp"

	stdout, stderr, err := runStdout(t, "workshop", "create", "--attendees", "6", "--id", id, "--kubeconfig", api.Kubeconfig,
		"--registry", host, "--registry-admin-password", adminPass, "--out", out, "--seed-image", testenv.SeedTarball(t), "--state-dir", instr)
	if err != nil {
		t.Fatalf("workshop create: %v\n%s%s", err, stdout, stderr)
	}
	t.Cleanup(func() {
		_, _, _ = runStdout(t, "workshop", "delete", "--yes", "--id", id, "--kubeconfig", api.Kubeconfig, "--registry-admin-password", adminPass, "--state-dir", instr)
	})
	t.Logf("workshop create:\n%s", stdout)

	// Four attendees join, each in a state dir of their own.
	seats := make([]string, 4)
	sbs := make([]*sandbox.Sandbox, 4)
	for i := range seats {
		seats[i] = t.TempDir()
		name := fmt.Sprintf("a%02d", i+1)
		if o, e, err := runStdout(t, "join", filepath.Join(out, name+".yaml"), "--state-dir", seats[i]); err != nil {
			t.Fatalf("join as %s: %v\n%s%s", name, err, o, e)
		}
		if sbs[i], err = sandbox.Load(seats[i]); err != nil || sbs[i].Provider != sandbox.ProviderWorkshop {
			t.Fatalf("a%02d's sandbox: %+v, %v", i+1, sbs[i], err)
		}
	}

	// Where each attendee gets to: a01 through lesson 4; a02 makes regcred
	// with a wrong password; a03 runs a pod without credentials; a04 only
	// logs in; a05 and a06 never join.
	login := `printf '%s' "$REG_PASS" | docker login "$REG" -u "$REG_USER" --password-stdin`
	regcred := `kubectl create secret docker-registry regcred --docker-server="$REG" --docker-username="$REG_USER" --docker-password="$REG_PASS"`
	podWith := `printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: internal-app\nspec:\n  imagePullSecrets: [{name: regcred}]\n  containers:\n  - name: app\n    image: %s/apps/internal-app:1.0\n' "$REPOS" | kubectl apply -f -`
	viaSA := `kubectl create serviceaccount puller && kubectl patch serviceaccount puller -p '{"imagePullSecrets": [{"name": "regcred"}]}'
kubectl run via-serviceaccount --image="$REPOS/apps/internal-app:1.0" --restart=Never --overrides='{"apiVersion": "v1", "spec": {"serviceAccountName": "puller"}}'`
	scripts := []struct {
		script  string
		current string
		checks  []string
	}{
		{login + "\n" + `docker pull "$REPOS/apps/internal-app:1.0" && docker tag "$REPOS/apps/internal-app:1.0" "$REPOS/apps/my-app:1.0" && docker push "$REPOS/apps/my-app:1.0"
kubectl run anonymous --image="$REPOS/apps/internal-app:1.0" --restart=Never
` + regcred + "\n" + podWith + "\n" + viaSA,
			"service-accounts/pod-with-serviceaccount", []string{"private-registry/login", "private-registry/push", "pull-secrets/without-credentials", "pull-secrets/regcred", "pull-secrets/image-pull-secrets", "service-accounts/serviceaccount", "service-accounts/pod-with-serviceaccount"}},
		{`kubectl create secret docker-registry regcred --docker-server="$REG" --docker-username="$REG_USER" --docker-password=not-the-password`, "pull-secrets/regcred", []string{"pull-secrets/regcred"}},
		{`kubectl run anonymous --image="$REPOS/apps/internal-app:1.0" --restart=Never`, "pull-secrets/without-credentials", []string{"pull-secrets/without-credentials"}},
		{login, "private-registry/push", []string{"private-registry/login"}},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(scripts))
	for i, s := range scripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sb := sbs[i]
			env := append(sb.ShellEnv(os.Environ()), "REG="+sb.Registry.Host, "REG_USER="+sb.Registry.User, "REG_PASS="+sb.Registry.Password, "REPOS="+sb.Registry.Repos())
			if o, err := testenv.Shell(ctx, sb.WorkDir, env, s.script); err != nil {
				errs[i] = fmt.Errorf("a%02d's commands: %v\n%s", i+1, err, o)
				return
			}
			// The attendee's imagelab checks the steps (saving progress,
			// mirrored to their namespace) and is on their current step.
			for _, step := range s.checks {
				_, _, _ = runStdout(t, "check", step, "--state-dir", seats[i])
			}
			ss, err := (&globalFlags{stateDir: seats[i]}).session()
			if err != nil {
				errs[i] = err
				return
			}
			ss.store.State.Current = s.current
			errs[i] = ss.store.Save()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// a01's quiz answers, from the command line.
	if _, _, err := runStdout(t, "check", "image-names/full-name", "--answer", "docker.io/library/nginx:latest", "--state-dir", seats[0]); err != nil {
		t.Fatal(err)
	}
	ss, _ := (&globalFlags{stateDir: seats[0]}).session()
	ss.store.State.Current = scripts[0].current
	if err := ss.store.Save(); err != nil {
		t.Fatal(err)
	}
	// The mirror is in a01's namespace.
	cm, err := api.Client.CoreV1().ConfigMaps(sbs[0].Namespace).Get(ctx, workshop.ProgressConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a01's progress is not mirrored: %v", err)
	}
	if p, err := workshop.ReadProgress(cm); err != nil || p.Current != scripts[0].current || !p.Steps["image-names/full-name"].Passed {
		t.Fatalf("a01's mirrored progress: %+v, %v", p, err)
	}

	stdout, stderr, err = runStdout(t, "workshop", "status", "--json", "--kubeconfig", api.Kubeconfig, "--state-dir", instr)
	if err != nil {
		t.Fatalf("workshop status: %v\n%s", err, stderr)
	}
	var st workshop.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(st.Attendees) != 6 {
		t.Fatalf("%d attendees on the board", len(st.Attendees))
	}
	by := map[string]workshop.AttendeeStatus{}
	for _, a := range st.Attendees {
		by[a.Name] = a
	}
	// a01: every cluster step of lessons 3 and 4 judged passed by the
	// board, the quiz and the login as reported.
	a01 := by["a01"]
	for _, ref := range []string{"pull-secrets/without-credentials", "pull-secrets/regcred", "pull-secrets/image-pull-secrets", "service-accounts/serviceaccount", "service-accounts/pod-with-serviceaccount"} {
		if a01.Steps[ref].Status != workshop.StatusPassed {
			t.Errorf("a01's %s on the board: %+v", ref, a01.Steps[ref])
		}
	}
	if a01.State != workshop.StateDone || a01.Done < 8 {
		t.Errorf("a01: state %s, %d done", a01.State, a01.Done)
	}
	// a02: the board's own check names the wrong password.
	if a := by["a02"]; a.Current != "pull-secrets/regcred" || a.Verdict != workshop.StatusNotPassed || !contains(a.Problems, "secret-wrong-password") {
		t.Errorf("a02 on the board: %+v", a)
	}
	if a := by["a03"]; a.Steps["pull-secrets/without-credentials"].Status != workshop.StatusPassed {
		t.Errorf("a03 on the board: %+v", a)
	}
	// a04 logged in (their machine says so), and has not pushed: the
	// board shows their report.
	if a := by["a04"]; a.Done != 1 || a.Current != "private-registry/push" || a.Verdict != workshop.StatusReported {
		t.Errorf("a04 on the board: %+v", a)
	}
	if a := by["a05"]; a.State != workshop.StateNew || a.Done != 0 {
		t.Errorf("a05 (never joined) on the board: %+v", a)
	}
	if len(st.Findings) == 0 || !containsFinding(st.Findings, "secret-wrong-password") {
		t.Errorf("the room's findings: %+v", st.Findings)
	}
	// Nothing of another attendee leaks into a check's findings.
	for _, a := range st.Attendees {
		for ref, r := range a.Steps {
			for _, f := range r.Findings {
				for _, other := range st.Attendees {
					if other.Name != a.Name && strings.Contains(f.Problem+f.Try+f.Expected+f.Evidence, other.Namespace) {
						t.Errorf("%s's %s names %s: %s", a.Name, ref, other.Namespace, f.Problem)
					}
				}
			}
		}
	}
	// The board as an instructor sees it.
	t.Logf("board at 120×36:\n%s", renderBoard(nil, st, 120, 36, boardStyles(false)))
	t.Logf("board at 80×24:\n%s", renderBoard(nil, st, 80, 24, boardStyles(false)))

	// A control-plane step is for a personal sandbox; so is the admission
	// policy, which is cluster-wide.
	for _, step := range []string{"supply-chain/always-pull-images", "admission/registry-allowlist"} {
		o, _, err := runStdout(t, "check", step, "--json", "--state-dir", seats[1])
		if err != nil && !strings.Contains(o, `"unavailable"`) {
			t.Errorf("%s on a seat: %v\n%s", step, err, o)
		}
		if !strings.Contains(o, "personal sandbox") {
			t.Errorf("%s does not say it is for a personal sandbox:\n%s", step, o)
		}
	}
	// imagelab status on a seat: the seat, ready (the token reads
	// /readyz, the registry takes the password).
	if o, e, err := runStdout(t, "status", "--state-dir", seats[2]); err != nil || !strings.Contains(o, "workshop wapp, attendee a03, namespace wapp-a03") || !strings.Contains(o, ", ready") {
		t.Errorf("status on a seat: %v\n%s%s", err, o, e)
	}
	// An attendee's reset works in their namespace.
	if o, e, err := runStdout(t, "reset", "pull-secrets/regcred", "--state-dir", seats[1]); err != nil {
		t.Errorf("reset on a seat: %v\n%s%s", err, o, e)
	}

	stdout, stderr, err = runStdout(t, "workshop", "delete", "--yes", "--kubeconfig", api.Kubeconfig, "--registry-admin-password", adminPass, "--state-dir", instr)
	if err != nil {
		t.Fatalf("workshop delete: %v\n%s%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "Deleted 6 namespaces and 6 registry accounts") {
		t.Errorf("delete says: %s", stdout)
	}
	nss, _ := api.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: workshop.LabelWorkshop + "=" + id})
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp == nil {
			t.Errorf("namespace %s is left", ns.Name)
		}
	}
	for _, kind := range []string{"serviceaccounts", "configmaps", "resourcequotas", "limitranges"} {
		raw, _ := api.Client.CoreV1().RESTClient().Get().Resource(kind).Param("labelSelector", workshop.LabelWorkshop+"="+id).DoRaw(ctx)
		if bytes.Contains(raw, []byte(`"name"`)) {
			t.Errorf("labelled %s left: %s", kind, raw)
		}
	}
	if ids, _ := workshop.RecordIDs(instr); len(ids) != 0 {
		t.Errorf("records left: %v", ids)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsFinding(list []workshop.FindingCount, code string) bool {
	for _, f := range list {
		if f.Code == code {
			return true
		}
	}
	return false
}
