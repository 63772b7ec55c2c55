//go:build tools

// Package cosign pins the cosign command this module builds: the signer
// the supply-chain lesson's tests run, as a learner would.
package cosign

import _ "github.com/sigstore/cosign/v2/cmd/cosign"
