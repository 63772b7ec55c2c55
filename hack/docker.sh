#!/usr/bin/env bash
# docker.sh runs a private Docker engine for imagelab's Docker-based tests:
# Debian's dockerd with its own containerd, socket, data-root, exec-root,
# config and pidfiles under one cache directory, so it never touches (or is
# confused with) a system engine. Works as root in CI (no stdin, CI=true).
#
# Usage: hack/docker.sh install|start|stop|env|status
#   install  apt-get install docker.io, only when dockerd/containerd/runc are
#            missing (an engine from docker-ce counts as present)
#   start    start the engine unless it answers; print its DOCKER_HOST
#   stop     stop dockerd and its containerd; leave no process behind
#   env      print `export DOCKER_HOST=…` for eval
#   status   exit 0 when the engine answers, 1 otherwise
#
# Environment:
#   IMAGELAB_DOCKER_DIR       state dir (default
#                             ${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/docker)
#   IMAGELAB_DOCKER_TIMEOUT   seconds start waits for the engine (default 60)
#   IMAGELAB_DOCKER_IPTABLES  auto (default): use iptables, and fall back to
#                             --iptables=false when dockerd cannot start with
#                             it (remembered in $dir/iptables); true; false
#
# Every subcommand is safe to run twice and concurrently (flock).
set -euo pipefail

dir=${IMAGELAB_DOCKER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagelab/docker}
timeout_s=${IMAGELAB_DOCKER_TIMEOUT:-60}
iptables_mode=${IMAGELAB_DOCKER_IPTABLES:-auto}

sock=$dir/docker.sock
host=unix://$sock
ctrd_sock=$dir/containerd/containerd.sock
dockerd_pidfile=$dir/dockerd.pid
ctrd_pidfile=$dir/containerd.pid
dockerd_log=$dir/dockerd.log
ctrd_log=$dir/containerd.log

# Debian puts dockerd and docker-proxy in /usr/sbin, which a non-login PATH
# may lack; dockerd finds docker-proxy and runc through PATH.
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

