package imagepolicy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/api/imagepolicy/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// startServer starts a server allowing localhost:5001, stopped at cleanup.
func startServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := New("localhost:5001", t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// clientFor is an HTTP client built from a kubeconfig the way the API
// server builds its webhook client (clientcmd, then rest).
func clientFor(t *testing.T, kubeconfig string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*http.Client, string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dial = dial
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return hc, cfg.Host
}

func post(t *testing.T, hc *http.Client, url string, body any) (*http.Response, []byte, error) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out, nil
}

func imageReview(images ...string) v1alpha1.ImageReview {
	return v1alpha1.ImageReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "imagepolicy.k8s.io/v1alpha1", Kind: "ImageReview"},
		Spec:     review(images...),
	}
}

func TestServerAnswersThroughItsKubeconfig(t *testing.T) {
	s := startServer(t, WithHosts("127.0.0.1", "localhost", "imagelab-webhook"))
	kc := filepath.Join(s.Dir(), "kubeconfig")
	if err := s.WriteKubeconfig(kc, s.URL("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	hc, url := clientFor(t, kc, nil)
	if url != s.URL("127.0.0.1") {
		t.Fatalf("kubeconfig server = %q, want %q", url, s.URL("127.0.0.1"))
	}

	for _, tc := range []struct {
		images []string
		allow  bool
	}{
		{[]string{"localhost:5001/app:1", "localhost:5001/sidecar"}, true},
		{[]string{"localhost:5001/app:1", "nginx"}, false},
	} {
		resp, body, err := post(t, hc, url, imageReview(tc.images...))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var got v1alpha1.ImageReview
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.APIVersion != "imagepolicy.k8s.io/v1alpha1" || got.Kind != "ImageReview" || got.Status.Allowed != tc.allow {
			t.Fatalf("%v: answer %s", tc.images, body)
		}
	}
	rs := s.Reviews()
	if len(rs) != 2 {
		t.Fatalf("recorded %d reviews, want 2", len(rs))
	}
	if r := rs[1]; r.Client != ClientName || r.Status.Allowed || !slices.Equal(r.Images(), []string{"localhost:5001/app:1", "nginx"}) || r.Request.Kind != "ImageReview" {
		t.Fatalf("second review recorded as %+v", r)
	}

	// The serving certificate holds a host name SAN too: reach the server by it.
	kc2 := filepath.Join(t.TempDir(), "by-name.kubeconfig")
	if err := s.WriteKubeconfig(kc2, s.URL("imagelab-webhook")); err != nil {
		t.Fatal(err)
	}
	dialLoopback := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	hc2, url2 := clientFor(t, kc2, dialLoopback)
	if resp, body, err := post(t, hc2, url2, imageReview("localhost:5001/app")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("by host name: %v %s", err, body)
	}
	// A name not in the certificate fails verification.
	kc3 := filepath.Join(t.TempDir(), "other-name.kubeconfig")
	if err := s.WriteKubeconfig(kc3, s.URL("elsewhere.example")); err != nil {
		t.Fatal(err)
	}
	hc3, url3 := clientFor(t, kc3, dialLoopback)
	if _, _, err := post(t, hc3, url3, imageReview("localhost:5001/app")); err == nil || !strings.Contains(err.Error(), "certificate is valid for") {
		t.Fatalf("a host name outside the SANs: err = %v", err)
	}
}

func TestServerRefusesWhatIsNotAReview(t *testing.T) {
	s := startServer(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.WriteKubeconfig(kc, s.URL("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	hc, url := clientFor(t, kc, nil)
	for name, body := range map[string]any{
		"no type":       v1alpha1.ImageReview{Spec: review("localhost:5001/app")},
		"other kind":    map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
		"not an object": "nginx",
	} {
		resp, out, err := post(t, hc, url, body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d (%s), want 400", name, resp.StatusCode, out)
		}
	}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
	if n := len(s.Reviews()); n != 0 {
		t.Errorf("%d reviews recorded from requests that were none", n)
	}
}

func TestServerCertificates(t *testing.T) {
	s := startServer(t, WithHosts("127.0.0.1", "localhost", "imagelab-webhook"), WithCertValidity(2*time.Hour))
	read := func(name string) *x509.Certificate {
		data, err := os.ReadFile(filepath.Join(s.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(data)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, serving, client := read(CAFile), read(CertFile), read(ClientCertFile)
	if !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA: IsCA %v, key %v", ca.IsCA, ca.PublicKeyAlgorithm)
	}
	if _, ok := serving.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("serving key is %T, want ECDSA", serving.PublicKey)
	}
	if life := time.Until(serving.NotAfter); life > 2*time.Hour || life < time.Hour {
		t.Errorf("serving certificate lives %v more, want about 2h", life)
	}
	if !slices.Equal(serving.DNSNames, []string{"localhost", "imagelab-webhook"}) || len(serving.IPAddresses) != 1 || !serving.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("SANs: %v %v", serving.DNSNames, serving.IPAddresses)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := serving.Verify(x509.VerifyOptions{Roots: pool, DNSName: "imagelab-webhook"}); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || client.Subject.CommonName != ClientName {
		t.Errorf("client certificate %q: %v", client.Subject.CommonName, err)
	}
	for _, name := range []string{KeyFile, ClientKeyFile} {
		fi, err := os.Stat(filepath.Join(s.Dir(), name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", name, fi.Mode(), err)
		}
	}
	entries, _ := os.ReadDir(s.Dir())
	for _, e := range entries {
		if strings.Contains(strings.ToLower(e.Name()), "ca.key") {
			t.Errorf("the CA key was written: %s", e.Name())
		}
	}

	// A caller without the client certificate gets no answer.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	_, _, err := post(t, hc, s.URL("127.0.0.1"), imageReview("localhost:5001/app"))
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("without a client certificate: err = %v, want a TLS alert", err)
	}
}

// A kubeconfig may present a certificate from another CA, the cluster's
// (apiserver.crt on a kubeadm control plane), when WithClientCA names it.
func TestServerAcceptsAClientCertificateFromWithClientCA(t *testing.T) {
	clusterDir := t.TempDir()
	if _, err := issue(clusterDir, []string{"127.0.0.1"}, time.Hour); err != nil { // stands in for a cluster CA

		t.Fatal(err)
	}
	clusterCA, _ := os.ReadFile(filepath.Join(clusterDir, CAFile))
	var logs bytes.Buffer
	s := startServer(t, WithClientCA(clusterCA), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	serverCA, _ := os.ReadFile(s.CAFile())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(serverCA)
	cert, err := tls.LoadX509KeyPair(filepath.Join(clusterDir, ClientCertFile), filepath.Join(clusterDir, ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	if resp, body, err := post(t, hc, s.URL("127.0.0.1"), imageReview("nginx")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("client certificate from the other CA: %v %s", err, body)
	}
	if !strings.Contains(logs.String(), "image review") || !strings.Contains(logs.String(), "allowed=false") {
		t.Errorf("log:\n%s", logs.String())
	}

	// Without WithClientCA that certificate is refused, and the refusal is logged.
	logs.Reset()
	s2 := startServer(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	serverCA2, _ := os.ReadFile(s2.CAFile())
	pool.AppendCertsFromPEM(serverCA2)
	if _, _, err := post(t, hc, s2.URL("127.0.0.1"), imageReview("nginx")); err == nil {
		t.Fatal("a client certificate from an unknown CA was accepted")
	}
	_ = s2.Stop(context.Background())
	if !strings.Contains(logs.String(), "TLS handshake error") {
		t.Errorf("handshake refusal not logged:\n%s", logs.String())
	}
}

func TestServerStopAndRestart(t *testing.T) {
	s := startServer(t, WithAddr("127.0.0.1:0"))
	if err := s.Start(); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Start: %v, want ErrRunning", err)
	}
	kc := filepath.Join(s.Dir(), "kubeconfig")
	if err := s.WriteKubeconfig(kc, s.URL("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	ca, _ := os.ReadFile(s.CAFile())

	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("stopping twice: %v", err)
	}
	hc, url := clientFor(t, kc, nil)
	if _, _, err := post(t, hc, url, imageReview("localhost:5001/app")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("stopped: err = %v, want connection refused", err)
	}

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(s.CAFile())
	if s.Addr() != addr || !bytes.Equal(ca, ca2) {
		t.Fatalf("restarted on %s (was %s), CA changed: %v", s.Addr(), addr, !bytes.Equal(ca, ca2))
	}
	hc, url = clientFor(t, kc, nil) // a new client: the old one's CA is the same, but be plain
	if resp, body, err := post(t, hc, url, imageReview("localhost:5001/app")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("restarted: %v %s", err, body)
	}
}

func TestWriteKubeconfig(t *testing.T) {
	s, err := New("localhost:5001", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteKubeconfig(filepath.Join(t.TempDir(), "kc"), "https://127.0.0.1:1/imagereview"); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before Start: %v, want ErrNotStarted", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	for _, bad := range []string{"http://127.0.0.1:1/imagereview", "127.0.0.1:1", "https:///x"} {
		if err := s.WriteKubeconfig(filepath.Join(t.TempDir(), "kc"), bad); err == nil {
			t.Errorf("server %q accepted", bad)
		}
	}

	// In the server's directory: file names relative to the kubeconfig.
	in := filepath.Join(s.Dir(), "kubeconfig.yaml")
	if err := s.WriteKubeconfig(in, s.URL("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	raw, err := clientcmd.LoadFromFile(in)
	if err != nil {
		t.Fatal(err)
	}
	cl, user := raw.Clusters[KubeconfigCluster], raw.AuthInfos[KubeconfigUser]
	if raw.CurrentContext != KubeconfigCluster || cl == nil || user == nil {
		t.Fatalf("kubeconfig: %+v", raw)
	}
	if cl.CertificateAuthority != CAFile || user.ClientCertificate != ClientCertFile || user.ClientKey != ClientKeyFile || cl.Server != s.URL("127.0.0.1") {
		t.Fatalf("cluster %+v, user %+v", cl, user)
	}
	// Copied whole elsewhere, it still works.
	moved := t.TempDir()
	for _, f := range []string{"kubeconfig.yaml", CAFile, ClientCertFile, ClientKeyFile} {
		data, _ := os.ReadFile(filepath.Join(s.Dir(), f))
		os.WriteFile(filepath.Join(moved, f), data, 0o600)
	}
	hc, url := clientFor(t, filepath.Join(moved, "kubeconfig.yaml"), nil)
	if resp, body, err := post(t, hc, url, imageReview("localhost:5001/app")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("moved kubeconfig: %v %s", err, body)
	}

	// Elsewhere: absolute paths.
	out := filepath.Join(t.TempDir(), "kubeconfig.yaml")
	if err := s.WriteKubeconfig(out, s.URL("localhost")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), "certificate-authority: "+s.CAFile()) {
		t.Fatalf("kubeconfig outside the directory:\n%s", data)
	}
}

func TestNewCollectsEveryProblem(t *testing.T) {
	_, err := New("localhost:5001", t.TempDir(), WithPath("imagereview"), WithHosts(), WithCertValidity(0), WithClientCA([]byte("nope")))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"path", "hosts", "validity", "client CA"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := New("myregistry", t.TempDir()); !errors.Is(err, ErrNotRegistry) {
		t.Errorf("New(myregistry): %v", err)
	}
}
