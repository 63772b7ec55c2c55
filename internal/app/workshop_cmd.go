package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/workshop"
	"github.com/imagelab/imagelab/workshop/registry"
)

// mirrorProgress has an attendee's progress mirrored into their
// namespace after each save, for the instructor's board.
func mirrorProgress(stateDir string, store *progress.Store) {
	sb, err := sandbox.Load(stateDir)
	if err != nil || sb.Provider != sandbox.ProviderWorkshop {
		return
	}
	if m, err := workshop.NewMirror(sb); err == nil {
		store.SetMirror(m.Save)
	}
}

// workshopSeat describes a workshop sandbox in a line.
func workshopSeat(p *i18n.Printer, sb *sandbox.Sandbox) string {
	if sb.Workshop == nil {
		return p.T("a workshop seat, namespace %s", sb.Namespace)
	}
	s := p.T("workshop %s, attendee %s, namespace %s", sb.Workshop.ID, sb.Workshop.Attendee, sb.Namespace)
	if !sb.Workshop.Expires.IsZero() {
		s += p.T(", until %s", sb.Workshop.Expires.Local().Format("15:04"))
	}
	return s
}

// workshopProgress is a report of workshop create or delete in p's language.
func workshopProgress(p *i18n.Printer, pr workshop.Event) string {
	switch pr.Step {
	case workshop.StepCheck:
		return p.T("Checking the cluster and the registry")
	case workshop.StepUndo:
		return p.T("Removing what was made")
	case workshop.StepAttendee:
		return p.T("Attendee %s: namespace %s", pr.Subject, pr.Detail)
	case workshop.StepSeed:
		return p.T("Seeding %s for every attendee", pr.Subject)
	case workshop.StepDeleteNamespace:
		return p.T("Deleting namespace %s", pr.Subject)
	case workshop.StepDeleteAccount:
		return p.T("Deleting registry account %s and its repositories", pr.Subject)
	case workshop.StepWait:
		return p.T("Waiting for the namespaces to be gone")
	}
	return pr.String()
}

// workshopFlags name the instructor's cluster and the workshop's registry.
type workshopFlags struct {
	kubeconfig, context string
	id                  string
	registry            string
	adminUser           string
	adminPassword       string
	registryCA          string
}

func (f *workshopFlags) addCluster(cmd *cobra.Command, p *i18n.Printer) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", p.T("the instructor's kubeconfig (an admin of the cluster; read only)"))
	cmd.Flags().StringVar(&f.context, "context", "", p.T("its context"))
	cmd.Flags().StringVar(&f.id, "id", "", p.T("the workshop's id (default: the one this state dir keeps)"))
}

func (f *workshopFlags) addRegistry(cmd *cobra.Command, p *i18n.Printer) {
	cmd.Flags().StringVar(&f.registry, "registry", "", p.T("the workshop's registry as host:port (imagelab workshop registry)"))
	cmd.Flags().StringVar(&f.adminUser, "registry-admin-user", "admin", p.T("the registry's admin user"))
	cmd.Flags().StringVar(&f.adminPassword, "registry-admin-password", "", p.T("the registry's admin password (or $IMAGELAB_REGISTRY_ADMIN_PASSWORD)"))
	cmd.Flags().StringVar(&f.registryCA, "registry-ca", "", p.T("PEM file of the CA that signs the registry's certificate, when machines do not trust it already"))
}

// cluster is the instructor's client. No client timeout: the board's
// informers keep watches open.
func (f *workshopFlags) cluster() (kubernetes.Interface, *rest.Config, error) {
	if f.kubeconfig == "" && f.context == "" {
		return nil, nil, sandbox.ErrUnnamedCluster
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: f.kubeconfig}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 100, 300
	cfg.UserAgent = "imagelab-workshop"
	client, err := kubernetes.NewForConfig(cfg)
	return client, cfg, err
}

