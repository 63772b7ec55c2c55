#!/usr/bin/env bash
# node-deps.sh installs the Debian packages the one-node cluster harness
# (internal/testenv/node) runs: containerd (with ctr), runc, the CNI plugins
# (bridge, host-local, loopback in /usr/lib/cni) and iptables, which the CNI
# plugins depend on. The harness starts its own containerd on its own socket;
# it never uses a system containerd service.
#
# Idempotent: when every package is installed it only checks and exits.
# Needs root (apt-get). Usage: hack/node-deps.sh [--check]
#   --check  install nothing; exit 1 and name what is missing.
set -euo pipefail

packages=(containerd runc containernetworking-plugins iptables)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	if [[ "$status" != "installed" ]]; then
		missing+=("$p")
	fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
	echo "node-deps: missing Debian packages: ${missing[*]} (run hack/node-deps.sh as root)" >&2
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "node-deps: missing Debian packages: ${missing[*]}; run this script as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "node-deps: installing ${missing[*]}" >&2
# Update the package lists only when an install from the present lists fails
# (a fresh machine has none, an old list may name versions no longer served).
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

for f in /usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback; do
	if [[ ! -x "$f" ]]; then
		echo "node-deps: $f missing after install" >&2
		exit 1
	fi
done
