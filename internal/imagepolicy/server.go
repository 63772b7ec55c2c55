package imagepolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/api/imagepolicy/v1alpha1"
)

// Defaults of the options.
const (
	DefaultAddr     = "127.0.0.1:0"
	DefaultPath     = "/imagereview"
	DefaultValidity = 24 * time.Hour
)

// DefaultHosts are the serving certificate's SANs unless WithHosts names others.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// maxReviews bounds the record: a long session keeps the newest.
const maxReviews = 1000

// maxBody bounds a review request; a pod's images fit many times over.
const maxBody = 1 << 20

var (
	// ErrRunning: Start on a server that is running.
	ErrRunning = errors.New("image policy webhook already running")
	// ErrNotStarted: the credentials do not exist before the first Start.
	ErrNotStarted = errors.New("image policy webhook not started: its certificates are made at start")
)

// Review is one ImageReview the server answered.
type Review struct {
	Time time.Time
	// Request is the review as the caller sent it, TypeMeta included
	// (imagepolicy.k8s.io/v1alpha1, ImageReview).
	Request v1alpha1.ImageReview
	// Status is the answer.
	Status v1alpha1.ImageReviewStatus
	// Client is the common name of the caller's verified client
	// certificate (ClientName for the one Start issues).
	Client string
	// UserAgent is the caller's; the API server's plugin sends Go's
	// default, "Go-http-client/1.1".
	UserAgent string
}

// Images lists the images the review asked about, in its order.
func (r Review) Images() []string {
	out := make([]string, 0, len(r.Request.Spec.Containers))
	for _, c := range r.Request.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

// Option configures a Server.
type Option func(*options)

type options struct {
	addr      string
	path      string
	hosts     []string
	validity  time.Duration
	logger    *slog.Logger
	clientCAs [][]byte
	keep      bool
}

// WithAddr is the listen address (default DefaultAddr; ":0" for every
// interface on a free port). A restarted server listens on the address
// it first bound, so a kubeconfig written for it stays right.
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithPath is the URL path reviews are posted to (default DefaultPath).
func WithPath(path string) Option { return func(o *options) { o.path = path } }

// WithHosts are the IP addresses and DNS names the API server reaches
// the server at: the serving certificate's SANs (default DefaultHosts).
func WithHosts(hosts ...string) Option {
	return func(o *options) { o.hosts = append([]string(nil), hosts...) }
}

// WithCertValidity is how long the generated certificates live (default
// DefaultValidity).
func WithCertValidity(d time.Duration) Option { return func(o *options) { o.validity = d } }

// WithLogger receives a line per review and the HTTP server's errors
// (TLS handshakes the caller broke off, say). Default: discarded —
// nothing may print while the TUI owns the terminal.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClientCA also accepts client certificates signed by this CA (PEM),
// e.g. a cluster's CA, for a kubeconfig that presents the API server's
// own apiserver.crt as on a kubeadm control plane.
func WithClientCA(pem []byte) Option {
	return func(o *options) { o.clientCAs = append(o.clientCAs, pem) }
}

// WithKeptCertificates makes Start use the certificates an earlier
// server left in the directory while they are valid for the hosts,
// instead of issuing new ones: for a backend that runs as a process of
// its own and is started again (the API server keeps trusting the CA it
// read once).
func WithKeptCertificates() Option { return func(o *options) { o.keep = true } }

// Server is an HTTPS ImageReview backend that allows a pod only when
// every image is from one registry.
type Server struct {
	registry string
	dir      string
	opts     options

	mu      sync.Mutex
	creds   *credentials
	srv     *http.Server
	done    chan struct{}
	addr    string // the bound address, kept for a restart
	reviews []Review
}

// New returns a server allowing images from registry (host[:port], see
// NormalizeRegistry) that keeps its certificates and CA in dir. Nothing
// is generated or opened before Start.
func New(registry, dir string, opts ...Option) (*Server, error) {
	reg, err := NormalizeRegistry(registry)
	if err != nil {
		return nil, fmt.Errorf("allowed registry: %w", err)
	}
	if dir == "" {
		return nil, errors.New("image policy webhook: no directory for its certificates")
	}
	o := options{addr: DefaultAddr, path: DefaultPath, hosts: DefaultHosts, validity: DefaultValidity}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	var problems []error
	if !strings.HasPrefix(o.path, "/") {
		problems = append(problems, fmt.Errorf("path %q does not start with /", o.path))
	}
	if len(o.hosts) == 0 {
		problems = append(problems, errors.New("no hosts for the serving certificate"))
	}
	if o.validity <= 0 {
		problems = append(problems, fmt.Errorf("certificate validity %v is not positive", o.validity))
	}
	for i, p := range o.clientCAs {
		if !x509.NewCertPool().AppendCertsFromPEM(p) {
			problems = append(problems, fmt.Errorf("client CA %d holds no PEM certificate", i+1))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("image policy webhook: %w", err)
	}
	return &Server{registry: reg, dir: dir, opts: o}, nil
}

// Registry is the allowed registry, normalized.
func (s *Server) Registry() string { return s.registry }

// Dir holds the CA, the serving and the client certificates (see CAFile).
func (s *Server) Dir() string { return s.dir }

// Path is the URL path reviews are posted to.
func (s *Server) Path() string { return s.opts.path }

// Start generates the CA and certificates (on the first start, or when
// they have expired), listens and serves. A server stopped earlier
// starts again with the same certificates on the same address.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return ErrRunning
	}
	if s.creds == nil && s.opts.keep {
		if c, ok := kept(s.dir, s.opts.hosts); ok {
			for _, p := range s.opts.clientCAs {
				c.clientCAs.AppendCertsFromPEM(p)
			}
			s.creds = c
		}
	}
	if s.creds == nil || time.Now().After(s.creds.notAfter) {
		c, err := issue(s.dir, s.opts.hosts, s.opts.validity)
		if err != nil {
			return fmt.Errorf("image policy webhook certificates: %w", err)
		}
		for _, p := range s.opts.clientCAs {
			c.clientCAs.AppendCertsFromPEM(p)
		}
		s.creds = c
	}
	addr := s.opts.addr
	if s.addr != "" {
		addr = s.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("image policy webhook: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+s.opts.path, s.serveReview)
	srv := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{s.creds.serving},
			// Only a caller holding the client key the kubeconfig names
			// (or a certificate from WithClientCA) gets an answer.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  s.creds.clientCAs,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.opts.logger.Handler(), slog.LevelWarn),
	}
	// HTTP/1.1 only: on Shutdown an HTTP/2 connection waits up to a
	// second for the client to act on GOAWAY; an idle HTTP/1.1 one just closes.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv.Protocols = &protocols
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.logger.Error("image policy webhook stopped", "err", err)
		}
	}()
	s.srv, s.done, s.addr = srv, done, ln.Addr().String()
	s.opts.logger.Info("image policy webhook serving", "addr", s.addr, "path", s.opts.path, "registry", s.registry)
	return nil
}

