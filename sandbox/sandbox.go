// Package sandbox makes and finds the place a learner works in: a cluster,
// a namespace, a password-protected private registry, and imagelab's own
// kubeconfig and docker config dir, so the learner's own files are never
// touched. Providers: kind (imagelab creates and removes the cluster) and
// existing (a cluster and registry the learner or an instructor names).
// It knows nothing of lessons or of the UI.
package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/imagelab/imagelab/internal/fsutil"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Labels imagelab puts on everything it creates; only objects carrying
// them are ever deleted by imagelab.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "imagelab"
	LabelSandbox   = "imagelab.dev/sandbox"
	// LabelSandboxID tells one sandbox from another of the same name (two
	// learners on one workshop cluster): ownership is decided by it.
	LabelSandboxID = "imagelab.dev/sandbox-id"
	// LabelStateDir ties a container to the state dir that made it, so
	// leftovers are found without a sandbox record.
	LabelStateDir = "imagelab.dev/state"
)

// Provider names.
const (
	ProviderKind     = "kind"
	ProviderExisting = "existing"
	// ProviderWorkshop is an attendee's namespace on a workshop's shared
	// cluster (imagelab join): the instructor made it, and removes it.
	ProviderWorkshop = "workshop"
)

// Sandbox is everything a check or the learner's shell needs to reach the
// sandbox. It is saved as sandbox.json in the state dir.
type Sandbox struct {
	Provider string `json:"provider"`
	Name     string `json:"name"`
	// ID is random, made when the sandbox is; what imagelab creates carries it.
	ID string `json:"id"`
	// Runtime is the container runtime of a kind sandbox (docker, podman).
	Runtime string `json:"runtime,omitempty"`
	// Kubeconfig is imagelab's own kubeconfig file for the sandbox, with the
	// sandbox's namespace as its context's default.
	Kubeconfig string   `json:"kubeconfig"`
	Context    string   `json:"context,omitempty"`
	Namespace  string   `json:"namespace"`
	Registry   Registry `json:"registry"`
	// DockerConfigDir is the DOCKER_CONFIG the learner's docker CLI uses in
	// the sandbox shell.
	DockerConfigDir string `json:"dockerConfigDir"`
	// WorkDir is where the learner keeps manifests (the shell starts there).
	WorkDir string `json:"workDir"`
	// Kubelet says nodes run a kubelet that pulls images (false on an API
	// server alone, as in tests).
	Kubelet   bool      `json:"kubelet"`
	CreatedAt time.Time `json:"createdAt"`
	// Complete is false while the sandbox is being made: a record left by
	// a crash, which imagelab down (or the next up) cleans up.
	Complete bool `json:"complete"`
	// StateDir is the state dir the sandbox was loaded from or saved in
	// (not saved: it is where the record is).
	StateDir string `json:"-"`
	// CreatedNamespace says imagelab created the namespace (on an existing
	// cluster), so down may delete it.
	CreatedNamespace bool `json:"createdNamespace,omitempty"`
	// NodeContainers are the IDs of the kind cluster's node containers:
	// down deletes the cluster only while they are its nodes.
	NodeContainers []string `json:"nodeContainers,omitempty"`
	// Workshop is the seat of a workshop sandbox: which workshop, which
	// attendee, until when its credentials work.
	Workshop *WorkshopSeat `json:"workshop,omitempty"`
}

// WorkshopSeat is an attendee's place in a workshop.
type WorkshopSeat struct {
	ID       string    `json:"id"`
	Attendee string    `json:"attendee"`
	Expires  time.Time `json:"expires"`
}

