package imagepolicy

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/imagelab/imagelab/internal/fsutil"
)

// Names inside the kubeconfig WriteKubeconfig writes.
const (
	KubeconfigCluster = "imagelab-image-policy"
	KubeconfigUser    = "kube-apiserver"
)

// CAFile is the path of the CA certificate that signed the serving
// certificate: what a kubeconfig's certificate-authority names.
func (s *Server) CAFile() string { return filepath.Join(s.dir, CAFile) }

// WriteKubeconfig writes the kubeconfig that the imagePolicy block's
// kubeConfigFile names: one cluster, the backend (server: serverURL, the
// review path included; certificate-authority: the CA file), one user,
// the API server (client-certificate and client-key: the client
// certificate Start issued), and a current context joining them.
//
// A kubeconfig written into the server's directory (or above it) names
// the files relative to itself — clientcmd resolves them against the
// kubeconfig's own directory — so the directory can be copied or mounted
// whole, into a control-plane node at /etc/kubernetes/imagepolicy/ say.
// Elsewhere the paths are absolute.
func (s *Server) WriteKubeconfig(path, serverURL string) error {
	s.mu.Lock()
	started := s.creds != nil
	s.mu.Unlock()
	if !started {
		return ErrNotStarted
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return fmt.Errorf("backend URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("backend URL %q: the API server talks to an image policy webhook over https://host[:port]/path only", serverURL)
	}
	ref, err := s.fileRef(path)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeconfigCluster] = &clientcmdapi.Cluster{Server: serverURL, CertificateAuthority: ref(CAFile)}
	cfg.AuthInfos[KubeconfigUser] = &clientcmdapi.AuthInfo{ClientCertificate: ref(ClientCertFile), ClientKey: ref(ClientKeyFile)}
	cfg.Contexts[KubeconfigCluster] = &clientcmdapi.Context{Cluster: KubeconfigCluster, AuthInfo: KubeconfigUser}
	cfg.CurrentContext = KubeconfigCluster
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data, 0o600)
}

// fileRef returns how a kubeconfig at path names a file of the server's
// directory.
func (s *Server) fileRef(path string) (func(string) string, error) {
	dir, err := filepath.Abs(s.dir)
	if err != nil {
		return nil, err
	}
	kcDir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(kcDir, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return func(name string) string { return filepath.Join(dir, name) }, nil
	}
	return func(name string) string { return filepath.Join(rel, name) }, nil
}
