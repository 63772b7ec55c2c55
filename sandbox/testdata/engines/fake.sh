# fake.sh is sourced by the stand-in docker and podman executables under
# testdata/engines/<platform>/. They print what that platform's CLI prints,
# for the commands imagelab runs, using shell builtins only (the tests put
# nothing but the platform's directory on PATH).
#
# Before sourcing, a script sets:
#   fake_version   the first line of `<cli> -v`
#   fake_arch      the engine's architecture ("" when the engine is down)
#   fake_down      the CLI's words when its engine does not answer ("" when it does)
#   fake_refuse    ports whose binding the host refuses, space-separated
#   fake_refusal   what the CLI says then, with PORT for the port
# The test's environment:
#   FAKE_LOG    every call is appended here, one line each
#   FAKE_STATE  a directory for the containers' state (one file per container)
#   FAKE_LOGS   the lines `logs` prints (the container's own output)
#   FAKE_RESTARTING  non-empty: started containers keep restarting
#   FAKE_IMAGES the images the engine has, by the names `image exists` knows

fake_log() { [ -n "$FAKE_LOG" ] && printf '%s\n' "$*" >>"$FAKE_LOG"; return 0; }

# fake_get NAME: sets state, port, labels, networks of container NAME; 1 if none.
fake_get() {
	state= port= labels= networks=
	[ -n "$FAKE_STATE" ] && [ -f "$FAKE_STATE/$1" ] || return 1
	{ read -r state; read -r port; read -r labels; read -r networks; } <"$FAKE_STATE/$1"
	[ "$state" != gone ]
}

fake_put() { printf '%s\n%s\n%s\n%s\n' "$2" "$3" "$4" "$5" >"$FAKE_STATE/$1"; }

fake_no_such() {
	if [ "$fake_cli" = podman ]; then
		printf 'Error: no such container %s\n' "$1" >&2
	else
		printf 'Error response from daemon: No such container: %s\n' "$1" >&2
	fi
	exit 1
}

fake_main() {
	fake_log "$fake_cli $*"
	case $1 in
	-v | --version)
		printf '%s\n' "$fake_version"
		return 0
		;;
	esac
	if [ -n "$fake_down" ]; then
		printf '%s\n' "$fake_down" >&2
		exit 1
	fi
	cmd=$1
	shift
	case $cmd in
	version | info)
		# The --format template is imagelab's: only the architecture is asked.
		printf '%s\n' "$fake_arch"
		;;
	create | run)
		new_name= new_port= new_labels= prev=
		for a in "$@"; do
			case $prev in
			--name) new_name=$a ;;
			-p)
				new_port=${a#127.0.0.1:}
				new_port=${new_port%%:*}
				;;
			--label) new_labels="$new_labels$a;" ;;
			esac
			prev=$a
		done
		if fake_get "$new_name"; then
			printf 'Error response from daemon: Conflict. The container name "/%s" is already in use\n' "$new_name" >&2
			exit 125
		fi
		fake_put "$new_name" created "$new_port" "$new_labels" bridge
		[ "$cmd" = run ] && fake_start "$new_name" >/dev/null
		printf 'f00dcafe%s\n' "$new_port"
		;;
	start)
		for n in "$@"; do fake_start "$n"; done
		;;
	cp)
		# cp - NAME:/ reads a tar stream; the stand-in keeps nothing of it.
		fake_get "${2%%:*}" || fake_no_such "${2%%:*}"
		;;
	rm)
		for n in "$@"; do
			case $n in -*) continue ;; esac
			fake_get "$n" && fake_put "$n" gone "" "" ""
		done
		;;
	container | inspect)
		[ "$cmd" = container ] && shift # container inspect
		name=
		for a in "$@"; do name=$a; done
		fake_get "$name" || fake_no_such "$name"
		case $* in
		*'{{.Id}}'*)
			printf 'f00dcafe%s|2025-01-01T00:00:00Z\n' "$port"
			exit 0
			;;
		esac
		running=false restarting=false restarts=0
		[ "$state" = running ] && running=true
		if [ "$state" = running ] && [ -n "$FAKE_RESTARTING" ]; then
			restarting=true
			restarts=3
		fi
		printf '%s|%s|%s|%s|%s\n' "$running" "$restarting" "$restarts" "$labels" "$networks"
		;;
	logs)
		printf '%s\n' "$FAKE_LOGS" >&2
		;;
	network)
		# network connect NET NAME
		fake_get "$3" || fake_no_such "$3"
		fake_put "$3" "$state" "$port" "$labels" "$networks;$2"
		;;
	ps)
		;;
	image)
		# image exists NAME: the images the test says are there (FAKE_IMAGES).
		for i in $FAKE_IMAGES; do
			[ "$i" = "$2" ] && exit 0
		done
		exit 1
		;;
	*)
		printf 'fake %s: no stand-in for %s\n' "$fake_cli" "$cmd" >&2
		exit 1
		;;
	esac
}

fake_start() {
	fake_get "$1" || fake_no_such "$1"
	for p in $fake_refuse; do
		if [ "$p" = "$port" ]; then
			msg=$fake_refusal
			while :; do
				case $msg in
				*PORT*) msg=${msg%%PORT*}$port${msg#*PORT} ;;
				*) break ;;
				esac
			done
			printf '%s\n' "$msg" >&2
			exit 1
		fi
	done
	fake_put "$1" running "$port" "$labels" "$networks"
	printf '%s\n' "$1"
}