log() { echo "docker.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# alive PIDFILE NAME: the pid in PIDFILE when it is a running NAME process.
alive() {
	local pid comm
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[[ $comm == "$2" ]] || return 1
	echo "$pid"
}

# answers: the engine at our socket answers the API.
answers() {
	[[ -S $sock ]] || return 1
	# The environment must not redirect the CLI (TLS, context) away from -H.
	env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH -u DOCKER_CONTEXT \
		timeout 10 docker -H "$host" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# lock serialises start/stop, so two concurrent `start`s give one engine.
lock() {
	mkdir -p "$dir"
	exec 9>"$dir/lock"
	flock 9
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "$1 needs root (dockerd is a rootful engine); run as root or with sudo"
}

cmd_install() {
	local missing=()
	for b in dockerd containerd runc; do
		command -v "$b" >/dev/null 2>&1 || missing+=("$b")
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		return 0
	fi
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}; run as root to install docker.io"
		sudo=(sudo -n)
	fi
	log "installing Debian's docker.io (missing: ${missing[*]})"
	export DEBIAN_FRONTEND=noninteractive
	# Update the package lists only when the present ones cannot install it
	# (a fresh machine has none; old ones may name versions no longer served).
	if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends docker.io </dev/null >&2; then
		"${sudo[@]}" apt-get update -q </dev/null >&2
		"${sudo[@]}" apt-get install -y -q --no-install-recommends docker.io </dev/null >&2
	fi
	# The package's postinst may start the system docker.service on a machine
	# with systemd; that engine is not ours and does not disturb ours.
	for b in dockerd containerd runc; do
		command -v "$b" >/dev/null 2>&1 || die "$b still missing after installing docker.io"
	done
	command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH after installing docker.io"
}

start_containerd() {
	local pid
	if pid=$(alive "$ctrd_pidfile" containerd) && [[ -S $ctrd_sock ]]; then
		return 0
	fi
	mkdir -p "$dir/containerd"
	# Our own containerd: dockerd would otherwise use a system one whenever
	# /run/containerd/containerd.sock exists. CRI is off: dockerd needs none.
	cat >"$dir/containerd/config.toml" <<-EOF
		version = 2
		root = "$dir/containerd/root"
		state = "$dir/containerd/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$ctrd_sock"
		[ttrpc]
		  address = "$ctrd_sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
	EOF
	rm -f "$ctrd_sock" "$ctrd_sock.ttrpc"
	# setsid: the engine outlives this script and the CI step's session.
	setsid containerd --config "$dir/containerd/config.toml" </dev/null >>"$ctrd_log" 2>&1 9>&- &
	local pid=$! i
	echo "$pid" >"$ctrd_pidfile"
	for ((i = 0; i < 100; i++)); do
		[[ -S $ctrd_sock ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	log "containerd did not start; the end of $ctrd_log:"
	tail -n 20 "$ctrd_log" >&2 || true
	exit 1
}

# launch_dockerd IPTABLES: start dockerd in the background.
launch_dockerd() {
	echo '{}' >"$dir/daemon.json"
	local flags=(
		--host="$host"
		--containerd="$ctrd_sock"
		--data-root="$dir/data"
		--exec-root="$dir/run"
		--pidfile="$dockerd_pidfile"
		# Its own (empty) config: /etc/docker/daemon.json is the system
		# engine's and may set hosts or a data-root that clash with ours.
		--config-file="$dir/daemon.json"
		--iptables="$1"
	)
	if [[ $1 == false ]]; then
		# Masquerading is an iptables rule: off with iptables.
		flags+=(--ip-masq=false)
	fi
	rm -f "$dockerd_pidfile"
	{
		echo "=== $(date -u +%FT%TZ) dockerd ${flags[*]}"
	} >>"$dockerd_log"
	env -u DOCKER_HOST -u NOTIFY_SOCKET setsid dockerd "${flags[@]}" </dev/null >>"$dockerd_log" 2>&1 9>&- &
	launched_pid=$!
}

# wait_dockerd: 0 when the engine answers; 1 when dockerd exited; 2 on timeout.
wait_dockerd() {
	local deadline=$((SECONDS + timeout_s))
	while ((SECONDS < deadline)); do
		if answers; then
			return 0
		fi
		if ! kill -0 "$launched_pid" 2>/dev/null; then
			wait "$launched_pid" 2>/dev/null || true
			return 1
		fi
		sleep 0.2
	done
	return 2
}

# log_since_launch: dockerd's log from its last launch on.
log_since_launch() {
	awk '/^=== /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$dockerd_log" 2>/dev/null || true
}

# iptables_failure: the last launch failed on iptables or the bridge's NAT.
iptables_failure() {
	log_since_launch | grep -qiE 'iptables|ip6tables|nat chain|xtables|netfilter'
}

cmd_start() {
	lock
	if answers; then
		echo "$host"
		return 0
	fi
	need_root start
	command -v dockerd >/dev/null 2>&1 || die "no dockerd; run hack/docker.sh install"
	command -v containerd >/dev/null 2>&1 || die "no containerd; run hack/docker.sh install"
	command -v docker >/dev/null 2>&1 || die "no docker CLI; run hack/docker.sh install"

	local pid rc
	if pid=$(alive "$dockerd_pidfile" dockerd); then
		# Started before but not answering (yet): give it the timeout, then
		# stop it and start afresh.
		launched_pid=$pid
		rc=0
		wait_dockerd || rc=$?
		if [[ $rc -eq 0 ]]; then
			echo "$host"
			return 0
		fi
		log "dockerd $pid does not answer; restarting it"
		stop_all
	fi

	start_containerd

	local ipt=true
	case $iptables_mode in
	auto)
		if [[ -f $dir/iptables && $(cat "$dir/iptables") == false ]]; then
			ipt=false
		fi
		;;
	true | false) ipt=$iptables_mode ;;
	*) die "IMAGELAB_DOCKER_IPTABLES must be auto, true or false, not $iptables_mode" ;;
	esac

	log "starting dockerd (iptables=$ipt, log $dockerd_log)"
	launch_dockerd "$ipt"
	rc=0
	wait_dockerd || rc=$?
	if [[ $rc -eq 1 && $ipt == true && $iptables_mode == auto ]] && iptables_failure; then
		log "dockerd failed on iptables; starting it with --iptables=false. It said:"
		log_since_launch | grep -E 'failed to start daemon|level=(error|fatal)' | tail -n 3 >&2 || true
		launch_dockerd false
		rc=0
		wait_dockerd || rc=$?
		if [[ $rc -eq 0 ]]; then
			echo false >"$dir/iptables"
		fi
	fi
	if [[ $rc -ne 0 ]]; then
		if [[ $rc -eq 2 ]]; then
			log "dockerd did not answer at $host within ${timeout_s}s"
		else
			log "dockerd exited before answering at $host"
		fi
		log "the end of $dockerd_log (gRPC chatter left out):"
		log_since_launch | grep -v 'module=grpc' | tail -n 20 >&2
		stop_all
		exit 1
	fi
	echo "$host"
}

