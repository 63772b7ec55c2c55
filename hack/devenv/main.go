// Command devenv starts the test harness's real parts for trying imagelab
// by hand: a kube-apiserver + etcd and a password-protected registry. It
// prints the flags that point imagelab at them, then waits for Ctrl-C.
//
//	go run ./hack/devenv            # then, in another terminal:
//	imagelab up $(cat /tmp/imagelab-devenv/flags) --state-dir /tmp/imagelab-devenv/state
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/imagelab/imagelab/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := filepath.Join(os.TempDir(), "imagelab-devenv")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	api, err := testenv.StartAPIServer()
	if err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd (binaries from hack/testbin.sh): %w", err)
	}
	defer api.Stop()
	reg, err := testenv.NewRegistry(dir, "learner", testenv.TestPassword)
	if err != nil {
		return err
	}
	defer reg.Close()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	data, err := os.ReadFile(api.Kubeconfig)
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		return err
	}
	flags := fmt.Sprintf("--kubeconfig %s --registry %s --registry-user %s --registry-password %s",
		kubeconfig, reg.Host, reg.User, reg.Password)
	if err := os.WriteFile(filepath.Join(dir, "flags"), []byte(flags+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf("API server and registry are up. Flags (also in %s):\n  %s\n", filepath.Join(dir, "flags"), strings.ReplaceAll(flags, "$", `\$`))
	fmt.Println("Ctrl-C stops them.")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
