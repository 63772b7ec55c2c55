#!/usr/bin/env bash
# podman.sh sets up Podman for imagelab's Podman tests, beside the Docker
# engine of hack/docker.sh: Debian's podman (rootful, no daemon), with its
# own storage, run dirs, CNI config and containers.conf under one cache
# directory, so it never touches (or is confused with) the system's Podman
# storage. It loads the images hack/registry-image.sh builds (Podman here can
# pull nothing either).
#
# Usage: hack/podman.sh install|start|env|status|clean
#   install  apt-get install podman, only when it is missing (~6 s)
#   start    write the config, check that a container runs, load the images
#   env      print `export …` lines for eval (CONTAINERS_CONF,
#            CONTAINERS_STORAGE_CONF, IMAGELAB_PODMAN=1)
#   status   exit 0 when podman runs a container with this config
#   clean    remove this config's containers, images and storage
#
# Environment:
#   IMAGELAB_PODMAN_DIR   state dir (default
#                         ${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/podman)
#   IMAGELAB_REGISTRY_TARBALL, IMAGELAB_SEED_TARBALL, IMAGELAB_REGISTRY_IMAGE,
#   IMAGELAB_SEED_IMAGE   as hack/registry-image.sh env prints them (its
#                         defaults when unset)
#
# Why the ulimits: rootful Podman sets RLIMIT_NOFILE and RLIMIT_NPROC for
# every container (to 1048576 and more), and raising a limit needs
# CAP_SYS_RESOURCE, which some VMs (this CI's) lack: every container then
# fails with "error setting rlimit type 7: operation not permitted".
# containers.conf sets them to what this process may give (nproc also
# capped at 32768: conmon's own limit).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${IMAGELAB_PODMAN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/podman}
conf=$dir/containers.conf
storage_conf=$dir/storage.conf

log() { echo "podman.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

cmd_install() {
	command -v podman >/dev/null 2>&1 && return 0
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "no podman; run as root to install it"
		sudo=(sudo -n)
	fi
	log "installing Debian's podman"
	export DEBIAN_FRONTEND=noninteractive
	if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends podman </dev/null >&2; then
		"${sudo[@]}" apt-get update -q </dev/null >&2
		"${sudo[@]}" apt-get install -y -q --no-install-recommends podman </dev/null >&2
	fi
	command -v podman >/dev/null 2>&1 || die "no podman on PATH after installing it"
}

write_config() {
	mkdir -p "$dir/storage" "$dir/run" "$dir/tmp" "$dir/cni" "$dir/volumes"
	local nofile nproc pidmax
	nofile=$(ulimit -Hn)
	nproc=$(ulimit -Hu)
	[[ $nofile == unlimited ]] && nofile=1048576
	[[ $nproc == unlimited ]] && nproc=32768
	pidmax=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
	((nproc > pidmax)) && nproc=$pidmax
	((nproc > 32768)) && nproc=32768
	cat >"$conf.new" <<-EOF
		# Written by hack/podman.sh: imagelab's test Podman.
		[containers]
		default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
		[network]
		network_config_dir = "$dir/cni"
		[engine]
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$dir/events.log"
		tmp_dir = "$dir/tmp"
		volume_path = "$dir/volumes"
	EOF
	cat >"$storage_conf.new" <<-EOF
		# Written by hack/podman.sh: imagelab's test Podman.
		[storage]
		driver = "overlay"
		graphroot = "$dir/storage"
		runroot = "$dir/run"
	EOF
	# Rewrite only on change: the files' times stay as they were.
	cmp -s "$conf.new" "$conf" && rm "$conf.new" || mv "$conf.new" "$conf"
	cmp -s "$storage_conf.new" "$storage_conf" && rm "$storage_conf.new" || mv "$storage_conf.new" "$storage_conf"
}

use_config() {
	export CONTAINERS_CONF=$conf CONTAINERS_STORAGE_CONF=$storage_conf
}

# load_one TAG TARBALL: podman load TARBALL unless TAG is already there.
load_one() {
	local tag=$1 tar=$2
	[[ -f $tar ]] || die "no $tar: run hack/registry-image.sh build"
	if podman image exists "$tag"; then
		local have want
		have=$(podman image inspect --format '{{.Id}}' "$tag")
		want=$(sed -n 1p "$tar.id" 2>/dev/null || true)
		[[ sha256:$have == "$want" || $have == "$want" ]] && return 0
	fi
	log "loading $tag from $tar"
	podman load --quiet --input "$tar" >&2
}

# smoke: a container of the registry image starts and stops.
smoke() {
	local name=imagelab-podman-smoke out
	podman rm -f "$name" >/dev/null 2>&1 || true
	if ! out=$(podman run -d --name "$name" "$registry_tag" 2>&1); then
		podman rm -f "$name" >/dev/null 2>&1 || true
		log "podman cannot run a container here:"
		echo "$out" >&2
		return 1
	fi
	podman rm -f "$name" >/dev/null 2>&1 || true
}

registry_tag=${IMAGELAB_REGISTRY_IMAGE:-imagelab.local/registry:3}
seed_tag=${IMAGELAB_SEED_IMAGE:-imagelab.local/seed-app:1}

cmd_start() {
	command -v podman >/dev/null 2>&1 || die "no podman; run hack/podman.sh install"
	[[ $(id -u) -eq 0 ]] || die "start needs root (the tests use rootful Podman)"
	mkdir -p "$dir"
	exec 9>"$dir/lock"
	flock 9
	write_config
	use_config
	local images=${IMAGELAB_IMAGES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/images}
	load_one "$registry_tag" "${IMAGELAB_REGISTRY_TARBALL:-$images/registry.tar}"
	load_one "$seed_tag" "${IMAGELAB_SEED_TARBALL:-$images/seed-app.tar}"
	smoke || exit 1
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
env)
	echo "export CONTAINERS_CONF=$conf"
	echo "export CONTAINERS_STORAGE_CONF=$storage_conf"
	echo "export IMAGELAB_PODMAN=1"
	;;
status)
	[[ -f $conf ]] || exit 1
	use_config
	smoke 2>/dev/null
	;;
clean)
	[[ -f $conf ]] || exit 0
	use_config
	podman rm -a -f >/dev/null 2>&1 || true
	podman system reset -f >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
