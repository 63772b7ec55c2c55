// Package registry is a workshop's shared private registry: an account per
// attendee, and the rule that an attendee's credentials open their own
// repositories (<account>/…) and nothing else.
//
// The rule is enforced by the registry itself, with the token
// authentication that distribution (the code behind the registry:3 image)
// implements: the registry accepts only a JSON Web Token that names the
// repositories and actions it grants, signed by a key it trusts; clients
// (the docker CLI, containerd on the nodes, go-containerregistry) get one
// from the token server named in the registry's challenge, with their
// user and password. This package is that token server, the accounts it
// knows, a small admin API through which imagelab workshop create and
// delete manage them, and a Server that runs distribution's registry
// in-process behind them, on one address and one certificate.
package registry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults of the token exchange: the registry's service name (the
// token's audience) and the token server's name (its issuer).
const (
	DefaultService = "imagelab-registry"
	DefaultIssuer  = "imagelab-workshop"
	// TokenTTL is how long a token is good for. Clients ask for a new one
	// when it runs out; distribution allows a minute of clock skew.
	TokenTTL = 5 * time.Minute
)

// Access is one scope of a token request (repository:w1-ana/apps/x:pull,push)
// or the grant for it.
type Access struct {
	Type    string
	Name    string
	Actions []string
}

func (a Access) String() string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

// ParseScope reads a token request's scope parameter: type:name:actions.
// A type may carry a class (repository(plugin)); a name never holds a
// colon but the registry's catalog scope (registry:catalog:*) is read as
// any other.
func ParseScope(s string) (Access, error) {
	first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if first <= 0 || last == first {
		return Access{}, fmt.Errorf("scope %q is not type:name:actions", s)
	}
	typ := s[:first]
	if i := strings.Index(typ, "("); i > 0 {
		typ = typ[:i] // the class says nothing about access
	}
	a := Access{Type: typ, Name: s[first+1 : last]}
	for _, act := range strings.Split(s[last+1:], ",") {
		if act = strings.TrimSpace(act); act != "" && !slices.Contains(a.Actions, act) {
			a.Actions = append(a.Actions, act)
		}
	}
	if a.Name == "" {
		return Access{}, fmt.Errorf("scope %q names nothing", s)
	}
	return a, nil
}

// attendeeActions are what an attendee may do in their own repositories:
// pull and push (docker), and delete (imagelab reset deletes a pushed tag).
var attendeeActions = []string{"pull", "push", "delete"}

// Grant is the rule: the admin gets what it asks for; an account gets,
// in repositories whose name begins with its own name and a slash, the
// actions it asks for among pull, push and delete ("*" meaning all
// three); nothing else, not the catalog, which lists everyone's.
func Grant(account string, admin bool, req Access) (Access, bool) {
	if admin {
		return req, len(req.Actions) > 0
	}
	if req.Type != "repository" || !strings.HasPrefix(req.Name, account+"/") || account == "" {
		return Access{}, false
	}
	out := Access{Type: req.Type, Name: req.Name}
	for _, act := range req.Actions {
		switch {
		case act == "*":
			for _, a := range attendeeActions {
				if !slices.Contains(out.Actions, a) {
					out.Actions = append(out.Actions, a)
				}
			}
		case slices.Contains(attendeeActions, act) && !slices.Contains(out.Actions, act):
			out.Actions = append(out.Actions, act)
		}
	}
	return out, len(out.Actions) > 0
}

// Issuer signs tokens with an ECDSA key. The registry trusts it through
// Certificate, a self-signed certificate for the key (the registry's
// auth.token.rootcertbundle): the token's kid is the key's JWK thumbprint,
// which is how distribution finds a bundle's key for a token.
type Issuer struct {
	Issuer, Service string
	key             *ecdsa.PrivateKey
	kid             string
	// CertificatePEM is the certificate the registry is given.
	CertificatePEM []byte
	now            func() time.Time
}

// NewIssuer makes an issuer with a new key, or with keyPEM (a PKCS#8
// or EC private key) when given, so a restarted server keeps the key the
// registry was told to trust.
func NewIssuer(issuer, service string, keyPEM []byte) (*Issuer, error) {
	var key *ecdsa.PrivateKey
	if len(keyPEM) > 0 {
		block, _ := pem.Decode(keyPEM)
		if block == nil {
			return nil, errors.New("the token key is not PEM")
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("reading the token key: %w", err)
		}
		key = k
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: issuer + " token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &Issuer{
		Issuer: issuer, Service: service, key: key,
		kid:            token.GetJWKThumbprint(key.Public()),
		CertificatePEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		now:            time.Now,
	}, nil
}

// KeyPEM is the issuer's private key, to keep beside its certificate.
func (is *Issuer) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(is.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// PublicKey is the key tokens are signed with.
func (is *Issuer) PublicKey() crypto.PublicKey { return is.key.Public() }

// Issue signs a token for subject granting access, good for TokenTTL.
func (is *Issuer) Issue(subject string, access []Access) (raw string, expires time.Time, err error) {
	now := is.now()
	expires = now.Add(TokenTTL)
	jti := make([]byte, 12)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	claims := token.ClaimSet{
		Issuer: is.Issuer, Subject: subject, Audience: token.AudienceList{is.Service},
		Expiration: expires.Unix(), NotBefore: now.Add(-time.Second).Unix(), IssuedAt: now.Unix(),
		JWTID: hex.EncodeToString(jti), Access: []*token.ResourceActions{},
	}
	for _, a := range access {
		claims.Access = append(claims.Access, &token.ResourceActions{Type: a.Type, Name: a.Name, Actions: a.Actions})
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: is.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), is.kid))
	if err != nil {
		return "", time.Time{}, err
	}
	raw, err = jwt.Signed(signer).Claims(claims).Serialize()
	return raw, expires, err
}