// admin is the registry's admin API, on host (the flag's, else the record's).
func (f *workshopFlags) admin(host, caPEM string) (registry.Admin, error) {
	if f.registry != "" {
		host = f.registry
	}
	pass := f.adminPassword
	if pass == "" {
		pass = os.Getenv("IMAGELAB_REGISTRY_ADMIN_PASSWORD")
	}
	if f.registryCA != "" {
		data, err := os.ReadFile(f.registryCA)
		if err != nil {
			return registry.Admin{}, err
		}
		caPEM = string(data)
	}
	rt, err := sandbox.TransportTrusting([]byte(caPEM))
	if err != nil {
		return registry.Admin{}, err
	}
	if host != "" && pass == "" {
		return registry.Admin{}, errors.New("the registry's admin password: --registry-admin-password or $IMAGELAB_REGISTRY_ADMIN_PASSWORD")
	}
	return registry.Admin{Host: host, User: f.adminUser, Password: pass, Transport: rt}, nil
}

func newWorkshopCommand(g *globalFlags, streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workshop",
		Short: g.p.T("Run a workshop on one shared cluster: an attendee per namespace, and the instructor's board"),
		Long: g.p.T(`A workshop gives each attendee a namespace of their own on one cluster, a
ServiceAccount limited to it with a token that expires, and an account of
their own in the workshop's registry. Attendees run imagelab join FILE and
then imagelab, as on their own sandbox; the board shows the room.

  imagelab workshop registry ...     # run the workshop's registry (token auth)
  imagelab workshop create ...       # make the seats; one join file each
  imagelab workshop status --watch   # the board
  imagelab workshop delete           # remove exactly what create made`),
	}
	cmd.AddCommand(newWorkshopCreateCommand(g, streams), newWorkshopStatusCommand(g, streams),
		newWorkshopDeleteCommand(g, streams), newWorkshopRegistryCommand(g, streams))
	return cmd
}

type createOptions struct {
	flags     workshopFlags
	attendees int
	names     string
	out       string
	server    string
	expires   time.Duration
	seedImage string
}

func newWorkshopCreateCommand(g *globalFlags, streams Streams) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create (--attendees N | --names FILE) --kubeconfig FILE --registry HOST:PORT",
		Short: g.p.T("Make a seat per attendee: namespace, scoped ServiceAccount and token, registry account; a join file each"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWorkshopCreate(cmd.Context(), g, o, streams)
		},
	}
	o.flags.addCluster(cmd, g.p)
	o.flags.addRegistry(cmd, g.p)
	cmd.Flags().IntVar(&o.attendees, "attendees", 0, g.p.T("how many attendees (named a01, a02…)"))
	cmd.Flags().StringVar(&o.names, "names", "", g.p.T("a file of attendees' names, one a line"))
	cmd.Flags().StringVar(&o.out, "out", "", g.p.T("where the join files go (default ./imagelab-<id>)"))
	cmd.Flags().StringVar(&o.server, "server", "", g.p.T("the API server's URL as attendees reach it (default: the kubeconfig's)"))
	cmd.Flags().DurationVar(&o.expires, "expires", workshop.DefaultExpiry, g.p.T("how long the attendees' tokens last (at least 10m)"))
	cmd.Flags().StringVar(&o.seedImage, "seed-image", "", g.p.T("image (or tarball, or OCI layout dir) the lessons' apps/internal-app is built on (default %s)", sandbox.DefaultSeedSource))
	return cmd
}