// Registry is the sandbox's private registry.
type Registry struct {
	// Host is host:port as learners write it in image names.
	Host string `json:"host"`
	// Prefix is the learner's own part of a shared registry (a workshop
	// attendee's): their repositories' names begin with it. Empty when
	// the registry is the sandbox's own.
	Prefix   string `json:"prefix,omitempty"`
	User     string `json:"user"`
	Password string `json:"password"`
	// Container is the registry's container, when imagelab runs it.
	Container string `json:"container,omitempty"`
	// CA is a PEM file of the certificate authority that signs the
	// registry's certificate, when the system does not trust it (a
	// workshop's own).
	CA string `json:"ca,omitempty"`
}

// Transport reaches the registry: http.DefaultTransport, trusting CA
// besides the system's authorities when there is one.
func (r Registry) Transport() (http.RoundTripper, error) {
	if r.CA == "" {
		return http.DefaultTransport, nil
	}
	pem, err := os.ReadFile(r.CA)
	if err != nil {
		return nil, fmt.Errorf("reading the registry's certificate authority: %w", err)
	}
	rt, err := TransportTrusting(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.CA, err)
	}
	return rt, nil
}

// TransportTrusting is http.DefaultTransport trusting the PEM
// certificates in caPEM besides the system's authorities; with none, it
// is http.DefaultTransport.
func TransportTrusting(caPEM []byte) (http.RoundTripper, error) {
	if len(caPEM) == 0 {
		return http.DefaultTransport, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no PEM certificate in the registry's CA")
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// Repos is where the learner's repositories are, as their image names
// begin: Host, or Host/Prefix.
func (r Registry) Repos() string {
	if r.Prefix == "" {
		return r.Host
	}
	return r.Host + "/" + r.Prefix
}

// Repo is the full name of one of the learner's repositories.
func (r Registry) Repo(repo string) string { return r.Repos() + "/" + repo }

// SeedRepository and SeedTag name the image imagelab puts in the registry
// so lessons never depend on the learner's push.
const (
	SeedRepository = "apps/internal-app"
	SeedTag        = "1.0"
)

// SeedImage is the seeded image's full name in this sandbox.
func (s *Sandbox) SeedImage() string {
	return s.Registry.Repo(SeedRepository) + ":" + SeedTag
}

// ErrNoSandbox means no sandbox has been set up yet.
var ErrNoSandbox = errors.New("no sandbox yet: run imagelab up, or name a cluster with --kubeconfig/--context and a registry with --registry")

const stateFile = "sandbox.json"

// Load reads the sandbox saved in stateDir.
func Load(stateDir string) (*Sandbox, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoSandbox
	}
	if err != nil {
		return nil, err
	}
	var s Sandbox
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): run imagelab down, then imagelab up", filepath.Join(stateDir, stateFile), err)
	}
	s.StateDir = stateDir
	return &s, nil
}

// Save writes the sandbox to stateDir, readable by the user alone (it
// holds the registry password).
func (s *Sandbox) Save(stateDir string) error {
	s.StateDir = stateDir
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(stateDir, stateFile), append(data, '\n'), 0o600)
}

// Forget removes the saved sandbox from stateDir.
func Forget(stateDir string) error {
	err := os.Remove(filepath.Join(stateDir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// StateDir is where imagelab keeps its own files: $IMAGELAB_HOME, else
// $XDG_STATE_HOME/imagelab, else ~/.local/state/imagelab.
func StateDir() (string, error) {
	if d := os.Getenv("IMAGELAB_HOME"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "imagelab"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding a state dir: %w (set IMAGELAB_HOME)", err)
	}
	return filepath.Join(home, ".local", "state", "imagelab"), nil
}

// NewID makes a sandbox ID.
func NewID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// StateLabel is the LabelStateDir value for a state dir.
func StateLabel(stateDir string) string {
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	sum := sha256.Sum256([]byte(stateDir))
	return hex.EncodeToString(sum[:6])
}

// Owns reports whether labels mark an object as this sandbox's.
func (s *Sandbox) Owns(labels map[string]string) bool {
	return labels[LabelManagedBy] == ManagedBy && s.ID != "" && labels[LabelSandboxID] == s.ID
}
