package sandbox

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/imagelab/imagelab/internal/testenv"
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime, which otherwise prints a
	// stack trace saying no logger was set.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(testenv.Main(m))
}
