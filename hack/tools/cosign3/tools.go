//go:build tools

// Package cosign3 pins the cosign 3 command this module builds (installed
// as cosign3 next to cosign 2).
package cosign3

import _ "github.com/sigstore/cosign/v3/cmd/cosign"
