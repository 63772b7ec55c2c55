package workshop

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop/registry"
)

// CreateOptions say what workshop to make and where.
type CreateOptions struct {
	// Client and Config are the instructor's: an admin of the cluster.
	Client kubernetes.Interface
	Config *rest.Config
	// ID names the workshop; "" makes one.
	ID string
	// Names are the attendees' names (slugs are made of them).
	Names []string
	// Server is the API server's URL as the attendees reach it; "" is the
	// instructor's own (Config.Host).
	Server string
	// Expires is how long the attendees' tokens last (DefaultExpiry).
	Expires time.Duration
	// Registry is the workshop's registry as attendees reach it, and
	// Admin its admin API.
	Registry Registry
	Admin    registry.Admin
	// Seed is the image every attendee starts with as
	// <namespace>/apps/internal-app:1.0.
	Seed sandbox.SeedOptions
	// Parallel is how many attendees are made at once (8).
	Parallel int
	// Report receives what is being done, a report per thing made; nil
	// discards them.
	Report func(Event)
}

// Step names what Create and Delete report, so that a UI can say it in
// its own words and language (the workshop package speaks English only).
type Step string

// The steps; the comment is Event.String, with Subject and Detail.
const (
	StepCheck           Step = "check"            // Checking the cluster and the registry
	StepUndo            Step = "undo"             // Removing what was made
	StepAttendee        Step = "attendee"         // Attendee <Subject>: namespace <Detail>
	StepSeed            Step = "seed"             // Seeding <Subject> for every attendee
	StepDeleteNamespace Step = "delete-namespace" // Deleting namespace <Subject>
	StepDeleteAccount   Step = "delete-account"   // Deleting registry account <Subject> and its repositories
	StepWait            Step = "wait"             // Waiting for the namespaces to be gone
)

// Event is one report of Create or Delete.
type Event struct {
	Step            Step
	Subject, Detail string
}

// String is the report in English.
func (p Event) String() string {
	switch p.Step {
	case StepCheck:
		return "Checking the cluster and the registry"
	case StepUndo:
		return "Removing what was made"
	case StepAttendee:
		return "Attendee " + p.Subject + ": namespace " + p.Detail
	case StepSeed:
		return "Seeding " + p.Subject + " for every attendee"
	case StepDeleteNamespace:
		return "Deleting namespace " + p.Subject
	case StepDeleteAccount:
		return "Deleting registry account " + p.Subject + " and its repositories"
	case StepWait:
		return "Waiting for the namespaces to be gone"
	}
	return string(p.Step)
}

// MinExpiry is the shortest token TokenRequest issues.
const MinExpiry = 10 * time.Minute

// ErrExists means the workshop, or one of its names, is taken.
var ErrExists = errors.New("already exists")

