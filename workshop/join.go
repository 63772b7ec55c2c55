package workshop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/imagelab/imagelab/internal/fsutil"
	"github.com/imagelab/imagelab/sandbox"
)

// The join file's kind.
const (
	JoinAPIVersion = "imagelab.dev/v1"
	JoinKind       = "WorkshopJoin"
)

// JoinFile is everything an attendee needs to join: Create writes one per
// attendee, imagelab join reads it. It holds credentials: the attendee's
// alone.
type JoinFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Workshop   string `json:"workshop"`
	Attendee   string `json:"attendee"`
	Display    string `json:"display,omitempty"`
	Namespace  string `json:"namespace"`
	// Expires is when the token in Kubeconfig stops working.
	Expires time.Time `json:"expires"`
	// Kubelet says the cluster's nodes pull images.
	Kubelet    bool         `json:"kubelet"`
	Registry   JoinRegistry `json:"registry"`
	Kubeconfig string       `json:"kubeconfig"`
}

// JoinRegistry is the attendee's account in the workshop's registry.
type JoinRegistry struct {
	Host     string `json:"host"`
	User     string `json:"user"`
	Password string `json:"password"`
	// Prefix begins the names of the attendee's repositories.
	Prefix string `json:"prefix"`
	// CA signs the registry's certificate (PEM), when machines do not
	// trust it already.
	CA string `json:"ca,omitempty"`
}

const joinHeader = "# An imagelab workshop seat: imagelab join THIS-FILE\n# It holds your credentials; keep it to yourself.\n"

// Marshal writes the join file as YAML.
func (j *JoinFile) Marshal() ([]byte, error) {
	data, err := yaml.Marshal(j)
	if err != nil {
		return nil, err
	}
	return append([]byte(joinHeader), data...), nil
}

// WriteFile writes the join file, readable by its owner alone.
func (j *JoinFile) WriteFile(path string) error {
	data, err := j.Marshal()
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data, 0o600)
}

// ParseJoinFile reads a join file and says what is wrong with a bad one.
func ParseJoinFile(data []byte) (*JoinFile, error) {
	var j JoinFile
	if err := yaml.UnmarshalStrict(data, &j); err != nil {
		return nil, fmt.Errorf("not a join file: %w", err)
	}
	var missing []string
	for field, v := range map[string]string{"workshop": j.Workshop, "attendee": j.Attendee, "namespace": j.Namespace,
		"kubeconfig": j.Kubeconfig, "registry.host": j.Registry.Host, "registry.user": j.Registry.User, "registry.password": j.Registry.Password} {
		if v == "" {
			missing = append(missing, field)
		}
	}
	switch {
	case j.APIVersion != JoinAPIVersion || j.Kind != JoinKind:
		return nil, fmt.Errorf("not a join file: apiVersion %q, kind %q (want %s, %s)", j.APIVersion, j.Kind, JoinAPIVersion, JoinKind)
	case len(missing) > 0:
		return nil, fmt.Errorf("the join file has no %s", strings.Join(missing, ", "))
	}
	return &j, nil
}

// ErrExpired means the join file's token no longer works.
var ErrExpired = errors.New("the join file's token has expired")

// JoinOptions say where to join.
type JoinOptions struct {
	File     *JoinFile
	StateDir string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Join makes the attendee's sandbox from their join file: imagelab's own
// kubeconfig (the file's, the namespace as default) and docker config in
// the state dir, and a sandbox of provider workshop on their namespace.
// It makes sure first that the cluster takes the token and the registry
// the password, and writes nothing when either refuses. Joining again
// (a new file from the instructor) replaces the seat; another kind of
// sandbox in the state dir is refused.
func Join(ctx context.Context, opts JoinOptions) (*sandbox.Sandbox, error) {
	j := opts.File
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if !j.Expires.IsZero() && now().After(j.Expires) {
		return nil, fmt.Errorf("%w at %s: ask the instructor for a new one", ErrExpired, j.Expires.Local().Format(time.Kitchen))
	}
	switch saved, err := sandbox.Load(opts.StateDir); {
	case err == nil && saved.Provider != sandbox.ProviderWorkshop:
		return nil, fmt.Errorf("a %s sandbox is set up in %s: imagelab down removes it first, or use another --state-dir for the workshop", saved.Provider, opts.StateDir)
	case err != nil && !errors.Is(err, sandbox.ErrNoSandbox):
		return nil, err
	}
	cfg, err := clientcmd.Load([]byte(j.Kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("the join file's kubeconfig: %w", err)
	}
	sb := &sandbox.Sandbox{
		Provider: sandbox.ProviderWorkshop, Name: j.Workshop, ID: sandbox.NewID(),
		Kubeconfig: filepath.Join(opts.StateDir, "kubeconfig"), Context: cfg.CurrentContext, Namespace: j.Namespace,
		Registry:        sandbox.Registry{Host: j.Registry.Host, Prefix: j.Registry.Prefix, User: j.Registry.User, Password: j.Registry.Password},
		DockerConfigDir: filepath.Join(opts.StateDir, "docker"), WorkDir: filepath.Join(opts.StateDir, "work"),
		Kubelet: j.Kubelet, CreatedAt: now().UTC().Truncate(time.Second),
		Workshop: &sandbox.WorkshopSeat{ID: j.Workshop, Attendee: j.Attendee, Expires: j.Expires},
	}
	// Check with files in a scratch dir; they move in once both answer.
	tmp, err := os.MkdirTemp(opts.StateDir, ".join-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	probe := *sb
	probe.Kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(probe.Kubeconfig, []byte(j.Kubeconfig), 0o600); err != nil {
		return nil, err
	}
	if j.Registry.CA != "" {
		probe.Registry.CA = filepath.Join(tmp, "registry-ca.pem")
		if err := os.WriteFile(probe.Registry.CA, []byte(j.Registry.CA), 0o644); err != nil {
			return nil, err
		}
	}
	if err := checkSeat(ctx, &probe); err != nil {
		return nil, err
	}

	if err := fsutil.WriteFileAtomic(sb.Kubeconfig, []byte(j.Kubeconfig), 0o600); err != nil {
		return nil, err
	}
	if j.Registry.CA != "" {
		sb.Registry.CA = filepath.Join(opts.StateDir, "registry-ca.pem")
		if err := fsutil.WriteFileAtomic(sb.Registry.CA, []byte(j.Registry.CA), 0o644); err != nil {
			return nil, err
		}
	}
	for _, dir := range []string{sb.DockerConfigDir, sb.WorkDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	sb.Complete = true
	if err := sb.Save(opts.StateDir); err != nil {
		return nil, err
	}
	return sb, nil
}

// checkSeat proves the seat works: the token reads the attendee's
// namespace, the registry takes the password, and the lessons' image is
// there.
func checkSeat(ctx context.Context, sb *sandbox.Sandbox) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := sb.Client()
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().ConfigMaps(sb.Namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("the cluster refused the join file's token for namespace %s: %w", sb.Namespace, err)
	}
	rt, err := sb.Registry.Transport()
	if err != nil {
		return err
	}
	if err := sandbox.PingRegistry(ctx, sb.Registry, rt); err != nil {
		return err
	}
	ref, err := name.ParseReference(sb.SeedImage())
	if err != nil {
		return err
	}
	if _, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(sb.Registry.Auth()), remote.WithTransport(rt)); err != nil {
		return fmt.Errorf("the lessons' image %s is not in the registry (the instructor's workshop create puts it there): %w", sb.SeedImage(), err)
	}
	return nil
}
