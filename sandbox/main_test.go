package sandbox

import (
	"os"
	"testing"

	"github.com/imagelab/imagelab/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
