#!/usr/bin/env bash
# Provides the supply-chain tools the tests run as a learner would — trivy
# (scanner and SBOM writer), cosign 2 and 3 (signers; cosign 3 as cosign3),
# kubesec (static analyser) —
# and a Trivy vulnerability database built from the fixtures in
# internal/labimages/testdata/trivy-db, the way Trivy's own integration
# tests build theirs, so the real trivy scans offline.
#
# Everything is built from the Go module proxy by the modules in
# hack/tools/{trivy,cosign,cosign3,kubesec} into a cache outside the repository:
# a second run builds nothing (a tool is rebuilt only when its version
# changes; the DB only when a fixture does).
#
# Usage: hack/tools.sh [build|env]
#   build (default)  build what is missing; print the bin dir
#   env              build what is missing; print `export …` lines for eval:
#                    PATH with the tools first, and Trivy's settings for the
#                    fixture DB (TRIVY_CACHE_DIR, TRIVY_SKIP_DB_UPDATE…), and
#                    kubesec's schema location (SCHEMA_LOCATION: offline)
#
# IMAGELAB_TOOLS_DIR overrides the cache dir
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/tools).
set -euo pipefail

TRIVY_VERSION=v0.74.0
COSIGN_VERSION=v2.6.5
COSIGN3_VERSION=v3.1.3
KUBESEC_VERSION=v2.14.2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${IMAGELAB_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/tools}
fixtures=$root/internal/labimages/testdata/trivy-db

log() { echo "tools: $*" >&2; }

# build NAME VERSION MODULE-DIR PACKAGE LDFLAGS [ENV…]: go build PACKAGE in
# the module into $cache/NAME-VERSION/NAME, once.
build() {
	local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5
	shift 5
	local out=$cache/$name-$version/$name
	[[ -x $out ]] && return 0
	log "building $name $version"
	local start=$SECONDS
	mkdir -p "$(dirname "$out")"
	(cd "$root/hack/tools/$dir" && env CGO_ENABLED=0 "$@" go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
	mv "$out.tmp" "$out"
	log "built $name in $((SECONDS - start)) s"
}

build trivy "$TRIVY_VERSION" trivy github.com/aquasecurity/trivy/cmd/trivy \
	"-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${TRIVY_VERSION#v}" GOEXPERIMENT=jsonv2
build cosign "$COSIGN_VERSION" cosign github.com/sigstore/cosign/v2/cmd/cosign \
	"-s -w -buildid= -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION"
# cosign 3 stores signatures as sigstore bundles (OCI referrers): the
# signature check verifies both, and the tests sign with both.
build cosign3 "$COSIGN3_VERSION" cosign3 github.com/sigstore/cosign/v3/cmd/cosign \
	"-s -w -buildid= -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN3_VERSION"
build kubesec "$KUBESEC_VERSION" kubesec github.com/controlplaneio/kubesec/v2 \
	"-s -w -X github.com/controlplaneio/kubesec/v2/cmd.version=$KUBESEC_VERSION"
# The DB builder goes with the trivy module (trivy-db's schema).
build fixturedb "$TRIVY_VERSION" trivy ./fixturedb "-s -w"

# The fixture DB, keyed by the fixtures' content and Trivy's version.
sum=$( (echo "$TRIVY_VERSION"; cat "$fixtures"/*.yaml) | sha256sum | cut -c1-12)
db=$cache/trivy-db-$sum
if [[ ! -f $db/db/metadata.json ]]; then
	log "building the Trivy DB from $fixtures"
	rm -rf "$db.tmp"
	"$cache/fixturedb-$TRIVY_VERSION/fixturedb" -cache "$db.tmp" "$fixtures"/*.yaml
	rm -rf "$db"
	mv "$db.tmp" "$db"
fi

# kubesec validates a manifest against Kubernetes' JSON schemas, which it
# downloads (kubeconform's default location) before it scores; offline the
# download fails and the score is 0. The tests give it a local schema for
# pods that accepts any object: validation is not what they exercise.
schemas=$cache/kubesec-schemas
if [[ ! -f $schemas/master-standalone-strict/pod-v1.json ]]; then
	mkdir -p "$schemas/master-standalone-strict"
	echo '{"type": "object", "required": ["apiVersion", "kind", "metadata"]}' >"$schemas/master-standalone-strict/pod-v1.json"
fi

# One bin dir with a link to each tool, for PATH.
bin=$cache/bin
mkdir -p "$bin"
for t in trivy:$TRIVY_VERSION cosign:$COSIGN_VERSION cosign3:$COSIGN3_VERSION kubesec:$KUBESEC_VERSION; do
	ln -sfn "$cache/${t%%:*}-${t#*:}/${t%%:*}" "$bin/${t%%:*}"
done

case ${1:-build} in
build) echo "$bin" ;;
env)
	q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
	echo "export PATH=$(q "$bin"):\"\$PATH\""
	echo "export IMAGELAB_TOOLS=$(q "$bin")"
	# Trivy: the fixture DB, never a download (no network in the tests).
	echo "export TRIVY_CACHE_DIR=$(q "$db")"
	echo "export TRIVY_SKIP_DB_UPDATE=true TRIVY_SKIP_JAVA_DB_UPDATE=true TRIVY_SKIP_CHECK_UPDATE=true"
	echo "export SCHEMA_LOCATION=$(q "$schemas")"
	echo "export TRIVY_SKIP_VEX_REPO_UPDATE=true TRIVY_SKIP_VERSION_CHECK=true TRIVY_DISABLE_TELEMETRY=true TRIVY_NO_PROGRESS=true"
	;;
*)
	echo "usage: hack/tools.sh [build|env]" >&2
	exit 2
	;;
esac
