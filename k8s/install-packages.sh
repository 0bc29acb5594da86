#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet. Installed packages are
# never upgraded, and nothing is installed when everything is present (no `apt-get update` either).
#   k8s/install-packages.sh etcd-server containerd runc
# Needs apt (Debian/Ubuntu) and root or sudo. Services that packages would start are not started
# where the system has a policy-rc.d (containers); nothing here relies on one.
set -euo pipefail

missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
(( ${#missing[@]} )) || exit 0
command -v apt-get >/dev/null || { echo "error: missing packages ${missing[*]} and no apt-get: install them by hand" >&2; exit 1; }
SUDO=
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "error: installing ${missing[*]} needs root or sudo" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends --no-upgrade "${missing[@]}"
