#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, from parts the registries serve (Go module proxy, Debian),
# with nothing pulled from any container registry and no traffic leaving the machine.
#
#   k8s/local/cluster.sh deps             install the Debian packages that build and run it (only those missing)
#   k8s/local/cluster.sh build            build (cached) the Kubernetes binaries, CoreDNS, the local-path
#                                         provisioner, a static pause, and their images (Docker)
#   k8s/local/cluster.sh up               start it all (builds first if needed); quick when already up
#   k8s/local/cluster.sh load IMAGE...    copy Docker images into the node (pods: imagePullPolicy Never)
#   k8s/local/cluster.sh status           components, pids, node readiness; non-zero when not up
#   k8s/local/cluster.sh down [--purge]   stop everything and remove what it left on the host; --purge also
#                                         removes the state directory (the build cache stays)
#   k8s/local/cluster.sh kubeconfig       the admin kubeconfig's path
#   k8s/local/cluster.sh env              `export KUBECONFIG=... PATH=...` (kubectl, helm) for eval
#   k8s/local/cluster.sh kubectl ARGS...  kubectl on this cluster
#
# Settings (versions, directories, addresses) are in k8s/local/env.sh. Parts: etcd, containerd, runc and
# the CNI plugins from Debian; the Kubernetes binaries built from the Go module proxy; a private containerd
# with its own socket and root; a CNI bridge without NAT and an iptables guard that keeps pods inside the
# pod range; CoreDNS without upstream; local-path-provisioner as the default StorageClass. Every server
# listens on 127.0.0.1 or the node address (a /32 on lo). Needs root.
# shellcheck source=lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=local/env.sh
source "$(dirname "$0")/env.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
K8S=$(dirname "$HERE")
export PATH="$CLUSTER_K8S_BIN:$PATH" KUBECONFIG=$CLUSTER_KUBECONFIG

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)
# nftables and nfacct: to remove the nftables tables and accounting objects the cluster made (see down).
APT_PACKAGES=(etcd-server containernetworking-plugins conntrack socat ebtables ethtool iproute2 openssl iptables
              nftables nfacct containerd runc docker.io curl)
BUILD_PACKAGES=(gcc libc6-dev docker.io debootstrap)
# Kernel settings the kubelet changes at start (and the bridge plugin: forwarding): restored by `down`.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
         kernel.keys.root_maxbytes net.ipv4.ip_forward)
# Host directories the components create outside the state directory, whatever they are told (kubelet:
# container log links and its device plugin socket; the CNI library: its result cache; containerd's shims:
# their sockets). `down` removes the ones that did not exist before `up`, once empty.
HOST_DIRS=(/var/log/containers /var/lib/kubelet /var/lib/kubelet/device-plugins /var/lib/cni /var/lib/cni/results
           /run/containerd /run/containerd/s)
# Accounting objects kube-proxy makes (and never removes).
NFACCT_COUNTERS=(ct_state_invalid_dropped_pkts localhost_nps_accepted_pkts)
HOST_STATE=$CLUSTER_RUN/host-before-up
# Daemons run with this environment only: no proxy variables (the apiserver would send webhook calls to a
# proxy), nothing else inherited.
DAEMON_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "HOME=$HOME" LANG=C.UTF-8)

# ---------------------------------------------------------------------------------------------- helpers

require_root() { [[ $(id -u) == 0 ]] || die "$1 needs root (network, mounts, cgroups)"; }

check_settings() {
  [[ $CLUSTER_DIR == /*/* && $CLUSTER_DIR != *[[:space:]]* && $CLUSTER_DIR != */ ]] \
    || die "CLUSTER_DIR must be an absolute path of two or more levels, without spaces: '$CLUSTER_DIR'"
  (( ${#CLUSTER_CONTAINERD_SOCK} < 100 )) \
    || die "the containerd socket path is too long for a unix socket: $CLUSTER_CONTAINERD_SOCK"
}

kc() { kubectl --request-timeout=15s "$@"; }
ctr_k8s() { ctr -a "$CLUSTER_CONTAINERD_SOCK" -n k8s.io "$@"; }
api_ready() {
  curl -sf --max-time 3 --cacert "$CLUSTER_PKI/ca.crt" "https://$CLUSTER_NODE_IP:$CLUSTER_API_PORT/readyz" >/dev/null
}

docker_env() {
  [[ -n ${DOCKER_ENV_DONE:-} ]] && return 0
  local exports
  exports=$("$K8S/docker.sh" start) || die "no Docker daemon (k8s/docker.sh start failed)"
  eval "$exports"
  DOCKER_ENV_DONE=1
}

pidfile() { echo "$CLUSTER_RUN/$1.pid"; }
cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }
has_node_address() { [[ $(ip -o addr show dev lo) == *" $CLUSTER_NODE_IP/32 "* ]]; }

# running_pid <component>: its pid, when the pid file names a live process started for this cluster (its
# command line names the state directory: a recycled pid is not mistaken for it).
running_pid() {
  local file pid
  file=$(pidfile "$1")
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ $(cmdline_of "$pid") == *"$CLUSTER_DIR/"* ]] || return 1
  echo "$pid"
}

# start_component <name> <command...>: in its own session, log appended to logs/<name>.log.
start_component() {
  local name=$1 pid; shift
  if pid=$(running_pid "$name"); then log "$name: running (pid $pid)"; return 0; fi
  mkdir -p "$CLUSTER_LOGS" "$CLUSTER_RUN"
  printf '\n=== %s start: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$CLUSTER_LOGS/$name.log"
  setsid "${DAEMON_ENV[@]}" "$@" >>"$CLUSTER_LOGS/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$(pidfile "$name")"
  # Until the child has exec'd, its command line is still this shell's, and running_pid would call it
  # gone: wait_component then failed at once with a misleading "timed out after 30s".
  for _ in {1..50}; do
    running_pid "$name" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "$name: started (pid $pid, log $CLUSTER_LOGS/$name.log)"
}

# wait_component <seconds> <component> <description> <command...>: retry the command every second until it
# succeeds; fail at once when the component's process is gone, or after that many seconds, with the last
# lines of the component's log.
wait_component() {
  local timeout=$1 name=$2 what=$3; shift 3
  local logfile=$CLUSTER_LOGS/$name.log start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ! running_pid "$name" >/dev/null || (( SECONDS - start >= timeout )); then
      log "last lines of $logfile:"; tail -n 25 "$logfile" >&2
      running_pid "$name" >/dev/null || die "$name exited while waiting for $what (log: $logfile)"
      die "timed out after $(duration $((SECONDS - start))) waiting for $what (log: $logfile)"
    fi
    sleep 1
  done
  log "ready: $what ($(duration $((SECONDS - start))))"
}