// Stop shuts the server down: it stops listening, lets answers under way
// finish until ctx ends, then closes what is left. Stopping a stopped
// server does nothing.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv, s.done = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	<-done
	return err
}

// Running reports whether the server is serving.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Addr is the address the server listens (or last listened) on, "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Port is the port of Addr, 0 before Start.
func (s *Server) Port() int {
	_, p, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// URL is the review URL as reached at host (one of the hosts given to
// WithHosts), e.g. https://127.0.0.1:41234/imagereview.
func (s *Server) URL(host string) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(s.Port())) + s.opts.path
}

// Reviews returns the reviews answered so far, oldest first (at most the
// newest 1000).
func (s *Server) Reviews() []Review {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Review(nil), s.reviews...)
}

func (s *Server) serveReview(w http.ResponseWriter, r *http.Request) {
	var review v1alpha1.ImageReview
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&review); err != nil {
		http.Error(w, "not an ImageReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if gv := v1alpha1.SchemeGroupVersion.String(); review.APIVersion != gv || review.Kind != "ImageReview" {
		http.Error(w, fmt.Sprintf("expected apiVersion %s, kind ImageReview; got %q, %q", gv, review.APIVersion, review.Kind), http.StatusBadRequest)
		return
	}
	status := Judge(s.registry, review.Spec)
	rec := Review{Time: time.Now(), Request: review, Status: status, UserAgent: r.UserAgent()}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		rec.Client = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	s.mu.Lock()
	s.reviews = append(s.reviews, rec)
	if len(s.reviews) > maxReviews {
		s.reviews = append([]Review(nil), s.reviews[len(s.reviews)-maxReviews:]...)
	}
	s.mu.Unlock()
	s.opts.logger.Info("image review", "namespace", review.Spec.Namespace, "images", rec.Images(), "allowed", status.Allowed, "reason", status.Reason, "client", rec.Client)

	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v1alpha1.ImageReview{TypeMeta: review.TypeMeta, Status: status})
}
