package workshop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/sandbox"
)

// TestIntegrationWorkshopOf20 makes a workshop of 20 on the real API
// server and checks what each attendee got: a namespace labelled as
// theirs, its quota, limits and Pod Security, a ServiceAccount bound to a
// Role of that namespace, a join file whose token and registry password
// work, and nothing else. Then delete leaves nothing labelled.
func TestIntegrationWorkshopOf20(t *testing.T) {
	client, _ := instructor(t)
	ctx := context.Background()
	rec, joins, admin := testWorkshop(t, "wtwenty", 20, time.Hour)
	if len(rec.Attendees) != 20 || len(joins) != 20 {
		t.Fatalf("%d attendees, %d join files", len(rec.Attendees), len(joins))
	}
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector("wtwenty").String()})
	if err != nil || len(nss.Items) != 20 {
		t.Fatalf("labelled namespaces: %d, %v", len(nss.Items), err)
	}
	for _, ns := range nss.Items {
		if ns.Labels["pod-security.kubernetes.io/enforce"] != "baseline" || ns.Labels[LabelAttendee] == "" {
			t.Errorf("namespace %s labels: %v", ns.Name, ns.Labels)
		}
		for what, n := range map[string]func() (int, error){
			"quota": func() (int, error) {
				l, err := client.CoreV1().ResourceQuotas(ns.Name).List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"limit range": func() (int, error) {
				l, err := client.CoreV1().LimitRanges(ns.Name).List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"role": func() (int, error) {
				l, err := client.RbacV1().Roles(ns.Name).List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"binding": func() (int, error) {
				l, err := client.RbacV1().RoleBindings(ns.Name).List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
		} {
			if got, err := n(); err != nil || got != 1 {
				t.Errorf("namespace %s: %d %s, %v", ns.Name, got, what, err)
			}
		}
		// Everything made in it is labelled as the workshop's.
		sas, _ := client.CoreV1().ServiceAccounts(ns.Name).List(ctx, metav1.ListOptions{})
		for _, sa := range sas.Items {
			if sa.Labels[LabelWorkshop] != "wtwenty" {
				t.Errorf("service account %s/%s is not labelled: %v", ns.Name, sa.Name, sa.Labels)
			}
		}
		// Nothing gives the attendee's pods a pull secret: the lessons do.
		def, err := client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		if err != nil || len(def.ImagePullSecrets) > 0 {
			t.Errorf("default service account of %s: %v, %v", ns.Name, def, err)
		}
	}
	accounts, err := admin.Accounts(ctx, "wtwenty")
	if err != nil || len(accounts) != 20 {
		t.Fatalf("registry accounts: %d, %v", len(accounts), err)
	}
	// Every join file is a working seat.
	for _, j := range joins {
		data, err := j.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseJoinFile(data)
		if err != nil || back.Registry.Password != j.Registry.Password || back.Kubeconfig != j.Kubeconfig {
			t.Fatalf("join file of %s does not read back: %v", j.Attendee, err)
		}
		if j.Expires.Sub(time.Now()) < 55*time.Minute || j.Expires.Sub(time.Now()) > 61*time.Minute {
			t.Errorf("join file of %s expires at %s, want in an hour", j.Attendee, j.Expires)
		}
	}
	takeSeat(t, joins[0])
	takeSeat(t, joins[19])

	gone, err := Delete(ctx, DeleteOptions{Client: client, Admin: admin, ID: "wtwenty"})
	if err != nil {
		t.Fatal(err)
	}
	if len(gone.Namespaces) != 20 || len(gone.Accounts) != 20 {
		t.Errorf("deleted %d namespaces, %d accounts", len(gone.Namespaces), len(gone.Accounts))
	}
	requireNothingLabelled(t, client, "wtwenty")
	if accounts, _ := admin.Accounts(ctx, "wtwenty"); len(accounts) != 0 {
		t.Errorf("registry accounts left: %v", accounts)
	}
}

// requireNothingLabelled: no object of the workshop's is left but its
// namespaces, being deleted (a bare API server has no namespace
// controller to finish them; a cluster's removes them with what is in
// them).
func requireNothingLabelled(t *testing.T, client kubernetes.Interface, id string) {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: LabelWorkshop + "=" + id}
	nss, _ := client.CoreV1().Namespaces().List(ctx, sel)
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp == nil {
			t.Errorf("namespace %s is not being deleted", ns.Name)
		}
	}
	count := func(what string, n int, err error) {
		if err != nil || n > 0 {
			t.Errorf("%d labelled %s left (%v)", n, what, err)
		}
	}
	sas, err := client.CoreV1().ServiceAccounts("").List(ctx, sel)
	count("service accounts", len(sas.Items), err)
	roles, err := client.RbacV1().Roles("").List(ctx, sel)
	count("roles", len(roles.Items), err)
	rbs, err := client.RbacV1().RoleBindings("").List(ctx, sel)
	count("role bindings", len(rbs.Items), err)
	crbs, err := client.RbacV1().ClusterRoleBindings().List(ctx, sel)
	count("cluster role bindings", len(crbs.Items), err)
	crs, err := client.RbacV1().ClusterRoles().List(ctx, sel)
	count("cluster roles", len(crs.Items), err)
	qs, err := client.CoreV1().ResourceQuotas("").List(ctx, sel)
	count("quotas", len(qs.Items), err)
	lrs, err := client.CoreV1().LimitRanges("").List(ctx, sel)
	count("limit ranges", len(lrs.Items), err)
	cms, err := client.CoreV1().ConfigMaps("").List(ctx, sel)
	count("config maps", len(cms.Items), err)
}

// TestIntegrationAttendeeIsolation: as attendee A, with A's kubeconfig and
// the real kubectl, A's namespace is A's, B's is out of reach, nothing
// cluster-wide can be made, and A's token expires.
func TestIntegrationAttendeeIsolation(t *testing.T) {
	client, _ := instructor(t)
	ctx := context.Background()
	_, joins, admin := testWorkshop(t, "wiso", 3, time.Hour)
	a, b := takeSeat(t, joins[0]), takeSeat(t, joins[1])
	// B has something to see.
	if out, err := as(t, b, `kubectl create secret generic b-secret --from-literal=k=v && kubectl run b-pod --image=`+b.SeedImage()); err != nil {
		t.Fatalf("B works in B's namespace: %v\n%s", err, out)
	}
	// A works in A's own namespace, as the lessons ask.
	if out, err := as(t, a, `kubectl create secret generic mine --from-literal=k=v
kubectl run mine --image=`+a.SeedImage()+` --restart=Never
kubectl create serviceaccount puller && kubectl patch serviceaccount puller -p '{"imagePullSecrets": [{"name": "mine"}]}'
kubectl create deployment web --image=`+a.SeedImage()+` --dry-run=server -o name
kubectl get pods,secrets,serviceaccounts,events -o name >/dev/null
kubectl auth can-i --list`); err != nil {
		t.Fatalf("A cannot do the lessons' work in A's namespace: %v\n%s", err, out)
	}

	forbidden := []struct{ name, script string }{
		{"get B's secret", "kubectl get secret b-secret -n " + b.Namespace},
		{"list B's secrets", "kubectl get secrets -n " + b.Namespace},
		{"watch B's secrets", "kubectl get --raw \"/api/v1/namespaces/" + b.Namespace + "/secrets?watch=true&timeoutSeconds=2\""},
		{"get B's pod", "kubectl get pod b-pod -n " + b.Namespace},
		{"list B's pods", "kubectl get pods -n " + b.Namespace},
		{"watch B's pods", "kubectl get --raw \"/api/v1/namespaces/" + b.Namespace + "/pods?watch=true&timeoutSeconds=2\""},
		{"B's pod's log", "kubectl logs b-pod -n " + b.Namespace},
		{"create in B's namespace", "kubectl create secret generic planted --from-literal=k=v -n " + b.Namespace},
		{"list secrets everywhere", "kubectl get secrets -A"},
		{"list namespaces", "kubectl get namespaces"},
		{"read A's own namespace object", "kubectl get namespace " + a.Namespace},
		{"create a namespace", "kubectl create namespace a-second"},
		{"create a cluster role", "kubectl create clusterrole mine --verb=get --resource=secrets"},
		{"bind a cluster role", "kubectl create clusterrolebinding mine --clusterrole=cluster-admin --serviceaccount=" + a.Namespace + ":attendee"},
		{"create an admission policy", `printf 'apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: mine}
spec:
  matchConstraints: {resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]}
  validations: [{expression: "false"}]
' | kubectl create -f -`},
		{"label A's namespace", "kubectl label namespace " + a.Namespace + " pod-security.kubernetes.io/enforce=privileged --overwrite"},
		{"grant itself more in its namespace", "kubectl create rolebinding more --clusterrole=admin --serviceaccount=" + a.Namespace + ":attendee"},
		{"mint a token", "kubectl create token attendee"},
		{"exec into its own pod", "kubectl exec mine -- true"},
		{"list nodes", "kubectl get nodes"},
	}
	for _, c := range forbidden {
		t.Run(c.name, func(t *testing.T) {
			out, err := as(t, a, c.script)
			if err == nil || !strings.Contains(out, "Forbidden") && !strings.Contains(out, "forbidden") {
				t.Errorf("A may %s: %v\n%s", c.name, err, out)
			}
			t.Logf("%s", lastLine(out))
		})
	}
	// A pod that would reach the node is refused by Pod Security.
	if out, err := as(t, a, `kubectl run root --image=`+a.SeedImage()+` --overrides='{"apiVersion": "v1", "spec": {"hostPID": true, "containers": [{"name": "root", "image": "`+a.SeedImage()+`", "securityContext": {"privileged": true}}]}}'`); err == nil || !strings.Contains(out, "PodSecurity") {
		t.Errorf("a privileged pod is admitted: %v\n%s", err, out)
	}

	t.Run("the token expires", func(t *testing.T) { tokenExpires(t, client, a, time.Hour) })

	// Delete stops A's token at once: its binding and account go first.
	if _, err := Delete(ctx, DeleteOptions{Client: client, Admin: admin, ID: "wiso"}); err != nil {
		t.Fatal(err)
	}
	if out, err := as(t, a, "kubectl get pods"); err == nil {
		t.Errorf("A's token still works after delete:\n%s", out)
	}
	if err := sandbox.PingRegistry(ctx, a.Registry, nil); !errors.Is(err, sandbox.ErrRegistryAuth) {
		t.Errorf("A's registry password after delete: %v", err)
	}
}

// tokenExpires proves the attendee's token stops working when its time is
// up, without waiting for it: TokenRequest's minimum is 10 minutes and
// the API server cannot be made to issue shorter ones
// (--service-account-max-token-expiration only lowers the maximum, to no
// less than an hour). So: the API server accepts the token now
// (TokenReview); its exp claim is the requested lifetime after its iat;
// and the same validation the API server applies — signature with the
// keys the API server publishes (/openid/v1/jwks), then go-jose's claims
// check — accepts it at the API server's now and refuses it one minute
// (go-jose's leeway) and a second after exp. TestIntegrationTokenExpiresForReal
// waits the 10 minutes.
func tokenExpires(t *testing.T, client kubernetes.Interface, sb *sandbox.Sandbox, lifetime time.Duration) {
	ctx := context.Background()
	kc, err := clientcmd.LoadFromFile(sb.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	token := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo].Token
	review, err := client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil || !review.Status.Authenticated || review.Status.User.Username != "system:serviceaccount:"+sb.Namespace+":"+ServiceAccountName {
		t.Fatalf("the API server does not take the token now: %+v, %v", review.Status, err)
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the API server's signing keys: %v", err)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &jwks); err != nil {
		t.Fatal(err)
	}
	keys := jwks.Key(parsed.Headers[0].KeyID)
	if len(keys) == 0 {
		t.Fatalf("no published key %q", parsed.Headers[0].KeyID)
	}
	var claims jwt.Claims
	if err := parsed.Claims(keys[0].Public().Key, &claims); err != nil {
		t.Fatalf("the token is not signed by the API server's key: %v", err)
	}
	if got := claims.Expiry.Time().Sub(claims.IssuedAt.Time()); got != lifetime {
		t.Errorf("exp - iat = %s, want %s", got, lifetime)
	}
	expected := jwt.Expected{Subject: "system:serviceaccount:" + sb.Namespace + ":" + ServiceAccountName, Time: time.Now()}
	if err := claims.Validate(expected); err != nil {
		t.Errorf("refused now: %v", err)
	}
	expected.Time = claims.Expiry.Time().Add(jwt.DefaultLeeway + time.Second)
	if err := claims.Validate(expected); !errors.Is(err, jwt.ErrExpired) {
		t.Errorf("taken after its expiry: %v", err)
	}
	t.Logf("token of %s: issued %s, expires %s (%s); the API server takes it now, the same validation refuses it at %s",
		sb.Namespace, claims.IssuedAt.Time().Format(time.RFC3339), claims.Expiry.Time().Format(time.RFC3339), lifetime, expected.Time.Format(time.RFC3339))
}

// TestIntegrationTokenExpiresForReal waits for a 10-minute token (the
// shortest TokenRequest gives) to expire, and has kubectl use it: set
// IMAGELAB_SLOW=1 to run it (about 11 minutes).
func TestIntegrationTokenExpiresForReal(t *testing.T) {
	if os.Getenv("IMAGELAB_SLOW") != "1" {
		t.Skip("waits 11 minutes: IMAGELAB_SLOW=1 runs it")
	}
	_, joins, _ := testWorkshop(t, "wexpiry", 1, MinExpiry)
	a := takeSeat(t, joins[0])
	if out, err := as(t, a, "kubectl get pods"); err != nil {
		t.Fatalf("the fresh token does not work: %v\n%s", err, out)
	}
	wait := time.Until(joins[0].Expires) + jwt.DefaultLeeway + 5*time.Second
	t.Logf("waiting %s for the token to expire at %s", wait.Round(time.Second), joins[0].Expires.Format(time.RFC3339))
	time.Sleep(wait)
	out, err := as(t, a, "kubectl get pods")
	if err == nil || !strings.Contains(out, "Unauthorized") && !strings.Contains(out, "provide credentials") {
		t.Fatalf("the expired token still works: %v\n%s", err, out)
	}
	t.Logf("after expiry, kubectl says: %s", out)
}

// TestIntegrationRegistryIsolation: with the real docker CLI, attendee A
// logs in to the workshop's registry, pulls and pushes in A's own
// repositories, and is refused B's; a wrong password is refused.
func TestIntegrationRegistryIsolation(t *testing.T) {
	testenv.RequireDocker(t)
	_, joins, _ := testWorkshop(t, "wreg", 2, time.Hour)
	a, b := takeSeat(t, joins[0]), takeSeat(t, joins[1])
	login := fmt.Sprintf(`printf '%%s' %q | docker login %s -u %s --password-stdin`, a.Registry.Password, a.Registry.Host, a.Registry.User)
	if out, err := as(t, a, login+`
docker pull `+a.SeedImage()+`
docker tag `+a.SeedImage()+` `+a.Registry.Repo("apps/my-app:1.0")+`
docker push `+a.Registry.Repo("apps/my-app:1.0")); err != nil {
		t.Fatalf("A cannot use A's own repositories: %v\n%s", err, out)
	}
	for _, c := range []struct{ name, script string }{
		{"pull B's image", "docker pull " + b.SeedImage()},
		{"push to B's repository", "docker tag " + a.SeedImage() + " " + b.Registry.Repo("apps/planted:1.0") + " && docker push " + b.Registry.Repo("apps/planted:1.0")},
		{"push outside any attendee's part", "docker tag " + a.SeedImage() + " " + a.Registry.Host + "/apps/internal-app:1.0 && docker push " + a.Registry.Host + "/apps/internal-app:1.0"},
		{"log in with a wrong password", fmt.Sprintf(`printf wrong | docker login %s -u %s --password-stdin`, a.Registry.Host, a.Registry.User)},
		{"log in as B with A's password", fmt.Sprintf(`printf '%%s' %q | docker login %s -u %s --password-stdin`, a.Registry.Password, a.Registry.Host, b.Registry.User)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := as(t, a, c.script)
			if err == nil {
				t.Errorf("A may %s:\n%s", c.name, out)
			}
			if !strings.Contains(out, "denied") && !strings.Contains(out, "unauthorized") && !strings.Contains(out, "Unauthorized") {
				t.Errorf("%s fails, but not as a refusal:\n%s", c.name, out)
			}
			t.Logf("%s: %s", c.name, lastLine(out))
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