func runWorkshopCreate(ctx context.Context, g *globalFlags, o *createOptions, streams Streams) error {
	var names []string
	switch {
	case (o.attendees > 0) == (o.names != ""):
		return &exitError{code: 2, err: g.p.Errorf("give one of --attendees N and --names FILE")}
	case o.attendees > 0:
		names = workshop.NumberedNames(o.attendees)
	default:
		f, err := os.Open(o.names)
		if err != nil {
			return err
		}
		names, err = workshop.ReadNames(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	stateDir, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	client, cfg, err := o.flags.cluster()
	if err != nil {
		return err
	}
	if o.flags.registry == "" {
		return &exitError{code: 2, err: g.p.Errorf("name the workshop's registry with --registry host:port (imagelab workshop registry runs one)")}
	}
	admin, err := o.flags.admin("", "")
	if err != nil {
		return err
	}
	ca := ""
	if o.flags.registryCA != "" {
		data, err := os.ReadFile(o.flags.registryCA)
		if err != nil {
			return err
		}
		ca = string(data)
	}
	id := o.flags.id
	if id == "" {
		id = workshop.NewID()
	}
	out := o.out
	if out == "" {
		out = "imagelab-" + id
	}
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return g.p.Errorf("%s is not empty: name another --out", out)
	}
	start := time.Now()
	rec, joins, err := workshop.Create(ctx, workshop.CreateOptions{
		Client: client, Config: cfg, ID: id, Names: names, Server: o.server, Expires: o.expires,
		Registry: workshop.Registry{Host: o.flags.registry, CA: ca}, Admin: admin,
		Seed:   sandbox.SeedOptions{Source: o.seedImage, Transport: admin.Transport},
		Report: func(pr workshop.Event) { fmt.Fprintln(streams.Err, "•", workshopProgress(g.p, pr)) },
	})
	if err != nil {
		return err
	}
	// The seats are useless without their join files: a failure to keep
	// them removes the workshop.
	if err := writeJoins(out, joins); err == nil {
		err = workshop.SaveRecord(stateDir, rec)
	} else {
		_, derr := workshop.Delete(context.WithoutCancel(ctx), workshop.DeleteOptions{Client: client, Admin: admin, ID: id})
		return errors.Join(err, derr)
	}
	g.p.Fprintf(streams.Err, "Ready in %.1fs\n\n", time.Since(start).Seconds())
	g.p.Fprintf(streams.Out, "workshop:   %s, %d attendees, tokens valid until %s\n", rec.ID, len(rec.Attendees), rec.Expires.Local().Format("15:04 (Jan 2)"))
	g.p.Fprintf(streams.Out, "namespaces: %s-… (Pod Security %s enforced, restricted audited)\n", rec.ID, workshop.PodSecurityLevel)
	g.p.Fprintf(streams.Out, "registry:   %s, an account per attendee (their images: %s/<namespace>/…)\n", rec.Registry.Host, rec.Registry.Host)
	g.p.Fprintf(streams.Out, "join files: %s/<attendee>.yaml — give each attendee theirs: imagelab join FILE\n", out)
	g.p.Fprintf(streams.Out, "\nThe board:  imagelab workshop status --watch%s\n", stateDirFlag(g))
	g.p.Fprintf(streams.Out, "At the end: imagelab workshop delete --id %s%s\n", rec.ID, stateDirFlag(g))
	return nil
}

// writeJoins writes a join file per attendee into dir.
func writeJoins(dir string, joins []*workshop.JoinFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, j := range joins {
		if err := j.WriteFile(filepath.Join(dir, j.Attendee+".yaml")); err != nil {
			return err
		}
	}
	return nil
}

func newJoinCommand(g *globalFlags, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "join FILE",
		Short: g.p.T("Take your seat in a workshop: the join file from the instructor becomes your sandbox"),
		Long: g.p.T(`join makes your seat in a workshop your sandbox: kubectl and docker in
imagelab shell (or eval "$(imagelab env)") work in your namespace of the
workshop's cluster and with your account of its registry; imagelab runs the
lessons there. Your progress is copied into your namespace, where the
instructor's board reads it. The control-plane steps are for a personal
sandbox (imagelab up).`),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stateDir, err := g.resolveStateDir()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			j, err := workshop.ParseJoinFile(data)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			sb, err := workshop.Join(cmd.Context(), workshop.JoinOptions{File: j, StateDir: stateDir})
			if err != nil {
				return err
			}
			g.p.Fprintf(streams.Err, "Joined workshop %s as %s.\n\n", j.Workshop, j.Attendee)
			printSandbox(streams.Out, g.p, sb)
			if sb.Registry.CA != "" {
				host := sb.Registry.Host
				g.p.Fprintf(streams.Out, "\nThe registry's certificate is signed by the workshop's own CA. Docker must trust it:\n")
				fmt.Fprintf(streams.Out, "  Linux:  sudo mkdir -p /etc/docker/certs.d/%s && sudo cp %s /etc/docker/certs.d/%s/ca.crt\n", host, sb.Registry.CA, host)
				g.p.Fprintf(streams.Out, "  macOS:  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain %s (then restart Docker)\n", sb.Registry.CA)
			}
			g.p.Fprintf(streams.Out, "\nNow: imagelab%s\n", stateDirFlag(g))
			return nil
		},
	}
}

