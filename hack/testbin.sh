#!/usr/bin/env bash
# Provides the Kubernetes binaries the tests run — kube-apiserver, etcd,
# kubectl, and for the end-to-end node kubelet and kube-scheduler — in a
# cache outside the repository, so a second run starts at once.
#
# Where setup-envtest can download (a machine with internet), it supplies
# kube-apiserver, etcd and kubectl. Otherwise everything is built from the
# Go module proxy by the modules in hack/tools (16 minutes cold on 2 cores,
# seconds when Go's build cache is warm).
#
# Prints the directory. IMAGELAB_TESTBIN overrides it.
set -euo pipefail

K8S_VERSION=v1.37.2
ENVTEST_VERSION=1.37.x
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${IMAGELAB_TESTBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/testbin/k8s-$K8S_VERSION}
mkdir -p "$bin"

need=(kube-apiserver etcd kubectl)
if [[ ${1:-} == --node ]]; then need+=(kubelet kube-scheduler); fi

missing() {
	local out=()
	for b in "$@"; do [[ -x $bin/$b ]] || out+=("$b"); done
	echo "${out[@]:-}"
}

log() { echo "testbin: $*" >&2; }

# setup-envtest: only for the three envtest binaries, and only when it can
# reach its download site; a failure just means we build instead.
try_setup_envtest() {
	[[ -n $(missing kube-apiserver etcd kubectl) ]] || return 0
	log "trying setup-envtest $ENVTEST_VERSION"
	local dir
	if dir=$(cd "$root" && timeout 120 go run sigs.k8s.io/controller-runtime/tools/setup-envtest@v0.25.1 \
		use "$ENVTEST_VERSION" --bin-dir "$bin/.envtest" -p path 2>/dev/null) && [[ -x $dir/kube-apiserver ]]; then
		cp "$dir"/kube-apiserver "$dir"/etcd "$dir"/kubectl "$bin"/
		log "from setup-envtest: $dir"
	else
		log "setup-envtest could not download; building from the Go module proxy"
	fi
}

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean"

build_kube() {
	local pkgs=()
	for b in kube-apiserver kubectl kubelet kube-scheduler; do
		[[ " $(missing "${need[@]}") " == *" $b "* ]] && pkgs+=("k8s.io/kubernetes/cmd/$b")
	done
	[[ ${#pkgs[@]} -gt 0 ]] || return 0
	log "building ${pkgs[*]} (cold: about 16 minutes)"
	local start=$SECONDS
	(cd "$root/hack/tools/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/" "${pkgs[@]}")
	log "built in $((SECONDS - start)) s"
}

build_etcd() {
	[[ -x $bin/etcd ]] && return 0
	log "building etcd"
	(cd "$root/hack/tools/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
}

if [[ -n $(missing "${need[@]}") ]]; then
	try_setup_envtest
	build_etcd
	build_kube
fi
left=$(missing "${need[@]}")
if [[ -n $left ]]; then
	log "still missing: $left"
	exit 1
fi
echo "$bin"