stop_component() {
  local name=$1 timeout=${2:-30} pid
  if pid=$(running_pid "$name"); then stop_pid "$pid" "$name" "$timeout"; fi
  rm -f "$(pidfile "$name")"
}

# write_file <path> [mode]: stdin into the file, only when its content changes (kube-proxy exits when its
# configuration file is written to, even with the same content), atomically.
write_file() {
  local path=$1 mode=${2:-644}
  (umask 077; cat >"$path.tmp")
  chmod "$mode" "$path.tmp"
  if cmp -s "$path.tmp" "$path"; then rm -f "$path.tmp"; else mv -f "$path.tmp" "$path"; fi
}

# render <template> <output>: the manifests' @PLACEHOLDERS@ filled in from env.sh.
render() {
  sed -e "s|@DOMAIN@|$CLUSTER_DOMAIN|g" -e "s|@DNS_IP@|$CLUSTER_DNS_IP|g" \
      -e "s|@COREDNS_IMAGE@|$CLUSTER_COREDNS_IMAGE|g" -e "s|@LOCAL_PATH_IMAGE@|$CLUSTER_LOCAL_PATH_IMAGE|g" \
      -e "s|@DEBIAN_IMAGE@|$CLUSTER_DEBIAN_IMAGE|g" -e "s|@VOLUMES@|$CLUSTER_VOLUMES|g" "$1" | write_file "$2"
}

# ------------------------------------------------------------------------------------------------ build

build_log() { mkdir -p "$CLUSTER_CACHE/logs"; echo "$CLUSTER_CACHE/logs/build-$1.log"; }

# run_logged <log> <what> <command...>: output to the log; on failure its tail and the reason.
run_logged() {
  local logfile=$1 what=$2; shift 2
  if ! "$@" >>"$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2
    die "$what failed (log: $logfile)"
  fi
}

