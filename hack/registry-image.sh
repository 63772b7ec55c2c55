#!/usr/bin/env bash
# registry-image.sh builds, without pulling anything, the images imagelab's
# Docker-based tests run, and loads them into a Docker engine:
#   imagelab.local/registry:3   distribution v3.1.2's registry, built here
#                               (static), with the official registry:3
#                               image's /etc/distribution/config.yml (delete
#                               enabled), entrypoint `registry serve
#                               /etc/distribution/config.yml`; REGISTRY_*
#                               variables override the config as in registry:3
#   imagelab.local/seed-app:1   a static Go HTTP server on :8080 serving /www
# Both are docker-save tarballs in the cache dir; the seed app's is the seed
# source for go-containerregistry's tarball.ImageFromPath.
#
# Usage: hack/registry-image.sh [load|build|env]
#   load (default)  build what changed, then `docker load` each image the
#                   engine does not already have with the same ID
#   build           only build the tarballs (no engine needed); print paths
#   env             print `export IMAGELAB_…=…` lines for eval
#
# Environment:
#   IMAGELAB_IMAGES_DIR      cache dir (default
#                            ${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/images)
#   IMAGELAB_REGISTRY_IMAGE  registry tag (default imagelab.local/registry:3)
#   IMAGELAB_SEED_IMAGE      seed app tag (default imagelab.local/seed-app:1)
#   DOCKER_HOST              engine to load into; when unset, the engine
#                            hack/docker.sh runs if it answers, else the CLI's
#                            default
#
# Safe to run twice: a warm run rebuilds nothing, rewrites nothing and loads
# nothing (Go's build cache decides what changed; the images are
# reproducible, so the same binaries give the same image IDs).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tooldir=$root/hack/tools/registryimage
out=${IMAGELAB_IMAGES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/images}
registry_tag=${IMAGELAB_REGISTRY_IMAGE:-imagelab.local/registry:3}
seed_tag=${IMAGELAB_SEED_IMAGE:-imagelab.local/seed-app:1}
registry_tar=$out/registry.tar
seed_tar=$out/seed-app.tar

# The version go.mod pins; the binary reports it as the official build does.
distribution_version=3.1.2
dist=github.com/distribution/distribution/v3

log() { echo "registry-image.sh: $*" >&2; }

build() {
	mkdir -p "$out/bin"
	# One build at a time: the builder writes tarballs through temp files.
	exec 8>"$out/lock"
	flock 8
	# The tool module stands alone: no go.work may pull it into another.
	export GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
	# Static Linux binaries for the images (the official release build is
	# CGO_ENABLED=0 too); go build relinks only when a source changed.
	(cd "$tooldir" && CGO_ENABLED=0 GOOS=linux go build -trimpath \
		-ldflags "-s -w -X $dist/version.version=$distribution_version -X $dist/version.mainpkg=$dist" \
		-o "$out/bin/" "$dist/cmd/registry" ./seedapp)
	(cd "$tooldir" && go build -trimpath -o "$out/bin/registryimage" .)

	local stamp
	stamp=$(cat "$out/bin/registry" "$out/bin/seedapp" "$out/bin/registryimage" | sha256sum | cut -d' ' -f1)
	stamp="$stamp $registry_tag $seed_tag"
	if [[ -f $out/stamp && $(cat "$out/stamp") == "$stamp" &&
		-f $registry_tar.id && -f $seed_tar.id && -f $registry_tar && -f $seed_tar ]]; then
		return 0
	fi
	"$out/bin/registryimage" -registry-bin "$out/bin/registry" -seed-bin "$out/bin/seedapp" \
		-out "$out" -registry-tag "$registry_tag" -seed-tag "$seed_tag" >&2
	echo "$stamp" >"$out/stamp"
}

# load_one TAG TARBALL: docker load TARBALL unless TAG already is that image.
load_one() {
	local tag=$1 tar=$2 have want_id want_digest
	want_id=$(sed -n 1p "$tar.id")
	want_digest=$(sed -n 2p "$tar.id")
	have=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
	if [[ -n $have && ($have == "$want_id" || $have == "$want_digest") ]]; then
		return 0
	fi
	log "loading $tag (${want_id:7:12}) from $tar"
	docker load --quiet --input "$tar" >&2
}

use_engine() {
	if [[ -z ${DOCKER_HOST:-} ]] && "$root/hack/docker.sh" status; then
		eval "$("$root/hack/docker.sh" env)"
	fi
	if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
		log "no Docker engine answers${DOCKER_HOST:+ at $DOCKER_HOST}; run hack/docker.sh install && hack/docker.sh start"
		exit 1
	fi
}

case ${1:-load} in
load)
	use_engine
	build
	load_one "$registry_tag" "$registry_tar"
	load_one "$seed_tag" "$seed_tar"
	;;
build)
	build
	echo "$registry_tar"
	echo "$seed_tar"
	;;
env)
	echo "export IMAGELAB_REGISTRY_IMAGE=$registry_tag"
	echo "export IMAGELAB_SEED_IMAGE=$seed_tag"
	echo "export IMAGELAB_REGISTRY_TARBALL=$registry_tar"
	echo "export IMAGELAB_SEED_TARBALL=$seed_tar"
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
