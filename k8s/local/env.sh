# shellcheck shell=bash
# Settings of the local single-node cluster (k8s/local/cluster.sh). Source it; every value can be
# overridden from the environment. Two places on disk:
#   CLUSTER_CACHE  built binaries (kept by `down --purge`), under the ctrbench cache
#   CLUSTER_DIR    everything a running cluster has: pki, configs, logs, pid files, etcd data,
#                  containerd root and state (sockets, network namespaces), kubelet root, CNI config
#                  and IPAM data, local-path volumes (removed by `down --purge`)
# The addresses exist only on this machine: the node address is a /32 on lo, pods live on their own
# bridge, and services are virtual (kube-proxy's iptables rules).

# Versions. Kubernetes 1.33: the last kubelet that still runs on cgroup v1 (failCgroupV1: false).
: "${CLUSTER_K8S_VERSION:=v1.33.13}"
: "${CLUSTER_COREDNS_VERSION:=v1.12.4}"
: "${CLUSTER_LOCAL_PATH_VERSION:=v0.0.30}"
: "${CLUSTER_PAUSE_VERSION:=3.10}"

# Built binaries, one directory per component and version, so a version change builds anew.
: "${CLUSTER_CACHE:=${CTRBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrbench}/k8s}"
: "${CLUSTER_K8S_BIN:=$CLUSTER_CACHE/kubernetes-$CLUSTER_K8S_VERSION/bin}"
: "${CLUSTER_COREDNS_BIN:=$CLUSTER_CACHE/coredns-$CLUSTER_COREDNS_VERSION/coredns}"
: "${CLUSTER_LOCAL_PATH_BIN:=$CLUSTER_CACHE/local-path-provisioner-$CLUSTER_LOCAL_PATH_VERSION/local-path-provisioner}"
: "${CLUSTER_PAUSE_BIN:=$CLUSTER_CACHE/pause-$CLUSTER_PAUSE_VERSION/pause}"
# helm is built elsewhere (the Makefile's `helm` target); only its path is known here.
: "${CLUSTER_HELM:=${CTRBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrbench}/bin/helm}"

# Images built with Docker and imported into the node's containerd (nothing is ever pulled).
: "${CLUSTER_PAUSE_IMAGE:=ctrbench-local/pause:$CLUSTER_PAUSE_VERSION}"
: "${CLUSTER_COREDNS_IMAGE:=ctrbench-local/coredns:${CLUSTER_COREDNS_VERSION#v}}"
: "${CLUSTER_LOCAL_PATH_IMAGE:=ctrbench-local/local-path-provisioner:$CLUSTER_LOCAL_PATH_VERSION}"
# The image with a shell: the provisioner's base and its helper pods (k8s/standins/debian.sh makes it).
: "${CLUSTER_DEBIAN_IMAGE:=${STANDIN_DEBIAN_IMAGE:-ctrbench-standin/debian:bookworm}}"

# The running cluster's state: one directory.
: "${CLUSTER_DIR:=${CTRBENCH_CLUSTER_DIR:-/var/lib/ctrbench/cluster}}"
: "${CLUSTER_PKI:=$CLUSTER_DIR/pki}"
: "${CLUSTER_ETC:=$CLUSTER_DIR/etc}"
: "${CLUSTER_LOGS:=$CLUSTER_DIR/logs}"
: "${CLUSTER_RUN:=$CLUSTER_DIR/run}"
: "${CLUSTER_ETCD_DATA:=$CLUSTER_DIR/etcd}"
: "${CLUSTER_CONTAINERD_ROOT:=$CLUSTER_DIR/containerd/root}"
: "${CLUSTER_CONTAINERD_STATE:=$CLUSTER_DIR/containerd/state}"
: "${CLUSTER_CONTAINERD_SOCK:=$CLUSTER_CONTAINERD_STATE/containerd.sock}"
: "${CLUSTER_KUBELET_DIR:=$CLUSTER_DIR/kubelet}"
: "${CLUSTER_CNI_CONF_DIR:=$CLUSTER_ETC/cni}"
: "${CLUSTER_CNI_DATA:=$CLUSTER_DIR/cni}"
: "${CLUSTER_VOLUMES:=$CLUSTER_DIR/volumes}"
: "${CLUSTER_KUBECONFIG:=$CLUSTER_ETC/admin.kubeconfig}"

# The node and its networks.
: "${CLUSTER_NODE_NAME:=ctrbench-node}"
: "${CLUSTER_NODE_IP:=10.201.0.1}"              # a /32 on lo
: "${CLUSTER_NODE_POD_CIDR:=10.244.0.0/24}"     # this node's pods (CNI host-local range)
: "${CLUSTER_POD_CIDR:=10.244.0.0/16}"          # the cluster's pod range (kube-proxy, the guard)
: "${CLUSTER_SERVICE_CIDR:=10.96.0.0/16}"
: "${CLUSTER_API_SERVICE_IP:=10.96.0.1}"        # the first address of the service range
: "${CLUSTER_DNS_IP:=10.96.0.10}"
: "${CLUSTER_DOMAIN:=cluster.local}"
: "${CLUSTER_BRIDGE:=ctrb0}"
: "${CLUSTER_CNI_NETWORK:=ctrbench}"
: "${CLUSTER_API_PORT:=6443}"
: "${CLUSTER_ETCD_PORT:=2379}"                  # on 127.0.0.1; the peer port is the next one
# Where every registry host points: a loopback port nothing listens on, so a pull fails at once.
: "${CLUSTER_CLOSED_REGISTRY:=127.0.0.1:1}"
# The iptables chains of the guard carry this prefix (down removes exactly these, KUBE-* and CNI-*).
: "${CLUSTER_GUARD_PREFIX:=CTRB-}"
# containerd runs in this cgroup (cgroup v2 hierarchy): the guard lets its traffic reach loopback only.
: "${CLUSTER_CONTAINERD_CGROUP:=ctrbench-containerd}"

export CLUSTER_K8S_VERSION CLUSTER_COREDNS_VERSION CLUSTER_LOCAL_PATH_VERSION CLUSTER_PAUSE_VERSION \
  CLUSTER_CACHE CLUSTER_K8S_BIN CLUSTER_COREDNS_BIN CLUSTER_LOCAL_PATH_BIN CLUSTER_PAUSE_BIN CLUSTER_HELM \
  CLUSTER_PAUSE_IMAGE CLUSTER_COREDNS_IMAGE CLUSTER_LOCAL_PATH_IMAGE CLUSTER_DEBIAN_IMAGE \
  CLUSTER_DIR CLUSTER_PKI CLUSTER_ETC CLUSTER_LOGS CLUSTER_RUN CLUSTER_ETCD_DATA CLUSTER_CONTAINERD_ROOT \
  CLUSTER_CONTAINERD_STATE CLUSTER_CONTAINERD_SOCK CLUSTER_KUBELET_DIR CLUSTER_CNI_CONF_DIR CLUSTER_CNI_DATA \
  CLUSTER_VOLUMES CLUSTER_KUBECONFIG CLUSTER_NODE_NAME CLUSTER_NODE_IP CLUSTER_NODE_POD_CIDR CLUSTER_POD_CIDR \
  CLUSTER_SERVICE_CIDR CLUSTER_API_SERVICE_IP CLUSTER_DNS_IP CLUSTER_DOMAIN CLUSTER_BRIDGE CLUSTER_CNI_NETWORK \
  CLUSTER_API_PORT CLUSTER_ETCD_PORT CLUSTER_CLOSED_REGISTRY CLUSTER_GUARD_PREFIX CLUSTER_CONTAINERD_CGROUP