# The six Kubernetes binaries. k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the k8s.io/*
# staging modules with ./staging/... directories. A wrapper module requires it and replaces each staging
# module with its published v0.<minor>.<patch> instead.
build_kubernetes() {
  local version=$CLUSTER_K8S_VERSION bin=$CLUSTER_K8S_BIN cmd missing=() start=$SECONDS
  for cmd in "${KUBE_CMDS[@]}"; do [[ -x $bin/$cmd ]] || missing+=("$cmd"); done
  if (( ! ${#missing[@]} )); then log "build: kubernetes $version: cached ($bin)"; return 0; fi
  local top mod logfile gomod
  top=$(dirname "$bin"); mod=$top/module; logfile=$(build_log "kubernetes-$version")
  : >"$logfile"
  log "build: kubernetes $version: ${KUBE_CMDS[*]} from the Go module proxy (cold: about 6-10 min; log $logfile)"
  rm -rf "$mod" "$top/bin.tmp"; mkdir -p "$mod"
  gomod=$(cd / && go mod download -json "k8s.io/kubernetes@$version" 2>>"$logfile" \
          | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [[ -f $gomod ]] || { tail -n 20 "$logfile" >&2; die "go mod download k8s.io/kubernetes@$version failed"; }
  {
    printf 'module ctrbench.local/kubernetes-build\n\n'
    grep -E '^(go|godebug) ' "$gomod"
    printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$version"
    awk -v v="v0.${version#v1.}" '$2 == "=>" && $3 ~ /^\.\/staging\// {printf "\t%s => %s %s\n", $1, $1, v}' "$gomod"
    printf ')\n'
  } >"$mod/go.mod"
  printf 'package main\n\nfunc main() {}\n' >"$mod/main.go"
  local pkgs=("${KUBE_CMDS[@]/#/k8s.io/kubernetes/cmd/}")
  (cd "$mod" && run_logged "$logfile" "go get of the Kubernetes commands" nice -n 10 go get "${pkgs[@]/%/@$version}")
  log "build: kubernetes $version: modules resolved ($(duration $((SECONDS - start)))); compiling"
  local minor date ldflags="-s -w" pkg
  minor=${version#v1.}; minor=${minor%%.*}
  local format='{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}'
  date=$(cd "$mod" && { go list -m -f "$format" k8s.io/kubernetes || true; })
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    if [[ -n $date ]]; then ldflags+=" -X $pkg.buildDate=$date"; fi
  done
  (cd "$mod" && CGO_ENABLED=0 run_logged "$logfile" "go build of the Kubernetes commands" \
     nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$top/bin.tmp/" "${pkgs[@]}")
  rm -rf "$bin"; mv "$top/bin.tmp" "$bin"
  log "build: kubernetes $version: built in $(duration $((SECONDS - start)))" \
    "($("$bin/kubectl" version --client | sed -n 1p))"
}

# go_install_tool <name> <package@version> <binary path>
go_install_tool() {
  local name=$1 pkg=$2 target=$3 start=$SECONDS logfile tmp
  if [[ -x $target ]]; then log "build: $name: cached ($target)"; return 0; fi
  logfile=$(build_log "$name"); : >"$logfile"
  tmp=$(dirname "$target").tmp
  log "build: $name: go install $pkg (log $logfile)"
  rm -rf "$tmp"; mkdir -p "$tmp"
  CGO_ENABLED=0 GOBIN=$tmp run_logged "$logfile" "go install $pkg" \
    nice -n 10 go install -trimpath -ldflags='-s -w' "$pkg"
  mkdir -p "$(dirname "$target")"
  mv "$tmp/$(basename "${pkg%@*}")" "$target"; rm -rf "$tmp"
  log "build: $name: built in $(duration $((SECONDS - start)))"
}

build_pause() {
  local target=$CLUSTER_PAUSE_BIN
  if [[ -x $target ]]; then log "build: pause: cached ($target)"; return 0; fi
  mkdir -p "$(dirname "$target")"
  gcc -static -O2 -s -Wall -Werror -o "$target.tmp" "$HERE/images/pause/pause.c" || die "gcc -static pause.c failed"
  mv "$target.tmp" "$target"
  log "build: pause: built (static, $(stat -c %s "$target") bytes)"
}

# build_image <image> <images/ directory> <binary> [--build-arg ...]: skipped when the image carries the hash
# of its Dockerfile, binary, build arguments and base image.
build_image() {
  local image=$1 name=$2 binary=$3 dir=$HERE/images/$2 start=$SECONDS; shift 3
  local hash current ctx logfile base=""
  if [[ " $* " == *" BASE="* ]]; then base=$(docker image inspect -f '{{.Id}}' "$CLUSTER_DEBIAN_IMAGE"); fi
  hash=$({ sha256sum <"$dir/Dockerfile"; sha256sum <"$binary"; echo "$* $base"; } | sha256sum | cut -c1-64)
  current=$(docker image inspect -f '{{index .Config.Labels "ctrbench.local.hash"}}' "$image" 2>/dev/null || true)
  if [[ $current == "$hash" ]]; then log "build: image $image: cached"; return 0; fi
  logfile=$(build_log "image-$name"); : >"$logfile"
  ctx=$(mktemp -d /tmp/ctrbench-image.XXXXXX)
  cp "$dir/Dockerfile" "$binary" "$ctx/"
  if ! docker build --label "ctrbench.local.hash=$hash" "$@" -t "$image" "$ctx" >>"$logfile" 2>&1; then
    rm -rf "$ctx"; tail -n 20 "$logfile" >&2; die "docker build of $image failed (log: $logfile)"
  fi
  rm -rf "$ctx"
  log "build: image $image: built in $(duration $((SECONDS - start)))"
}

cmd_build() {
  local start=$SECONDS
  "$K8S/install-packages.sh" "${BUILD_PACKAGES[@]}"
  need go gcc docker
  build_kubernetes
  go_install_tool coredns "github.com/coredns/coredns@$CLUSTER_COREDNS_VERSION" "$CLUSTER_COREDNS_BIN"
  go_install_tool local-path-provisioner "github.com/rancher/local-path-provisioner@$CLUSTER_LOCAL_PATH_VERSION" \
    "$CLUSTER_LOCAL_PATH_BIN"
  build_pause
  docker_env
  if ! docker image inspect "$CLUSTER_DEBIAN_IMAGE" >/dev/null 2>&1; then
    [[ -x $K8S/standins/debian.sh ]] \
      || die "no Docker image $CLUSTER_DEBIAN_IMAGE and no k8s/standins/debian.sh to make it"
    STANDIN_DEBIAN_IMAGE=$CLUSTER_DEBIAN_IMAGE "$K8S/standins/debian.sh"
  fi
  build_image "$CLUSTER_PAUSE_IMAGE" pause "$CLUSTER_PAUSE_BIN"
  build_image "$CLUSTER_COREDNS_IMAGE" coredns "$CLUSTER_COREDNS_BIN"
  build_image "$CLUSTER_LOCAL_PATH_IMAGE" local-path-provisioner "$CLUSTER_LOCAL_PATH_BIN" \
    --build-arg "BASE=$CLUSTER_DEBIAN_IMAGE"
  log "build: done in $(duration $((SECONDS - start)))"
}

# -------------------------------------------------------------------------------------------------- pki

# cert <name> <subject> [subjectAltName]: a key and a certificate signed by the cluster CA (server and
# client use when it has SANs, client only otherwise).
cert() {
  local name=$1 subject=$2 sans=${3:-} dir=$CLUSTER_PKI
  [[ -f $dir/$name.crt ]] && return 0
  openssl genrsa -out "$dir/$name.key" 2048 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $sans ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$dir/$name.ext"
  openssl req -new -key "$dir/$name.key" -subj "$subject" 2>/dev/null \
    | openssl x509 -req -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -CAserial "$dir/ca.srl" \
        -days 3650 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null \
    || die "openssl could not sign the $name certificate"
  rm -f "$dir/$name.ext"
}

# kubeconfig <name> <certificate name>: etc/<name>.kubeconfig with the certificate embedded.
kubeconfig() {
  local file=$CLUSTER_ETC/$1.kubeconfig pki=$CLUSTER_PKI
  write_file "$file" 600 <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ctrbench-local
  cluster:
    server: https://$CLUSTER_NODE_IP:$CLUSTER_API_PORT
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: ctrbench-local
  context: {cluster: ctrbench-local, user: $1}
current-context: ctrbench-local
EOF
}

make_pki() {
  local dir=$CLUSTER_PKI inputs
  mkdir -p "$dir" "$CLUSTER_ETC"; chmod 700 "$dir"
  if [[ ! -f $dir/ca.crt ]]; then
    openssl genrsa -out "$dir/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=ctrbench-local-ca" -days 3650 -out "$dir/ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
      || die "openssl could not make the cluster CA"
    log "pki: new cluster CA"
  fi
  if [[ ! -f $dir/sa.key ]]; then
    openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  fi
  # Leaf certificates name the node and the addresses: new ones when those change.
  inputs="$CLUSTER_NODE_NAME $CLUSTER_NODE_IP $CLUSTER_API_SERVICE_IP $CLUSTER_DOMAIN"
  if [[ $(cat "$dir/inputs" 2>/dev/null) != "$inputs" ]]; then
    find "$dir" -maxdepth 1 -type f ! -name 'ca.*' ! -name 'sa.*' -delete
    echo "$inputs" >"$dir/inputs"
  fi
  local svc=kubernetes.default.svc
  cert apiserver "/CN=kube-apiserver" "DNS:kubernetes,DNS:kubernetes.default,DNS:$svc,DNS:$svc.$CLUSTER_DOMAIN,\
DNS:localhost,IP:127.0.0.1,IP:$CLUSTER_API_SERVICE_IP,IP:$CLUSTER_NODE_IP"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert admin "/O=system:masters/CN=ctrbench-admin"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  cert kubelet "/O=system:nodes/CN=system:node:$CLUSTER_NODE_NAME"
  cert kubelet-serving "/CN=$CLUSTER_NODE_NAME" "DNS:$CLUSTER_NODE_NAME,IP:$CLUSTER_NODE_IP"
  kubeconfig admin admin
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
  kubeconfig kube-proxy kube-proxy
  kubeconfig kubelet kubelet
}

# ------------------------------------------------------------------------------------ host state, guard

# What `down` restores: recorded once, before the first change to the host.
record_host_state() {
  [[ -d $HOST_STATE ]] && return 0
  mkdir -p "$HOST_STATE.tmp"
  local key dir
  for key in "${SYSCTLS[@]}"; do echo "$key=$(sysctl -n "$key")"; done >"$HOST_STATE.tmp/sysctl"
  for dir in "${HOST_DIRS[@]}"; do [[ -e $dir ]] || echo "$dir"; done >"$HOST_STATE.tmp/absent-dirs"
  if command -v nft >/dev/null; then nft list tables >"$HOST_STATE.tmp/nft-tables"; fi
  if command -v nfacct >/dev/null; then nfacct_names >"$HOST_STATE.tmp/nfacct"; fi
  mv "$HOST_STATE.tmp" "$HOST_STATE"
}

nfacct_names() { nfacct list 2>/dev/null | sed -n 's/.* = \([^ ;]*\);$/\1/p'; }

node_address() {
  has_node_address && return 0
  ip addr add "$CLUSTER_NODE_IP/32" dev lo || die "could not add $CLUSTER_NODE_IP/32 to lo"
  log "node address $CLUSTER_NODE_IP/32 on lo"
}

# ensure_chain <iptables|ip6tables> <chain> <builtin> <rule>...: the chain holds exactly these rules and the
# built-in chain jumps to it first.
ensure_chain() {
  local ipt=$1 chain=$2 builtin=$3 rule; shift 3
  local want have
  want=$(printf -- '-N %s\n' "$chain"; for rule in "$@"; do printf -- '-A %s %s\n' "$chain" "$rule"; done)
  have=$("$ipt" -S "$chain" 2>/dev/null | tr -d '"' || true)
  if [[ $have != "$want" ]]; then
    "$ipt" -N "$chain" 2>/dev/null || "$ipt" -F "$chain"
    for rule in "$@"; do
      # shellcheck disable=SC2086 # a rule is words
      "$ipt" -A "$chain" $rule || die "$ipt could not add to $chain: $rule"
    done
  fi
  if [[ $("$ipt" -S "$builtin" | sed -n 2p) != "-A $builtin -j $chain" ]]; then
    while "$ipt" -D "$builtin" -j "$chain" 2>/dev/null; do :; done
    "$ipt" -I "$builtin" 1 -j "$chain"
  fi
}

# The cgroup v2 hierarchy (/sys/fs/cgroup/unified on a hybrid host): the guard matches containerd's
# sockets by their cgroup there.
cgroup2_root() { awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts; }

# The guard: pods talk to pods, to the API server and kubelet on the node address, and to nothing else;
# nothing forwarded reaches them from outside; host traffic for the service and pod ranges that no
# kube-proxy rule rewrote is refused instead of leaving through the default route; containerd (image
# pulls) reaches loopback addresses only. Also accepts pod to pod traffic explicitly (Docker may set the
# FORWARD policy to DROP). IPv6: pods have none; the bridge forwards and delivers none.
guard() {
  local g=$CLUSTER_GUARD_PREFIX pods=$CLUSTER_POD_CIDR cg2 ctrd=() ctrd6=()
  cg2=$(cgroup2_root)
  if [[ -n $cg2 ]]; then
    mkdir -p "$cg2/$CLUSTER_CONTAINERD_CGROUP"
    ctrd=("! -d 127.0.0.0/8 -m cgroup --path /$CLUSTER_CONTAINERD_CGROUP -j REJECT --reject-with icmp-net-unreachable")
    ctrd6=("! -d ::1/128 -m cgroup --path /$CLUSTER_CONTAINERD_CGROUP -j REJECT --reject-with icmp6-adm-prohibited")
  else
    log "guard: no cgroup v2 hierarchy: containerd's traffic is not confined to loopback"
  fi
  ensure_chain iptables "${g}FORWARD" FORWARD \
    "-s $pods -d $pods -j ACCEPT" \
    "-s $pods -j DROP" \
    "-d $pods -j DROP"
  ensure_chain iptables "${g}INPUT" INPUT \
    "-s $pods -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
    "-s $pods -d $CLUSTER_NODE_IP/32 -p tcp -m multiport --dports $CLUSTER_API_PORT,10250 -j ACCEPT" \
    "-s $pods -j DROP"
  ensure_chain iptables "${g}OUTPUT" OUTPUT \
    "-d $CLUSTER_SERVICE_CIDR -j REJECT --reject-with icmp-net-unreachable" \
    "-d $pods ! -o $CLUSTER_BRIDGE -j REJECT --reject-with icmp-net-unreachable" "${ctrd[@]}"
  ensure_chain ip6tables "${g}FORWARD" FORWARD "-i $CLUSTER_BRIDGE -j DROP" "-o $CLUSTER_BRIDGE -j DROP"
  ensure_chain ip6tables "${g}INPUT" INPUT "-i $CLUSTER_BRIDGE -j DROP"
  ensure_chain ip6tables "${g}OUTPUT" OUTPUT "${ctrd6[@]}"
}

# -------------------------------------------------------------------------------------- control plane

start_etcd() {
  mkdir -p "$CLUSTER_ETCD_DATA"; chmod 700 "$CLUSTER_ETCD_DATA"
  local client=http://127.0.0.1:$CLUSTER_ETCD_PORT peer=http://127.0.0.1:$((CLUSTER_ETCD_PORT + 1))
  start_component etcd /usr/bin/etcd --name ctrbench --data-dir "$CLUSTER_ETCD_DATA" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "ctrbench=$peer"
}

start_apiserver() {
  local pki=$CLUSTER_PKI
  start_component kube-apiserver "$CLUSTER_K8S_BIN/kube-apiserver" \
    --bind-address="$CLUSTER_NODE_IP" --advertise-address="$CLUSTER_NODE_IP" --secure-port="$CLUSTER_API_PORT" \
    --etcd-servers="http://127.0.0.1:$CLUSTER_ETCD_PORT" \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true --profiling=false --v=1
}

start_controllers() {
  local etc=$CLUSTER_ETC pki=$CLUSTER_PKI
  start_component kube-controller-manager "$CLUSTER_K8S_BIN/kube-controller-manager" \
    --kubeconfig="$etc/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$etc/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$etc/controller-manager.kubeconfig" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --use-service-account-credentials=true \
    --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_POD_CIDR" --node-cidr-mask-size="${CLUSTER_NODE_POD_CIDR#*/}" \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" \
    --flex-volume-plugin-dir="$CLUSTER_KUBELET_DIR/volume-plugins" \
    --leader-elect=false --bind-address=127.0.0.1 --profiling=false --v=1
  start_component kube-scheduler "$CLUSTER_K8S_BIN/kube-scheduler" \
    --kubeconfig="$etc/scheduler.kubeconfig" \
    --authentication-kubeconfig="$etc/scheduler.kubeconfig" --authorization-kubeconfig="$etc/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --profiling=false --v=1
}

# ----------------------------------------------------------------------------------------------- node

write_containerd_config() {
  local etc=$CLUSTER_ETC/containerd hosts host
  hosts=$etc/certs.d
  mkdir -p "$CLUSTER_CONTAINERD_ROOT" "$CLUSTER_CONTAINERD_STATE" "$CLUSTER_CNI_CONF_DIR"
  # Every registry ("_default" is containerd's "*") resolves to one closed loopback port and nothing else:
  # with a hosts.toml `server`, containerd adds no fallback to the real registry (the CRI `mirrors` table
  # does: it appends the registry's own endpoint after the mirrors). The guard backs this up: containerd
  # runs in its own cgroup, whose traffic may only go to loopback addresses.
  for host in _default docker.io; do
    mkdir -p "$hosts/$host"
    # containerd 1.6 needs a [host] table: without one the file does not parse, and an unparsable file
    # means the registry's default endpoint.
    write_file "$hosts/$host/hosts.toml" <<EOF
# No registry is reachable from this cluster: every pull goes to a loopback port nobody listens on.
server = "http://$CLUSTER_CLOSED_REGISTRY"
[host."http://$CLUSTER_CLOSED_REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  done
  write_file "$etc/config.toml" <<EOF
version = 2
root = "$CLUSTER_CONTAINERD_ROOT"
state = "$CLUSTER_CONTAINERD_STATE"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$CLUSTER_CONTAINERD_SOCK"
[ttrpc]
  address = "$CLUSTER_CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_CONTAINERD_ROOT/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/$CLUSTER_PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  # network namespaces under <state>/netns, not /var/run/netns
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CLUSTER_CONTAINERD_STATE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_CNI_CONF_DIR"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$hosts"
EOF
}

# CNI: one bridge, host-local addresses from this node's pod range (allocations kept in the state dir),
# no masquerading: a pod's packet to the outside would carry its own address (and the guard drops it).
write_cni_config() {
  mkdir -p "$CLUSTER_CNI_CONF_DIR" "$CLUSTER_CNI_DATA"
  write_file "$CLUSTER_CNI_CONF_DIR/10-$CLUSTER_CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CLUSTER_CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge", "bridge": "$CLUSTER_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$CLUSTER_CNI_DATA/networks",
        "ranges": [[{"subnet": "$CLUSTER_NODE_POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

write_kubelet_config() {
  local pki=$CLUSTER_PKI
  # Pods with dnsPolicy Default (CoreDNS, the provisioner) get this: no name server, no search domain.
  printf '# no upstream name server: names outside the cluster do not resolve\n' | write_file "$CLUSTER_ETC/resolv.conf"
  write_file "$CLUSTER_ETC/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CLUSTER_CONTAINERD_SOCK
address: $CLUSTER_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$CLUSTER_DNS_IP]
resolvConf: $CLUSTER_ETC/resolv.conf
podLogsDir: $CLUSTER_LOGS/pods
volumePluginDir: $CLUSTER_KUBELET_DIR/volume-plugins
failSwapOn: false
maxPods: 110
serializeImagePulls: false
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}
# No image garbage collection (100 turns it off): this node has no registry to pull an image back from, and a
# disk filling up with other things made the kubelet delete the pause image and every ctrbench image it held.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 90
EOF
  write_file "$CLUSTER_ETC/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $CLUSTER_ETC/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $CLUSTER_POD_CIDR
hostnameOverride: $CLUSTER_NODE_NAME
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [$CLUSTER_NODE_IP/32]
iptables: {masqueradeAll: false}
# 0: leave the host's conntrack settings as they are
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

start_containerd() {
  write_containerd_config
  local procs=/dev/null
  if [[ -n $(cgroup2_root) ]]; then procs=$(cgroup2_root)/$CLUSTER_CONTAINERD_CGROUP/cgroup.procs; fi
  # it joins its cgroup before it execs containerd: all of containerd's sockets are in it
  # shellcheck disable=SC2016 # for the inner shell
  start_component containerd sh -c 'echo $$ >"$0" && exec "$@"' "$procs" \
    /usr/bin/containerd --config "$CLUSTER_ETC/containerd/config.toml"
}

start_kubelet() {
  mkdir -p "$CLUSTER_KUBELET_DIR" "$CLUSTER_LOGS/pods"
  start_component kubelet "$CLUSTER_K8S_BIN/kubelet" --config="$CLUSTER_ETC/kubelet.yaml" \
    --kubeconfig="$CLUSTER_ETC/kubelet.kubeconfig" --root-dir="$CLUSTER_KUBELET_DIR" \
    --cert-dir="$CLUSTER_KUBELET_DIR/pki" --hostname-override="$CLUSTER_NODE_NAME" --node-ip="$CLUSTER_NODE_IP" --v=1
}

start_kube_proxy() {
  start_component kube-proxy "$CLUSTER_K8S_BIN/kube-proxy" --config="$CLUSTER_ETC/kube-proxy.yaml" --v=1
}

# ------------------------------------------------------------------------------------------------ images

# normalize_ref <image>: the name containerd keeps it under (docker.io/library/x:latest for x).
normalize_ref() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then ref=docker.io/library/$ref
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then ref=docker.io/$ref; fi
  [[ ${ref##*/} == *[:@]* ]] || ref=$ref:latest
  echo "$ref"
}

# The Docker image id an image in the node was imported from (a label set on import).
node_image_source() {
  ctr_k8s images ls "name==$1" 2>/dev/null | awk 'NR > 1 {
    n = split($NF, labels, ",")
    for (i = 1; i <= n; i++) if (sub(/^ctrbench\.docker-id=/, "", labels[i])) print labels[i] }'
}

# need_space <image> <bytes>: dies, naming what is needed and what is free, unless the node's image store can take an
# image of <bytes>. The kubelet collects no images here (nothing could pull them back), so a full disk would surface only
# as evicted pods: the import stores the layers and unpacks them (about twice the image), and 5% of the disk stays free
# (the kubelet evicts every pod below 2%).
need_space() {
  local image=$1 bytes=$2 total avail need mount
  read -r total avail mount < <(df -B1 --output=size,avail,target "$CLUSTER_CONTAINERD_ROOT" | tail -n 1)
  need=$((2 * bytes + total / 20))
  ((avail >= need)) && return 0
  die "load: importing $image ($(numfmt --to=iec "$bytes")) needs $(numfmt --to=iec "$need") free on $mount" \
    "(twice the image, and 5% of the disk kept free); $(numfmt --to=iec "$avail") is. Free space (e.g. 'docker image" \
    "prune' in the daemon that built it, or '$0 down --purge') and load again."
}

# import_images <image>...: Docker -> the node's containerd (namespace k8s.io), unless already there.
import_images() {
  local image id ref start=$SECONDS t bytes size imported=0
  docker_env
  for image in "$@"; do
    id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) || die "load: no Docker image $image"
    ref=$(normalize_ref "$image")
    if [[ $(node_image_source "$ref") == "$id" ]]; then log "load: $image: already in the node"; continue; fi
    t=$SECONDS
    bytes=$(docker image inspect -f '{{.Size}}' "$image")
    need_space "$image" "$bytes"
    size=$(numfmt --to=iec "$bytes")
    docker save "$image" | ctr_k8s images import - >/dev/null || die "load: importing $image into the node failed"
    ctr_k8s images label "$ref" "ctrbench.docker-id=$id" >/dev/null || die "load: $ref is not in the node after import"
    log "load: $image: imported ($size) in $(duration $((SECONDS - t)))"
    imported=$((imported + 1))
  done
  prune_untagged
  log "load: $# image(s), $imported imported, in $(duration $((SECONDS - start)))"
}

# Removes the images the node keeps only by id: what a tag named before a newer import took it. The kubelet collects
# no images here, so without this every rebuild would leave its predecessor on the disk (a running container keeps
# its own snapshot).
prune_untagged() {
  local named ref digest removed=0
  named=$(ctr_k8s images ls | awk 'NR > 1 && $1 !~ /^sha256:/ {print $3}' | sort -u)
  while read -r ref digest; do
    grep -qx "$digest" <<<"$named" && continue
    ctr_k8s images rm "$ref" >/dev/null || die "load: removing the untagged image $ref from the node failed"
    removed=$((removed + 1))
  done < <(ctr_k8s images ls | awk 'NR > 1 && $1 ~ /^sha256:/ {print $1, $3}')
  (( removed == 0 )) || log "load: removed $removed image(s) no tag names any more"
}

# ---------------------------------------------------------------------------------------------- addons

node_ready() {
  local ready='{.status.conditions[?(@.type=="Ready")].status}'
  [[ $(kc get node "$CLUSTER_NODE_NAME" -o jsonpath="$ready" 2>/dev/null) == True ]]
}

# available <namespace> <deployment>
available() { [[ $(kc -n "$1" get deploy "$2" -o jsonpath='{.status.availableReplicas}' 2>/dev/null) -ge 1 ]]; }
addons_ready() { available kube-system coredns && available local-path-storage local-path-provisioner; }

# wait_rollout <namespace> <deployment> <seconds>: on failure the pods' state and the kubelet log.
wait_rollout() {
  local start=$SECONDS
  if ! kubectl -n "$1" rollout status "deploy/$2" --timeout="${3}s" >/dev/null 2>&1; then
    kc -n "$1" get pods -o wide >&2 || true
    kc -n "$1" describe pods | tail -n 25 >&2 || true
    kc -n "$1" logs "deploy/$2" --tail=20 >&2 || true
    log "last lines of $CLUSTER_LOGS/kubelet.log:"; tail -n 15 "$CLUSTER_LOGS/kubelet.log" >&2
    die "timed out after ${3}s waiting for deployment $1/$2 to roll out"
  fi
  log "ready: deployment $1/$2 ($(duration $((SECONDS - start))))"
}

apply_addons() {
  local out=$CLUSTER_ETC/addons manifest
  mkdir -p "$out" "$CLUSTER_VOLUMES"
  for manifest in "$HERE"/manifests/*.yaml; do render "$manifest" "$out/$(basename "$manifest")"; done
  kc apply -f "$out" >/dev/null || die "kubectl apply of the addons failed"
  wait_rollout kube-system coredns 180
  wait_rollout local-path-storage local-path-provisioner 180
}

# -------------------------------------------------------------------------------------------------- up

cluster_is_up() {
  local name
  for name in "${COMPONENTS[@]}"; do running_pid "$name" >/dev/null || return 1; done
  api_ready && node_ready && addons_ready
}

print_usage() {
  cat <<EOF
The cluster is up. Use it with:
  export KUBECONFIG=$CLUSTER_KUBECONFIG
  export PATH=$CLUSTER_K8S_BIN:$(dirname "$CLUSTER_HELM"):\$PATH
(or: eval "\$($HERE/cluster.sh env)"). Images: $HERE/cluster.sh load IMAGE... (pods: imagePullPolicy Never).
Stop it with: $HERE/cluster.sh down [--purge]
EOF
}

cmd_up() {
  require_root up
  check_settings
  local start=$SECONDS
  if [[ -x $CLUSTER_K8S_BIN/kubectl ]] && cluster_is_up; then
    log "up: the cluster is already up (checked in $(duration $((SECONDS - start))))"
    print_usage; return 0
  fi
  "$K8S/install-packages.sh" "${APT_PACKAGES[@]}"
  need curl openssl iptables ip6tables ip sysctl setsid /usr/bin/etcd /usr/bin/containerd ctr runc
  cmd_build
  mkdir -p "$CLUSTER_DIR" "$CLUSTER_RUN" "$CLUSTER_LOGS"; chmod 700 "$CLUSTER_DIR"
  record_host_state
  node_address
  make_pki
  guard          # before any pod exists
  start_etcd
  wait_component 30 etcd "etcd" curl -sf "http://127.0.0.1:$CLUSTER_ETCD_PORT/health"
  start_apiserver
  start_containerd  # starts while the apiserver does
  wait_component 30 containerd "containerd" ctr -a "$CLUSTER_CONTAINERD_SOCK" version
  import_images "$CLUSTER_PAUSE_IMAGE" "$CLUSTER_COREDNS_IMAGE" "$CLUSTER_LOCAL_PATH_IMAGE" "$CLUSTER_DEBIAN_IMAGE"
  wait_component 90 kube-apiserver "kube-apiserver" api_ready
  start_controllers
  write_cni_config
  write_kubelet_config
  start_kubelet
  start_kube_proxy
  wait_component 60 kube-controller-manager "kube-controller-manager" curl -skf https://127.0.0.1:10257/healthz
  wait_component 60 kube-scheduler "kube-scheduler" curl -skf https://127.0.0.1:10259/healthz
  wait_component 60 kubelet "kubelet" curl -sf http://127.0.0.1:10248/healthz
  wait_component 120 kubelet "node $CLUSTER_NODE_NAME Ready" node_ready
  wait_component 60 kube-proxy "kube-proxy's first sync" iptables -t nat -S KUBE-SERVICES
  apply_addons
  guard          # again: its jumps first in INPUT, FORWARD and OUTPUT, ahead of kube-proxy's
  log "up: cluster up in $(duration $((SECONDS - start)))"
  print_usage
}

# ------------------------------------------------------------------------------------------------ down

# Deletes every workload and pod through the API, so the kubelet stops them properly (CNI DEL, unmounts).
delete_workloads() {
  api_ready || { log "down: the API server does not answer: skipping the deletion of pods"; return 0; }
  local start=$SECONDS deadline=$((SECONDS + 90)) left
  kc delete deployments,statefulsets,daemonsets,replicasets,replicationcontrollers,jobs,cronjobs --all -A \
    --wait=false >/dev/null 2>&1 || true
  kc delete pods --all -A --wait=false >/dev/null 2>&1 || true
  while left=$(kc get pods -A --no-headers 2>/dev/null | wc -l) && (( left > 0 )); do
    if (( SECONDS >= deadline )); then
      log "down: $left pod(s) still there after 90s:"; kc get pods -A >&2 || true
      log "last lines of $CLUSTER_LOGS/kubelet.log:"; tail -n 15 "$CLUSTER_LOGS/kubelet.log" >&2
      break
    fi
    # controllers that were running may have made new pods meanwhile; after 60s stop waiting for grace
    if (( SECONDS - start >= 60 )); then kc delete pods --all -A --force --grace-period=0 >/dev/null 2>&1 || true
    else kc delete pods --all -A --wait=false >/dev/null 2>&1 || true; fi
    sleep 2
  done
  log "down: workloads and pods deleted ($(duration $((SECONDS - start))))"
}

# Tasks and containers left in the node's containerd (pods the kubelet did not stop), and their shims.
kill_leftover_tasks() {
  [[ -S $CLUSTER_CONTAINERD_SOCK ]] && running_pid containerd >/dev/null || return 0
  local id
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do ctr_k8s containers delete "$id" >/dev/null 2>&1 || true; done
}

kill_leftover_shims() {
  local file pid
  for file in "$CLUSTER_CONTAINERD_STATE"/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [[ -f $file ]] || continue
    pid=$(<"$file")
    if [[ $pid =~ ^[0-9]+$ && $(cmdline_of "$pid") == *"$CLUSTER_CONTAINERD_SOCK"* ]]; then
      stop_pid "$pid" "containerd shim" 10
    fi
  done
}

# remove_chains <iptables|ip6tables> <table>: rules jumping to KUBE-*, CNI-* and the guard's chains, then
# those chains. Nothing else.
remove_chains() {
  local ipt=$1 table=$2 ours="KUBE-|CNI-|$CLUSTER_GUARD_PREFIX" rules rule chain chains jumps
  rules=$("$ipt" -t "$table" -S 2>/dev/null) || return 0
  jumps=$(grep -E -- "^-A .* -[jg] ($ours)" <<<"$rules" | grep -Ev -- "^-A ($ours)" | sed 's/^-A /-D /' || true)
  while IFS= read -r rule; do
    [[ -n $rule ]] || continue
    xargs "$ipt" -t "$table" <<<"$rule" || log "down: could not delete: $ipt -t $table $rule"
  done <<<"$jumps"
  chains=$(awk -v re="^($ours)" '$1 == "-N" && $2 ~ re {print $2}' <<<"$rules")
  while read -r chain; do if [[ -n $chain ]]; then "$ipt" -t "$table" -F "$chain"; fi; done <<<"$chains"
  while read -r chain; do if [[ -n $chain ]]; then "$ipt" -t "$table" -X "$chain"; fi; done <<<"$chains"
}

# nftables tables that iptables-nft made for the cluster and that are empty again (nothing else in them).
remove_empty_tables() {
  command -v nft >/dev/null && [[ -f $HOST_STATE/nft-tables ]] || return 0
  local family name content
  while read -r _ family name; do
    grep -qx "table $family $name" "$HOST_STATE/nft-tables" && continue
    content=$(nft list table "$family" "$name")
    if grep -vqE '^[[:space:]]*(table |chain |type |}|$)' <<<"$content"; then
      log "down: nftables table $family $name is not empty: kept"
    else
      nft delete table "$family" "$name"
    fi
  done < <(nft list tables)
}

remove_network() {
  local link ns rules name
  for ns in "$CLUSTER_CONTAINERD_STATE"/io.containerd.grpc.v1.cri/netns/*; do
    [[ -e $ns ]] || continue
    umount "$ns" 2>/dev/null || true; rm -f "$ns"
  done
  for link in $(ip -o link show master "$CLUSTER_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$link" 2>/dev/null || true
  done
  if ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then ip link del "$CLUSTER_BRIDGE"; fi
  rm -rf "$CLUSTER_CNI_DATA/networks"       # host-local allocations: no pod exists any more
  if [[ -x $CLUSTER_K8S_BIN/kube-proxy ]]; then
    "$CLUSTER_K8S_BIN/kube-proxy" --cleanup >>"$CLUSTER_LOGS/kube-proxy.log" 2>&1 || true
  fi
  local ipt table
  for ipt in iptables ip6tables; do for table in filter nat mangle raw; do remove_chains "$ipt" "$table"; done; done
  remove_empty_tables
  if command -v nfacct >/dev/null && [[ -f $HOST_STATE/nfacct ]]; then
    for name in $(nfacct_names); do
      if [[ " ${NFACCT_COUNTERS[*]} " == *" $name "* ]] && ! grep -qx "$name" "$HOST_STATE/nfacct"; then
        nfacct delete "$name" || log "down: could not delete the nfacct object $name"
      fi
    done
  fi
  # connection tracking entries of the cluster's ranges
  for rules in "$CLUSTER_POD_CIDR" "$CLUSTER_SERVICE_CIDR"; do
    conntrack -D -s "$rules" >/dev/null 2>&1 || true; conntrack -D -d "$rules" >/dev/null 2>&1 || true
  done
  if has_node_address; then ip addr del "$CLUSTER_NODE_IP/32" dev lo; fi
}

remove_mounts() {
  local mount
  local mounts
  mounts=$(awk -v dir="$CLUSTER_DIR/" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r)
  while read -r mount; do
    [[ -n $mount ]] || continue
    umount "$mount" 2>/dev/null || umount -l "$mount" || log "down: could not unmount $mount"
  done <<<"$mounts"
}

# The kubelet's cgroups (kubepods and below, in every hierarchy), deepest first.
remove_cgroups() {
  local dir
  local cg2
  cg2=$(cgroup2_root)
  for dir in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods ${cg2:+"$cg2/$CLUSTER_CONTAINERD_CGROUP"}; do
    [[ -d $dir ]] || continue
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    if [[ -d $dir ]]; then log "down: could not remove cgroup $dir (processes left in it?)"; fi
  done
  return 0
}

# The kubelet's links in /var/log/containers to this cluster's container logs (it removes them with the
# containers; not when it was not there to do so).
remove_log_links() {
  local link
  for link in /var/log/containers/*.log; do
    [[ -L $link && $(readlink "$link") == "$CLUSTER_LOGS/pods/"* ]] && rm -f "$link"
  done
  return 0
}

restore_host() {
  [[ -d $HOST_STATE ]] || return 0
  local setting dir file id sandboxes=$CLUSTER_CONTAINERD_ROOT/io.containerd.grpc.v1.cri/sandboxes
  while IFS= read -r setting; do
    [[ $(sysctl -n "${setting%%=*}") == "${setting#*=}" ]] && continue
    sysctl -q -w "$setting" || log "down: could not restore $setting"
  done <"$HOST_STATE/sysctl"
  # the CNI library's result cache (<network>-<container id>-<interface>): this cluster's network, and the
  # loopback results of this containerd's sandboxes
  for file in /var/lib/cni/results/"$CLUSTER_CNI_NETWORK"-* /var/lib/cni/results/cni-loopback-*; do
    [[ -f $file ]] || continue
    id=${file##*/cni-loopback-}; id=${id%-lo}
    if [[ ${file##*/} == "$CLUSTER_CNI_NETWORK"-* || -d $sandboxes/$id ]]; then rm -f "$file"; fi
  done
  # the kubelet's device plugin socket (a fixed path), when the kubelet directory is the cluster's doing
  if grep -qx /var/lib/kubelet "$HOST_STATE/absent-dirs"; then rm -f /var/lib/kubelet/device-plugins/kubelet.sock; fi
  local kept=0
  while read -r dir; do
    [[ -d $dir ]] || continue
    if ! rmdir "$dir" 2>/dev/null; then log "down: $dir was made by the cluster but is not empty: kept"; kept=1; fi
  done < <(tac "$HOST_STATE/absent-dirs")
  # what was there before stays recorded until all of it is restored: another `down` retries
  if (( ! kept )); then rm -rf "$HOST_STATE"; fi
}

leftover_processes() {
  local dir pid cmdline found=0
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    cmdline=$(cmdline_of "$pid") || continue
    if [[ $cmdline == *"$CLUSTER_DIR/"* ]]; then
      log "down: process $pid still runs: ${cmdline:0:150}"; found=1
    fi
  done
  return $found
}

cmd_down() {
  require_root down
  check_settings
  local purge=0 start=$SECONDS
  case ${1:-} in --purge) purge=1 ;; "") ;; *) die "usage: $0 down [--purge]" ;; esac
  if [[ -d $CLUSTER_DIR ]]; then
    delete_workloads
    stop_component kube-proxy
    stop_component kubelet
    kill_leftover_tasks
    stop_component containerd
    kill_leftover_shims
    stop_component kube-scheduler
    stop_component kube-controller-manager
    stop_component kube-apiserver
    stop_component etcd
  fi
  remove_mounts
  remove_network
  remove_cgroups
  remove_log_links
  restore_host
  leftover_processes || log "down: processes of the cluster are still running (see above)"
  if (( purge )); then
    rm -rf "$CLUSTER_DIR"
    if [[ $CLUSTER_DIR == /var/lib/ctrbench/cluster ]]; then rmdir /var/lib/ctrbench 2>/dev/null || true; fi
    log "down: state removed ($CLUSTER_DIR); the build cache stays ($CLUSTER_CACHE)"
  fi
  log "down: done in $(duration $((SECONDS - start)))"
}

# ---------------------------------------------------------------------------------------------- status

cmd_status() {
  local name pid up=1 rss
  for name in "${COMPONENTS[@]}"; do
    if pid=$(running_pid "$name"); then
      rss=$(awk '/^VmRSS:/ {printf "%d MiB", $2 / 1024}' "/proc/$pid/status" 2>/dev/null)
      printf '%-24s running   pid %-8s %s\n' "$name" "$pid" "$rss"
    else
      printf '%-24s stopped\n' "$name"; up=0
    fi
  done
  if (( up )) && api_ready && node_ready; then
    printf '%-24s Ready\n' "node $CLUSTER_NODE_NAME"
    if addons_ready; then printf '%-24s available\n' "addons"; else printf '%-24s not available\n' "addons"; up=0; fi
  else
    printf '%-24s not ready\n' "node $CLUSTER_NODE_NAME"; up=0
  fi
  (( up ))
}

cmd_env() {
  printf 'export KUBECONFIG=%s\n' "$CLUSTER_KUBECONFIG"
  # shellcheck disable=SC2016 # $PATH is expanded by the shell that evaluates this
  printf 'export PATH="%s:%s:$PATH"\n' "$CLUSTER_K8S_BIN" "$(dirname "$CLUSTER_HELM")"
}

main() {
  local command=${1:-}
  shift || true
  case $command in
    deps) require_root deps; "$K8S/install-packages.sh" "${APT_PACKAGES[@]}" "${BUILD_PACKAGES[@]}" ;;
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down "$@" ;;
    load) require_root load; (( $# )) || die "usage: $0 load IMAGE..."
          running_pid containerd >/dev/null || die "load: the cluster is not up"
          import_images "$@" ;;
    status) cmd_status ;;
    kubeconfig) echo "$CLUSTER_KUBECONFIG" ;;
    env) cmd_env ;;
    kubectl) exec kubectl "$@" ;;
    *) sed -n '2,/^# Settings/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"; exit
