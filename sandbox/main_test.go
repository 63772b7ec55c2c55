package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/imagelab/imagelab/internal/testenv"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdLockEnv); dir != "" {
		holdStateLock(dir)
		return
	}
	// envtest logs through controller-runtime, which otherwise prints a
	// stack trace saying no logger was set.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(testenv.Main(m))
}

// holdLockEnv makes the test binary an imagelab busy with the sandbox of
// the state dir it names: it holds the state dir's lock and, as kind does
// while it edits the kubeconfig, kind's lock file, until it is killed.
const holdLockEnv = "IMAGELAB_TEST_HOLD_STATE_LOCK"

func holdStateLock(dir string) {
	if _, err := lockStateDir(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig.lock"), nil, 0o600); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("held")
	time.Sleep(time.Hour)
}