// Create makes the workshop: per attendee a labelled namespace with a
// quota, default limits and Pod Security, a ServiceAccount bound to a
// Role in that namespace alone, a token for it that expires, a registry
// account of their own, and the image the lessons start from; it returns
// the instructor's record and a join file per attendee.
//
// It first makes sure everything it will need answers and that nothing
// of those names exists, so a wrong flag makes nothing. A failure after
// that removes, with Delete, what this call made: every object carries
// the workshop's label and every registry account its ID.
func Create(ctx context.Context, opts CreateOptions) (rec *Record, joins []*JoinFile, err error) {
	report := opts.Report
	if report == nil {
		report = func(Event) {}
	}
	id := opts.ID
	if id == "" {
		id = NewID()
	}
	if err := ValidID(id); err != nil {
		return nil, nil, err
	}
	attendees, err := Attendees(id, opts.Names)
	if err != nil {
		return nil, nil, err
	}
	if opts.Expires == 0 {
		opts.Expires = DefaultExpiry
	}
	if opts.Expires < MinExpiry {
		return nil, nil, fmt.Errorf("--expires %s: tokens last at least %s (the API server's minimum)", opts.Expires, MinExpiry)
	}
	if opts.Registry.Host == "" {
		return nil, nil, errors.New("name the workshop's registry with --registry host:port (imagelab workshop registry runs one)")
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	client := opts.Client
	server, caData, insecure, err := apiServer(opts)
	if err != nil {
		return nil, nil, err
	}

	report(Event{Step: StepCheck})
	if err := sandbox.Ping(ctx, client); err != nil {
		return nil, nil, err
	}
	if err := nothingNamed(ctx, client, opts.Admin, id, attendees); err != nil {
		return nil, nil, err
	}
	kubelet, platform := nodes(ctx, client)

	// From here on a failure removes what this call made.
	defer func() {
		if err == nil {
			return
		}
		report(Event{Step: StepUndo})
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if _, derr := Delete(cleanup, DeleteOptions{Client: client, Admin: opts.Admin, ID: id}); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing what was made: %w", derr))
		}
		rec, joins = nil, nil
	}()

	now := time.Now().UTC().Truncate(time.Second)
	rec = &Record{ID: id, Created: now, Server: server, Registry: opts.Registry, Kubelet: kubelet}
	joins = make([]*JoinFile, len(attendees))
	var expiresAt []time.Time = make([]time.Time, len(attendees))
	err = parallel(ctx, len(attendees), opts.Parallel, func(ctx context.Context, i int) error {
		a := &attendees[i]
		a.RegistryPassword = password()
		report(Event{Step: StepAttendee, Subject: a.Name, Detail: a.Namespace})
		token, exp, err := makeAttendee(ctx, client, id, *a, opts.Expires)
		if err != nil {
			return fmt.Errorf("attendee %s: %w", a.Name, err)
		}
		if err := opts.Admin.PutAccount(ctx, a.Namespace, a.RegistryPassword, id); err != nil {
			return fmt.Errorf("attendee %s: %w", a.Name, err)
		}
		kubeconfig, err := attendeeKubeconfig(id, server, caData, insecure, a.Namespace, token)
		if err != nil {
			return err
		}
		expiresAt[i] = exp
		joins[i] = &JoinFile{APIVersion: JoinAPIVersion, Kind: JoinKind, Workshop: id, Attendee: a.Name, Display: a.Display,
			Namespace: a.Namespace, Expires: exp, Kubelet: kubelet, Kubeconfig: string(kubeconfig),
			Registry: JoinRegistry{Host: opts.Registry.Host, User: a.Namespace, Password: a.RegistryPassword, Prefix: a.Namespace, CA: opts.Registry.CA}}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rec.Attendees = attendees
	rec.Expires = expiresAt[0]
	for _, e := range expiresAt {
		if e.Before(rec.Expires) {
			rec.Expires = e
		}
	}

	report(Event{Step: StepSeed, Subject: sandbox.SeedRepository + ":" + sandbox.SeedTag})
	if err := seedAll(ctx, opts, attendees, platform); err != nil {
		return nil, nil, err
	}
	return rec, joins, nil
}

// apiServer is the API server's address and CA as the join files carry them.
func apiServer(opts CreateOptions) (server string, caData []byte, insecure bool, err error) {
	if opts.Config == nil {
		return "", nil, false, errors.New("no cluster configuration")
	}
	server = opts.Server
	if server == "" {
		server = opts.Config.Host
	}
	caData = opts.Config.TLSClientConfig.CAData
	if len(caData) == 0 && opts.Config.TLSClientConfig.CAFile != "" {
		if caData, err = os.ReadFile(opts.Config.TLSClientConfig.CAFile); err != nil {
			return "", nil, false, fmt.Errorf("reading the cluster's CA: %w", err)
		}
	}
	return server, caData, opts.Config.TLSClientConfig.Insecure, nil
}

// nothingNamed makes sure the workshop's names are free: no namespace of
// the workshop or of an attendee's name, no registry account of it. It
// also proves that the registry's admin API answers.
func nothingNamed(ctx context.Context, client kubernetes.Interface, admin registry.Admin, id string, attendees []Attendee) error {
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector(id).String(), Limit: 1})
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	if len(nss.Items) > 0 {
		return fmt.Errorf("workshop %s %w (namespace %s): imagelab workshop delete --id %s removes it, or choose another --id", id, ErrExists, nss.Items[0].Name, id)
	}
	for _, a := range attendees {
		switch _, err := client.CoreV1().Namespaces().Get(ctx, a.Namespace, metav1.GetOptions{}); {
		case err == nil:
			return fmt.Errorf("namespace %s %w, and it is not this workshop's: choose another --id", a.Namespace, ErrExists)
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("reading namespace %s: %w", a.Namespace, err)
		}
	}
	accounts, err := admin.Accounts(ctx, "")
	if err != nil {
		return err
	}
	for _, acc := range accounts {
		for _, a := range attendees {
			if acc.Name == a.Namespace {
				return fmt.Errorf("registry account %s %w (workshop %q): choose another --id", acc.Name, ErrExists, acc.Workshop)
			}
		}
	}
	return nil
}