# stop_pid PID NAME GRACE: TERM, wait up to GRACE seconds, then KILL.
stop_pid() {
	local pid=$1 name=$2 grace=$3 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < grace * 10; i++)); do
		[[ -d /proc/$pid ]] || return 0
		# A zombie child of ours is gone for good once reaped.
		[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && return 0
		sleep 0.1
	done
	log "$name ($pid) did not stop in ${grace}s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	sleep 0.2
}

# descendants PID...: the descendants of the given processes (docker-proxy,
# shims not yet daemonised), found before their parents go.
descendants() {
	local -A parent_of=()
	local p ppid
	for p in /proc/[0-9]*; do
		ppid=$(awk '{print $4}' "$p/stat" 2>/dev/null) || continue
		parent_of[${p#/proc/}]=$ppid
	done
	local -a todo=("$@") found=()
	while ((${#todo[@]})); do
		local cur=${todo[0]}
		todo=("${todo[@]:1}")
		for p in "${!parent_of[@]}"; do
			if [[ ${parent_of[$p]} == "$cur" ]]; then
				found+=("$p")
				todo+=("$p")
			fi
		done
	done
	echo "${found[@]}"
}

# ours: engine processes whose command line names our state dir (the
# containerd shims carry our containerd's address).
ours() {
	local p comm cmdline
	for p in /proc/[0-9]*; do
		comm=$(cat "$p/comm" 2>/dev/null) || continue
		case $comm in
		containerd* | dockerd | docker-proxy | runc) ;;
		*) continue ;;
		esac
		cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
		if [[ $cmdline == *"$dir/"* ]]; then
			echo "${p#/proc/}"
		fi
	done
}

stop_all() {
	local dpid cpid engine=() kids=() p
	dpid=$(alive "$dockerd_pidfile" dockerd) || dpid=
	cpid=$(alive "$ctrd_pidfile" containerd) || cpid=
	[[ -n $dpid ]] && engine+=("$dpid")
	[[ -n $cpid ]] && engine+=("$cpid")
	if ((${#engine[@]})); then
		read -r -a kids <<<"$(descendants "${engine[@]}")"
	fi
	# dockerd stops its containers first (up to its 15 s shutdown timeout),
	# so give it longer than that before killing it.
	[[ -n $dpid ]] && stop_pid "$dpid" dockerd 30
	[[ -n $cpid ]] && stop_pid "$cpid" containerd 10
	for p in "${kids[@]}" $(ours); do
		[[ -d /proc/$p ]] || continue
		log "stopping leftover $(cat "/proc/$p/comm" 2>/dev/null) ($p)"
		stop_pid "$p" leftover 5
	done
	# A killed engine leaves overlay and netns mounts; unmount them (deepest
	# first) so the state dir can be reused or deleted.
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
	rm -f "$dockerd_pidfile" "$ctrd_pidfile" "$sock" "$ctrd_sock" "$ctrd_sock.ttrpc"
}

cmd_stop() {
	[[ -d $dir ]] || return 0
	lock
	stop_all
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
env) echo "export DOCKER_HOST=$host" ;;
status) answers ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
