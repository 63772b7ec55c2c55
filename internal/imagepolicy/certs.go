package imagepolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/imagelab/imagelab/internal/fsutil"
)

// The files Start writes into the server's directory. Only the CA's
// private key is never written: it lives and dies with the process.
const (
	CAFile         = "ca.crt"     // the CA the kubeconfig's certificate-authority names
	CertFile       = "tls.crt"    // the serving certificate
	KeyFile        = "tls.key"    // its key
	ClientCertFile = "client.crt" // the certificate the API server presents (users[].user)
	ClientKeyFile  = "client.key" // its key
)

// ClientName is the common name of the client certificate Start issues
// for the API server; reviews record who asked (Review.Client).
const ClientName = "kube-apiserver"

// clockSkew backdates certificates so a clock a little behind still
// accepts them.
const clockSkew = 5 * time.Minute

// credentials are what Start generates: a CA, a serving certificate
// signed by it, and a client certificate for the API server.
type credentials struct {
	serving   tls.Certificate
	clientCAs *x509.CertPool
	notAfter  time.Time
}

// issue generates a CA, a serving certificate for hosts and a client
// certificate, and writes them (without the CA key) into dir.
func issue(dir string, hosts []string, validity time.Duration) (*credentials, error) {
	now := time.Now()
	notBefore, notAfter := now.Add(-clockSkew), now.Add(validity)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// A name of its own per CA: when the API server holds an older CA,
	// Go's error is then the plain "certificate signed by unknown
	// authority", not an ECDSA failure against a namesake.
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: fmt.Sprintf("imagelab image policy CA %x", id), Organization: []string{"imagelab"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caCert, caDER, err := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}

	servingTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "imagelab image policy webhook"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			servingTmpl.IPAddresses = append(servingTmpl.IPAddresses, ip)
		} else {
			servingTmpl.DNSNames = append(servingTmpl.DNSNames, h)
		}
	}
	servingKey, servingDER, err := leaf(servingTmpl, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}

	clientTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: ClientName},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientKey, clientDER, err := leaf(clientTmpl, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files := []struct {
		name string
		pem  []byte
		mode os.FileMode
	}{
		{CAFile, certPEM(caDER), 0o644},
		{CertFile, certPEM(servingDER), 0o644},
		{KeyFile, servingKey, 0o600},
		{ClientCertFile, certPEM(clientDER), 0o644},
		{ClientKeyFile, clientKey, 0o600},
	}
	for _, f := range files {
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, f.name), f.pem, f.mode); err != nil {
			return nil, err
		}
	}

	serving, err := tls.X509KeyPair(certPEM(servingDER), servingKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &credentials{serving: serving, clientCAs: pool, notAfter: notAfter}, nil
}

// leaf generates a key and a certificate for it signed by the CA; it
// returns the key as PEM and the certificate as DER.
func leaf(tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (keyPEM, der []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if _, der, err = sign(tmpl, ca, &key.PublicKey, caKey); err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), der, nil
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) (*x509.Certificate, []byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, der, err
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// kept loads the certificates an earlier server wrote into dir, when
// they are all there, valid for an hour yet, and the serving certificate
// covers every host: a backend started again in a new process stays
// trusted by an API server that read the kubeconfig written for the
// first. ok is false when anything is missing or does not fit; then new
// ones are issued.
func kept(dir string, hosts []string) (c *credentials, ok bool) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		return b
	}
	caPEM, certPEMBytes, keyPEM := read(CAFile), read(CertFile), read(KeyFile)
	if caPEM == nil || certPEMBytes == nil || keyPEM == nil || read(ClientCertFile) == nil || read(ClientKeyFile) == nil {
		return nil, false
	}
	serving, err := tls.X509KeyPair(certPEMBytes, keyPEM)
	if err != nil {
		return nil, false
	}
	leafCert, err := x509.ParseCertificate(serving.Certificate[0])
	if err != nil || time.Until(leafCert.NotAfter) < time.Hour {
		return nil, false
	}
	for _, h := range hosts {
		if leafCert.VerifyHostname(h) != nil {
			return nil, false
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, false
	}
	if _, err := leafCert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, false
	}
	return &credentials{serving: serving, clientCAs: pool, notAfter: leafCert.NotAfter}, true
}