// selector selects what workshop id made.
func selector(id string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{sandbox.LabelManagedBy: sandbox.ManagedBy, LabelWorkshop: id})
}

// nodes tells whether a kubelet runs (some node is registered) and the
// nodes' platform when they share one, which the seed is built for.
func nodes(ctx context.Context, client kubernetes.Interface) (kubelet bool, platform *v1.Platform) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return true, nil // an instructor who may not list nodes has a real cluster
	}
	for _, n := range list.Items {
		p := &v1.Platform{OS: n.Status.NodeInfo.OperatingSystem, Architecture: n.Status.NodeInfo.Architecture}
		switch {
		case platform == nil:
			platform = p
		case platform.OS != p.OS || platform.Architecture != p.Architecture:
			return true, nil // mixed: the seed is an index of every platform
		}
	}
	return len(list.Items) > 0, platform
}

// makeAttendee makes an attendee's namespace and what is in it, and
// returns a token for their ServiceAccount and when it expires.
func makeAttendee(ctx context.Context, client kubernetes.Interface, id string, a Attendee, expires time.Duration) (string, time.Time, error) {
	lbl := a.Labels(id)
	nsLabels := a.Labels(id)
	for k, v := range podSecurityLabels() {
		nsLabels[k] = v
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: a.Namespace, Labels: lbl}
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.Namespace, Labels: nsLabels}}, metav1.CreateOptions{}); err != nil {
		return "", time.Time{}, fmt.Errorf("creating namespace %s: %w", a.Namespace, err)
	}
	if err := ensureDefaultServiceAccount(ctx, client, a.Namespace, lbl); err != nil {
		return "", time.Time{}, err
	}
	if _, err := client.CoreV1().ResourceQuotas(a.Namespace).Create(ctx, &corev1.ResourceQuota{ObjectMeta: meta(QuotaName), Spec: quotaSpec()}, metav1.CreateOptions{}); err != nil {
		return "", time.Time{}, fmt.Errorf("creating the quota: %w", err)
	}
	if _, err := client.CoreV1().LimitRanges(a.Namespace).Create(ctx, &corev1.LimitRange{ObjectMeta: meta(QuotaName), Spec: limitRangeSpec()}, metav1.CreateOptions{}); err != nil {
		return "", time.Time{}, fmt.Errorf("creating the limit range: %w", err)
	}
	// No token is mounted into pods that run as the attendee's account:
	// the attendee holds its token, their pods need none.
	no := false
	if _, err := client.CoreV1().ServiceAccounts(a.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta(ServiceAccountName), AutomountServiceAccountToken: &no}, metav1.CreateOptions{}); err != nil {
		return "", time.Time{}, fmt.Errorf("creating the service account: %w", err)
	}
	if _, err := client.RbacV1().Roles(a.Namespace).Create(ctx, &rbacv1.Role{ObjectMeta: meta(RoleName), Rules: AttendeeRules}, metav1.CreateOptions{}); err != nil {
		return "", time.Time{}, fmt.Errorf("creating the role: %w", err)
	}
	if _, err := client.RbacV1().RoleBindings(a.Namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta(RoleName),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: RoleName},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccountName, Namespace: a.Namespace}}}, metav1.CreateOptions{}); err != nil {
		return "", time.Time{}, fmt.Errorf("creating the role binding: %w", err)
	}
	secs := int64(expires / time.Second)
	tr, err := client.CoreV1().ServiceAccounts(a.Namespace).CreateToken(ctx, ServiceAccountName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("requesting a token: %w", err)
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.UTC(), nil
}

