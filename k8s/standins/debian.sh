#!/usr/bin/env bash
# The base every stand-in image starts from: Debian bookworm (minbase) made with debootstrap from the
# Debian mirror and imported into Docker as ctrbench-standin/debian:bookworm. Skipped when the image
# exists. It trusts the certificate authorities this machine added under /usr/local/share/ca-certificates
# (a TLS-inspecting proxy, say), so `apt-get` and `pip` inside builds verify TLS as the host does.
# Needs root, debootstrap and a Docker daemon (k8s/docker.sh start).
# shellcheck source=lib.sh
source "$(dirname "$0")/../lib.sh"
need debootstrap docker flock

IMAGE=${STANDIN_DEBIAN_IMAGE:-ctrbench-standin/debian:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

present() { docker image inspect "$IMAGE" >/dev/null 2>&1; }
if present; then
  log "stand-in $IMAGE: present"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "debootstrap needs root"
# One debootstrap at a time: a concurrent caller waits for the first, then finds the image.
LOCK=${CTRBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrbench}/standin-debian.lock
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w 900 9 || die "timed out after 900 s waiting for another debian.sh (lock $LOCK)"
if present; then
  log "stand-in $IMAGE: present (built by a concurrent run)"
  exit 0
fi
ROOTFS=$(mktemp -d /tmp/ctrbench-debian-rootfs.XXXXXX)
cleanup() {
  # debootstrap mounts /proc and /sys in the target while it runs; never leave them behind.
  # (|| true: no mount left is the usual case, and under errexit a failed grep would skip the rm)
  { grep -o " ${ROOTFS}[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount "$m" || umount -l "$m"; done
  rm -rf "$ROOTFS" "$ROOTFS.log"
}
trap cleanup EXIT
trap 'exit 130' INT   # so that the EXIT trap cleans up on Ctrl-C and kill too
trap 'exit 143' TERM

log "stand-in $IMAGE: debootstrap bookworm from $MIRROR (about a minute)"
debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
  || { tail -20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; die "debootstrap failed"; }
rm -f "$ROOTFS.log"
cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
shopt -s nullglob
local_cas=(/usr/local/share/ca-certificates/*.crt)
if (( ${#local_cas[@]} )); then
  cp "${local_cas[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null
  log "stand-in $IMAGE: trusts ${#local_cas[@]} local CA certificate(s) of this machine"
fi
# Small and reproducible enough: no package lists, caches or logs in the image.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/*
tar -C "$ROOTFS" -c . | docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$IMAGE" >/dev/null
log "stand-in $IMAGE: imported ($(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec))"