type statusOptions struct {
	flags      workshopFlags
	json       bool
	watch      bool
	stuckAfter time.Duration
}

func newWorkshopStatusCommand(g *globalFlags, streams Streams) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: g.p.T("The board: every attendee's step, done count, who is stuck, the room's most frequent findings"),
		Long: g.p.T(`status judges every attendee's cluster steps itself, with the lessons' own
checks over shared informers (never trusting an attendee's machine for
them), and reads the rest from the progress each attendee's imagelab
mirrors into their namespace. --watch redraws as the room works.`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWorkshopStatus(cmd.Context(), g, o, streams)
		},
	}
	o.flags.addCluster(cmd, g.p)
	cmd.Flags().StringVar(&o.flags.registryCA, "registry-ca", "", g.p.T("PEM file of the CA that signs the registry's certificate (default: the workshop's record)"))
	cmd.Flags().BoolVar(&o.json, "json", false, g.p.T("print the board as JSON"))
	cmd.Flags().BoolVar(&o.watch, "watch", false, g.p.T("keep the board on screen, redrawn as the room works"))
	cmd.Flags().DurationVar(&o.stuckAfter, "stuck-after", 10*time.Minute, g.p.T("how long on one step, not done, counts as stuck"))
	return cmd
}

// startBoard runs the workshop's board until ctx ends; it returns once
// every attendee has been judged.
func startBoard(ctx context.Context, g *globalFlags, f *workshopFlags, stuckAfter time.Duration) (*workshop.Board, <-chan error, error) {
	stateDir, err := g.resolveStateDir()
	if err != nil {
		return nil, nil, err
	}
	rec, err := workshop.LoadRecord(stateDir, f.id)
	switch {
	case errors.Is(err, workshop.ErrNoRecord) && f.id != "":
		rec = nil // judged without the attendees' registry passwords
	case err != nil:
		return nil, nil, err
	}
	id := f.id
	ca := ""
	if rec != nil {
		id, ca = rec.ID, rec.Registry.CA
	}
	if f.registryCA != "" {
		data, err := os.ReadFile(f.registryCA)
		if err != nil {
			return nil, nil, err
		}
		ca = string(data)
	}
	rt, err := sandbox.TransportTrusting([]byte(ca))
	if err != nil {
		return nil, nil, err
	}
	client, _, err := f.cluster()
	if err != nil {
		return nil, nil, err
	}
	cur, err := curriculumIn(g.language())
	if err != nil {
		return nil, nil, err
	}
	quietLibraries()
	b, err := workshop.NewBoard(workshop.BoardOptions{Client: client, ID: id, Record: rec, Transport: rt, Curriculum: cur, StuckAfter: stuckAfter})
	if err != nil {
		return nil, nil, err
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
		return b, done, nil
	case err := <-done:
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, err
	}
}

func runWorkshopStatus(ctx context.Context, g *globalFlags, o *statusOptions, streams Streams) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, done, err := startBoard(ctx, g, &o.flags, o.stuckAfter)
	if err != nil {
		return err
	}
	if o.watch {
		if err := needTerminal(g.p, streams); err != nil {
			return err
		}
		err := watchBoard(ctx, g.p, b, streams)
		cancel()
		<-done
		return err
	}
	st := b.Status()
	cancel()
	<-done
	if o.json {
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(st)
	}
	w, h := 120, 36
	if f, ok := streams.Out.(*os.File); ok && isTerminal(f) {
		if tw, th, err := terminalSize(f); err == nil {
			w, h = tw, th
		}
	}
	fmt.Fprintln(streams.Out, renderBoard(g.p, st, w, h, boardStyles(false)))
	return nil
}

