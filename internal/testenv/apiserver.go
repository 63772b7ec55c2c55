package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// APIServer is a running kube-apiserver + etcd.
type APIServer struct {
	Config *rest.Config
	Client kubernetes.Interface
	// Kubeconfig is an admin kubeconfig file for kubectl and imagelab.
	Kubeconfig string
	env        *envtest.Environment
	dir        string
}

var (
	sharedMu  sync.Mutex
	shared    *APIServer
	sharedErr error
)

// SharedAPIServer starts one API server for the test binary (about 5 s)
// and returns it to every caller; Main stops it at the end.
func SharedAPIServer(t testing.TB) *APIServer {
	t.Helper()
	Require(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = StartAPIServer()
	}
	if sharedErr != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", sharedErr)
	}
	return shared
}

// Main runs the tests and stops the shared API server; call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the API server:", err)
		}
	}
	return code
}

// StartAPIServer starts a kube-apiserver and etcd from BinDir.
func StartAPIServer() (*APIServer, error) {
	env := &envtest.Environment{BinaryAssetsDirectory: BinDir()}
	// envtest turns the ServiceAccount admission plugin off; a real cluster
	// has it, and it is what copies a service account's imagePullSecrets
	// into new pods. (Namespaces then need their default service account,
	// which sandbox.EnsureNamespace makes where no controller does.)
	env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins").Set("enable-admission-plugins", "ServiceAccount")
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	s := &APIServer{Config: cfg, env: env}
	fail := func(err error) (*APIServer, error) {
		_ = s.Stop()
		return nil, err
	}
	if s.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return fail(err)
	}
	user, err := env.AddUser(envtest.User{Name: "learner", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fail(err)
	}
	if s.dir, err = os.MkdirTemp("", "imagelab-apiserver-"); err != nil {
		return fail(err)
	}
	s.Kubeconfig = filepath.Join(s.dir, "kubeconfig")
	if err := os.WriteFile(s.Kubeconfig, kc, 0o600); err != nil {
		return fail(err)
	}
	if _, err := clientcmd.LoadFromFile(s.Kubeconfig); err != nil {
		return fail(err)
	}
	return s, nil
}

// Stop stops the API server and etcd and removes their files.
func (s *APIServer) Stop() error {
	var err error
	if s.env != nil {
		err = s.env.Stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	return err
}