// ensureDefaultServiceAccount makes sure the namespace has its default
// ServiceAccount, without which no pod can be created: a cluster's
// controller makes it within a second; a bare API server has none, and
// then it is made here, labelled.
func ensureDefaultServiceAccount(ctx context.Context, client kubernetes.Interface, ns string, lbl map[string]string) error {
	get := func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}
	if ok, _ := get(ctx); ok {
		return nil
	}
	if namespaceController(ctx, client) {
		if wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, get) == nil {
			return nil
		}
	}
	no := false
	_, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns, Labels: lbl}, AutomountServiceAccountToken: &no}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default service account in %s: %w", ns, err)
	}
	return nil
}

// attendeeKubeconfig is a kubeconfig with the attendee's token, their
// namespace as the default.
func attendeeKubeconfig(id, server string, caData []byte, insecure bool, ns, token string) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cluster := "imagelab-" + id
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData, InsecureSkipTLSVerify: insecure && len(caData) == 0}
	cfg.AuthInfos[ns] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: ns, Namespace: ns}
	cfg.CurrentContext = cluster
	return clientcmd.Write(*cfg)
}

// seedAll puts the lessons' starting image in every attendee's part of
// the registry: built once from the seed source into the first, then
// copied (the registry mounts the layers across repositories rather
// than receive them again).
func seedAll(ctx context.Context, opts CreateOptions, attendees []Attendee, platform *v1.Platform) error {
	rt := opts.Seed.Transport
	if rt == nil {
		rt = opts.Admin.Transport
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	admin := func(prefix string) sandbox.Registry {
		return sandbox.Registry{Host: opts.Registry.Host, Prefix: prefix, User: opts.Admin.User, Password: opts.Admin.Password}
	}
	seed := opts.Seed
	seed.Transport, seed.Force = rt, true
	if seed.Platform == nil {
		seed.Platform = platform
	}
	first := admin(attendees[0].Namespace)
	if _, err := sandbox.Seed(ctx, first, seed); err != nil {
		return err
	}
	src, err := name.ParseReference(first.Repo(sandbox.SeedRepository) + ":" + sandbox.SeedTag)
	if err != nil {
		return err
	}
	auth := remote.WithAuth(&authn.Basic{Username: opts.Admin.User, Password: opts.Admin.Password})
	desc, err := remote.Get(src, remote.WithContext(ctx), auth, remote.WithTransport(rt))
	if err != nil {
		return fmt.Errorf("reading the seed back: %w", err)
	}
	return parallel(ctx, len(attendees)-1, 4, func(ctx context.Context, i int) error {
		dst, err := name.ParseReference(admin(attendees[i+1].Namespace).Repo(sandbox.SeedRepository) + ":" + sandbox.SeedTag)
		if err != nil {
			return err
		}
		o := []remote.Option{remote.WithContext(ctx), auth, remote.WithTransport(rt)}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			if err == nil {
				err = remote.WriteIndex(dst, idx, o...)
			}
			return err
		}
		img, err := desc.Image()
		if err == nil {
			err = remote.Write(dst, img, o...)
		}
		if err != nil {
			return fmt.Errorf("copying the seed to %s: %w", dst, err)
		}
		return nil
	})
}

// parallel runs fn for 0..n-1, at most limit at once, and returns the
// first error (the others are cancelled).
func parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// password makes a registry password: 20 letters and digits (about 119
// bits), nothing a shell or a YAML file would read differently.
func password() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, 20)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}