func newWorkshopDeleteCommand(g *globalFlags, streams Streams) *cobra.Command {
	var flags workshopFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete",
		Short: g.p.T("Remove exactly what create made: the namespaces (and their bindings), the registry accounts and repositories"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stateDir, err := g.resolveStateDir()
			if err != nil {
				return err
			}
			rec, err := workshop.LoadRecord(stateDir, flags.id)
			if err != nil && !(errors.Is(err, workshop.ErrNoRecord) && flags.id != "") {
				return err
			}
			id, host, ca := flags.id, "", ""
			if rec != nil {
				id, host, ca = rec.ID, rec.Registry.Host, rec.Registry.CA
			}
			client, _, err := flags.cluster()
			if err != nil {
				return err
			}
			admin, err := flags.admin(host, ca)
			if err != nil {
				return err
			}
			if !yes && !confirm(streams, g.p.T("Delete workshop %s: every attendee's namespace, registry account and images?", id)) {
				return g.p.Errorf("nothing deleted")
			}
			gone, err := workshop.Delete(cmd.Context(), workshop.DeleteOptions{Client: client, Admin: admin, ID: id, Wait: 2 * time.Minute,
				Report: func(pr workshop.Event) { fmt.Fprintln(streams.Err, "•", workshopProgress(g.p, pr)) }})
			g.p.Fprintf(streams.Out, "Deleted %d namespaces and %d registry accounts of workshop %s.\n", len(gone.Namespaces), len(gone.Accounts), id)
			if err != nil {
				return err
			}
			return workshop.ForgetRecord(stateDir, id)
		},
	}
	flags.addCluster(cmd, g.p)
	flags.addRegistry(cmd, g.p)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, g.p.T("do not ask"))
	return cmd
}

func newWorkshopRegistryCommand(g *globalFlags, streams Streams) *cobra.Command {
	var addr, data, cert, key, adminUser, adminPass string
	cmd := &cobra.Command{
		Use:   "registry",
		Short: g.p.T("Run the workshop's registry: distribution's registry, token auth with an account per attendee"),
		Long: g.p.T(`registry serves the workshop's registry on one address: distribution's
registry (the code of the registry:3 image) with token authentication, the
token server that grants each attendee their own repositories alone, and
the admin API imagelab workshop create and delete use. Images, accounts
and the token key are kept in --data.

Attendees' docker and the cluster's nodes pull from it over TLS: give it a
certificate for the name they reach it by (--tls-cert, --tls-key).`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if adminPass == "" {
				adminPass = os.Getenv("IMAGELAB_REGISTRY_ADMIN_PASSWORD")
			}
			if adminPass == "" {
				return &exitError{code: 2, err: g.p.Errorf("set the admin's password: --admin-password or $IMAGELAB_REGISTRY_ADMIN_PASSWORD")}
			}
			if data == "" {
				stateDir, err := g.resolveStateDir()
				if err != nil {
					return err
				}
				data = filepath.Join(stateDir, "workshop-registry")
			}
			srv, err := registry.New(cmd.Context(), registry.Options{DataDir: data, AdminUser: adminUser, AdminPassword: adminPass, Log: streams.Err})
			if err != nil {
				return err
			}
			defer srv.Close()
			return serveRegistry(cmd.Context(), g.p, srv, addr, cert, key, streams.Err)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", ":5000", g.p.T("address to listen on"))
	cmd.Flags().StringVar(&data, "data", "", g.p.T("where images, accounts and the token key are kept (default <state dir>/workshop-registry)"))
	cmd.Flags().StringVar(&cert, "tls-cert", "", g.p.T("the TLS certificate (PEM, with its chain)"))
	cmd.Flags().StringVar(&key, "tls-key", "", g.p.T("its key"))
	cmd.Flags().StringVar(&adminUser, "admin-user", "admin", g.p.T("the admin's user name"))
	cmd.Flags().StringVar(&adminPass, "admin-password", "", g.p.T("the admin's password (or $IMAGELAB_REGISTRY_ADMIN_PASSWORD)"))
	return cmd
}

// serveRegistry serves until ctx ends.
func serveRegistry(ctx context.Context, p *i18n.Printer, h http.Handler, addr, cert, key string, log io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	scheme := "http"
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			ln.Close()
			return p.Errorf("reading the TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	} else if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" && host != "localhost" {
		p.Fprintln(log, "warning: no TLS certificate: the nodes and attendees' docker refuse a plain-HTTP registry that is not on their own loopback")
	}
	p.Fprintf(log, "Workshop registry on %s://%s (token server %s, admin API %s)\n", scheme, ln.Addr(), registry.TokenPath, strings.TrimSuffix(registry.AdminPath, "/"))
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
