package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// SupplyChainTools are the tools the supply-chain steps' reference
// solutions run, as a learner would (hack/tools.sh builds them).
var SupplyChainTools = []string{"trivy", "cosign", "kubesec"}

// RequireTools stops the test unless the supply-chain tools are on the
// PATH and trivy has the test DB (no download offline): what
// eval "$(hack/tools.sh env)" sets up.
func RequireTools(t testing.TB) {
	t.Helper()
	Require(t)
	var missing []string
	for _, n := range SupplyChainTools {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		SkipOrFail(t, fmt.Sprintf("%s not on PATH; run eval \"$(hack/tools.sh env)\"", strings.Join(missing, ", ")))
		return
	}
	if os.Getenv("TRIVY_CACHE_DIR") == "" || os.Getenv("TRIVY_SKIP_DB_UPDATE") != "true" {
		SkipOrFail(t, "trivy would download its DB: TRIVY_CACHE_DIR and TRIVY_SKIP_DB_UPDATE unset; run eval \"$(hack/tools.sh env)\"")
	}
}
