#!/usr/bin/env bash
# Print the host state a local cluster touches, stable and diffable: take one before `cluster.sh up` and one
# after `cluster.sh down`; they should be equal (`down --purge` for the state directory as well).
#   k8s/local/snapshot.sh >before
#   k8s/local/cluster.sh up; ...; k8s/local/cluster.sh down
#   k8s/local/snapshot.sh | diff before -
# Sections: iptables and ip6tables (every table, counters dropped), the nftables ruleset, nfacct objects,
# links, addresses, routes, network namespaces, mounts, top-level cgroups of every hierarchy, the kernel
# settings the kubelet and the CNI plugins change, host paths the components could create, and the
# cluster's processes (command lines without pids: whatever names the state directory or runs a binary from
# the build cache, anything in a kubepods cgroup, and the private dockerd of k8s/docker.sh). Needs root.
# SNAPSHOT_IGNORE_MOUNTS (an extended regex, default: Docker's own mounts) leaves out mounts that other
# programs make and remove meanwhile (image builds).
# shellcheck source=lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=local/env.sh
source "$(dirname "$0")/env.sh"
[[ $(id -u) == 0 ]] || die "snapshot.sh needs root (iptables, nft)"
IGNORE_MOUNTS=${SNAPSHOT_IGNORE_MOUNTS:-/docker/|/ctrbench-docker/|^/run/docker/}
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
         kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.route_localnet
         net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max
         net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait)
# Paths the components could create outside the state directory: whether they exist, and for those only
# the cluster's programs write to, their entries.
HOST_PATHS=(/etc/kubernetes /var/lib/kubelet /var/run/kubernetes /usr/libexec/kubernetes /var/lib/containerd
            /run/containerd /run/containerd/s /run/containerd/runc /var/lib/etcd/default /run/flannel)
LISTED_PATHS=(/etc/cni /opt/cni /var/lib/cni /var/log/pods /var/log/containers /run/netns)

section() { printf '## %s\n' "$1"; }
no_counters() { sed -E -e '/^#/d' -e 's/\[[0-9]+:[0-9]+\]/[-]/g' -e 's/counter packets [0-9]+ bytes [0-9]+/counter/g'; }

section iptables; iptables-save 2>/dev/null | no_counters
section ip6tables; ip6tables-save 2>/dev/null | no_counters
section nftables
if command -v nft >/dev/null; then nft list ruleset 2>/dev/null | no_counters; else echo "(nft not installed)"; fi
section nfacct  # accounting objects (kube-proxy makes some), names only
if command -v nfacct >/dev/null; then nfacct list 2>/dev/null | sed -n 's/.* = \([^ ;]*\);$/\1/p' | sort
else echo "(nfacct not installed)"; fi
section links; ip -o link show | sed -E 's/\\ +/ /g'
section addresses; ip -o addr show | sed -E -e 's/\\ +/ /g' -e 's/ (valid|preferred)_lft [^ ]+//g'
section routes; ip -4 -o route show table all
section routes6; ip -6 -o route show table all | sed -E 's/ expires [0-9]+sec//'
section netns; ip netns list 2>/dev/null | sed -E 's/ \(id: [0-9]+\)//' | sort
section mounts; awk '{print $2, $3, $1, $4}' /proc/mounts | { grep -Ev -- "$IGNORE_MOUNTS" || true; } | sort
section cgroups; find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d 2>/dev/null | sort
section sysctl
for key in "${SYSCTLS[@]}"; do printf '%s = %s\n' "$key" "$(sysctl -n "$key" 2>/dev/null || echo '(absent)')"; done
section paths
for path in "${HOST_PATHS[@]}" "${LISTED_PATHS[@]}"; do
  if [[ -d $path ]]; then echo "$path: directory"
  elif [[ -e $path ]]; then echo "$path: exists"
  else echo "$path: absent"; fi
done
for path in "${LISTED_PATHS[@]}"; do if [[ -d $path ]]; then find "$path" -mindepth 1 -maxdepth 2; fi; done | sort
section processes
for dir in /proc/[0-9]*; do
  [[ ${dir#/proc/} == "$$" ]] && continue
  cmdline=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null) || continue
  [[ -n $cmdline ]] || continue
  exe=$(readlink "$dir/exe" 2>/dev/null || true)
  # ... and the private Docker daemon of k8s/docker.sh (and its containerd), which must be stopped too.
  if [[ $cmdline == *"$CLUSTER_DIR/"* || $exe == "$CLUSTER_CACHE/"* || $(cat "$dir/cgroup" 2>/dev/null) == *kubepods* \
        || $cmdline == *"/run/ctrbench-docker"* ]]
  then
    echo "$cmdline"
  fi
done | { grep -v -- "snapshot.sh" || true; } | sort
