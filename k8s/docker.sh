#!/usr/bin/env bash
# A Docker daemon to build images with. `start` uses the daemon that DOCKER_HOST (or the default
# socket) reaches; when none answers it starts a private dockerd and prints how to reach it. `stop`
# stops only a daemon that `start` started. The private daemon creates no bridge, no iptables rule,
# no NAT and leaves IP forwarding as it is (builds use the host's network); its build containers' cgroups
# live under ctrbench-docker, removed by `stop`; it keeps its images in the ctrbench cache so rebuilds
# reuse their layers.
#   eval "$(k8s/docker.sh start)"     # exports DOCKER_HOST (and DOCKER_BUILDKIT=0 without buildx)
#   k8s/docker.sh stop
#   k8s/docker.sh env                 # the exports again, if a daemon is reachable
source "$(dirname "$0")/lib.sh"

CACHE=${CTRBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrbench}
RUN=${CTRBENCH_DOCKER_RUN:-/run/ctrbench-docker}
SOCK=$RUN/docker.sock
PIDFILE=$RUN/dockerd.pid
CGROUP=ctrbench-docker  # the parent of the build containers' cgroups, in every hierarchy

reachable() { DOCKER_HOST=$1 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

exports() {  # the environment that reaches daemon $1
  echo "export DOCKER_HOST=$1"
  # Debian's docker.io has no buildx plugin: use the classic builder (it reads the same Dockerfiles).
  docker buildx version >/dev/null 2>&1 || echo "export DOCKER_BUILDKIT=0"
}

# The build containers' cgroups (empty once the daemon has stopped), deepest first.
remove_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/"$CGROUP" /sys/fs/cgroup/*/"$CGROUP"; do
    [[ -d $dir ]] && { find "$dir" -depth -type d -exec rmdir {} + || log "docker: could not remove cgroup $dir"; }
  done
  return 0
}

# Unmount whatever is mounted under our run directory (deepest first).
unmount_ours() {
  local mount
  { grep -o " $RUN/[^ ]*" /proc/mounts || true; } | sort -r | while read -r mount; do
    umount "$mount" || umount -l "$mount"
  done
}

ours_running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  need docker
  local current=${DOCKER_HOST:-unix:///var/run/docker.sock}
  if ours_running && reachable "unix://$SOCK"; then exports "unix://$SOCK"; return; fi
  if reachable "$current"; then log "docker: using the daemon at $current"; exports "$current"; return; fi
  need dockerd
  mkdir -p "$RUN" "$CACHE/docker"
  log "docker: no daemon answers at $current; starting a private dockerd (data in $CACHE/docker)"
  # setsid: the daemon outlives this script but not a kill of its own pid.
  setsid dockerd --host "unix://$SOCK" --pidfile "$PIDFILE" --data-root "$CACHE/docker" --exec-root "$RUN/exec" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
    --cgroup-parent="$CGROUP" \
    --log-level=warn >"$RUN/dockerd.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 60))
  until reachable "unix://$SOCK"; do
    if (( SECONDS > deadline )); then
      tail -5 "$RUN/dockerd.log" >&2
      die "the private dockerd did not answer on $SOCK within 60 s (log: $RUN/dockerd.log)"
    fi
    sleep 1
  done
  log "docker: private dockerd running (pid $(cat "$PIDFILE"), socket $SOCK)"
  exports "unix://$SOCK"
}

stop() {
  if ! ours_running; then
    unmount_ours
    remove_cgroups
    rm -rf "$RUN"
    return 0
  fi
  local pid
  pid=$(cat "$PIDFILE")
  kill "$pid"
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    (( SECONDS < deadline )) || { log "docker: dockerd $pid ignored SIGTERM for 60 s; killing it"; kill -9 "$pid"; }
    sleep 1
  done
  # dockerd leaves the mount of its default network namespace behind; nothing of ours may stay mounted.
  unmount_ours
  remove_cgroups
  rm -rf "$RUN"
  log "docker: private dockerd stopped"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  env) if ours_running; then exports "unix://$SOCK"; else exports "${DOCKER_HOST:-unix:///var/run/docker.sock}"; fi ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
