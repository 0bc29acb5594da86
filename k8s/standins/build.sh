#!/usr/bin/env bash
# Builds the stand-in base images (k8s/standins/<name>/, tags in images.sh) on this machine, which cannot
# pull from a container registry: each is made from Debian packages, PyPI or Maven Central and keeps the
# contract of the official image it replaces (see the header of each Dockerfile).
#
#   k8s/standins/build.sh [--force] [NAME...]     NAME: python jre maven flink spark spark-operator kafka
#                                                 postgres prometheus pushgateway (default: all); the images
#                                                 a NAME is built FROM are built first
#
# Cached: an image whose inputs are unchanged is skipped. The inputs are the files of its directory,
# the images it is built FROM and, for kafka, the broker jars; their hash is stored in the image's label
# ctrbench.standin.inputs. --force rebuilds anyway. Builds run with `docker build --network=host` at
# low priority. Starts a private dockerd if none answers (k8s/docker.sh; it is left running).
# shellcheck source=lib.sh
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
K8S=$(dirname "$HERE")
ROOT=$(dirname "$K8S")
# shellcheck source=standins/images.sh
source "$(dirname "$0")/images.sh"
need docker sha256sum find xargs

LABEL=ctrbench.standin.inputs

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

force=false
names=()
while (($#)); do
  case $1 in
    --force) force=true ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [[ -n ${STANDIN_TAG[$1]:-} ]] || die "unknown stand-in '$1' (known: ${STANDIN_ORDER[*]})"
       names+=("$1") ;;
  esac
  shift
done
((${#names[@]})) || names=("${STANDIN_ORDER[@]}")

# The requested images and everything they are built FROM.
declare -A wanted=()
want() {
  local dep
  wanted[$1]=1
  for dep in ${STANDIN_DEPS[$1]}; do want "${dep%%=*}"; done
}
for name in "${names[@]}"; do want "$name"; done

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() { docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

# The broker jars of the project's embedded Kafka (same POM), resolved once into the ctrbench cache.
kafka_jars_dir() {
  local python=$ROOT/.venv/bin/python
  if [[ -x $python ]]; then
    "$python" -c 'from ctrbench.embedded import jars; print(jars.resolve("kafka-broker"))'
  else
    need python3 mvn
    PYTHONPATH=$ROOT/services python3 -c 'from ctrbench.embedded import jars; print(jars.resolve("kafka-broker"))'
  fi
}

# Prometheus built from the Go module proxy (Debian's package leaves out Kubernetes service discovery, which a
# Prometheus in a cluster needs), once, into the ctrbench cache. Prints the binary's path.
PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-v0.316.0}  # Prometheus 3.16.0
prometheus_binary() {
  local dir=${CTRBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrbench}/prometheus-$PROMETHEUS_MODULE_VERSION
  local minor=${PROMETHEUS_MODULE_VERSION#v0.}  # module v0.316.0 is Prometheus 3.16.0
  minor=${minor%%.*}
  local version=$((minor / 100)).$((minor % 100)).${PROMETHEUS_MODULE_VERSION##*.}
  if [[ ! -x $dir/prometheus ]]; then
    need go
    log "prometheus $version: go install from the module proxy (first run only, about 4 minutes)" >&2
    mkdir -p "$dir"
    CGO_ENABLED=0 GOBIN=$dir nice -n 10 go install -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=$version" \
      "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" >&2 \
      || die "go install of prometheus $PROMETHEUS_MODULE_VERSION failed"
  fi
  echo "$dir/prometheus"
}

# The Kubeflow Spark Operator's controller built from its Go module, once, into the ctrbench cache. Its go.mod has
# replace directives, so `go install module@version` refuses; it is built inside the downloaded module instead.
spark_operator_binary() {
  local dir=${CTRBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrbench}/spark-operator-$SPARK_OPERATOR_VERSION
  local module
  if [[ ! -x $dir/spark-operator ]]; then
    need go
    log "spark-operator $SPARK_OPERATOR_VERSION: go build from the module proxy (first run only, about 2 minutes)" >&2
    module=$(spark_operator_module) || die "could not download the Spark operator's module"
    mkdir -p "$dir"
    (cd "$module" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$dir/spark-operator.partial" \
      ./cmd/operator) >&2 || die "go build of the spark-operator $SPARK_OPERATOR_VERSION failed"
    mv "$dir/spark-operator.partial" "$dir/spark-operator"
  fi
  echo "$dir/spark-operator"
}

TEMP_CONTEXT=
cleanup() { if [[ -n $TEMP_CONTEXT ]]; then rm -rf "$TEMP_CONTEXT"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# set_context <name>: CONTEXT = the directory to build from (kafka: a temporary copy with the jars in libs/)
set_context() {
  local name=$1 jars binary
  if [[ $name == spark-operator ]]; then
    binary=$(spark_operator_binary)
    TEMP_CONTEXT=$(mktemp -d /tmp/ctrbench-standin-spark-operator.XXXXXX)
    cp -a "$HERE/spark-operator/." "$TEMP_CONTEXT/"
    cp "$binary" "$TEMP_CONTEXT/spark-operator"
    CONTEXT=$TEMP_CONTEXT
    return
  fi
  if [[ $name == prometheus ]]; then
    binary=$(prometheus_binary)
    TEMP_CONTEXT=$(mktemp -d /tmp/ctrbench-standin-prometheus.XXXXXX)
    cp -a "$HERE/prometheus/." "$TEMP_CONTEXT/"
    cp "$binary" "$TEMP_CONTEXT/prometheus"
    CONTEXT=$TEMP_CONTEXT
    return
  fi
  if [[ $name != kafka ]]; then
    CONTEXT=$HERE/$name
    return
  fi
  jars=$(kafka_jars_dir) || die "could not resolve the Kafka broker jars (services/ctrbench/embedded/poms/kafka-broker.xml)"
  TEMP_CONTEXT=$(mktemp -d /tmp/ctrbench-standin-kafka.XXXXXX)
  cp -a "$HERE/kafka/." "$TEMP_CONTEXT/"
  mkdir "$TEMP_CONTEXT/libs"
  cp "$jars"/*.jar "$TEMP_CONTEXT/libs/"
  CONTEXT=$TEMP_CONTEXT
}

# inputs_hash <name> <context>: every file of the build context (path, mode, content) and the ids of
# the images it is built FROM.
inputs_hash() {
  local name=$1 ctx=$2 dep
  {
    echo "tag ${STANDIN_TAG[$name]}"
    echo "from $STANDIN_DEBIAN_IMAGE $(image_id "$STANDIN_DEBIAN_IMAGE")"
    for dep in ${STANDIN_DEPS[$name]}; do
      echo "from ${dep%%=*} $(image_id "${STANDIN_TAG[${dep%%=*}]}")"
    done
    (
      cd "$ctx" || exit 1
      find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r stat -c '%n %a'
      find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    )
  } | sha256sum | cut -d' ' -f1
}

# build <name>
build() {
  local name=$1 tag=${STANDIN_TAG[$1]} ctx hash old_id started dep logfile
  set_context "$name"
  ctx=$CONTEXT
  hash=$(inputs_hash "$name" "$ctx")
  old_id=$(image_id "$tag")
  if [[ $force == false && -n $old_id && $(image_label "$tag") == "$hash" ]]; then
    log "stand-in $tag: up to date"
    cleanup
    TEMP_CONTEXT=
    return
  fi
  local -a args=(--network=host -t "$tag" --label "$LABEL=$hash" --label "ctrbench.standin.for=${STANDIN_FOR[$name]}")
  if grep -q '^ARG BASE_IMAGE' "$ctx/Dockerfile"; then args+=(--build-arg "BASE_IMAGE=$STANDIN_DEBIAN_IMAGE"); fi
  for dep in ${STANDIN_DEPS[$name]}; do
    args+=(--build-arg "${dep#*=}=${STANDIN_TAG[${dep%%=*}]}")
  done
  log "stand-in $tag: building (for ${STANDIN_FOR[$name]})"
  started=$SECONDS
  logfile=$(mktemp /tmp/ctrbench-standin-build.XXXXXX)
  if ! nice -n 10 docker build "${args[@]}" "$ctx" >"$logfile" 2>&1; then
    tail -30 "$logfile" >&2
    rm -f "$logfile"
    die "building $tag failed (the end of its log is above)"
  fi
  rm -f "$logfile"
  cleanup  # this image's temporary build context (kafka, prometheus); the next build makes its own
  TEMP_CONTEXT=
  # The replaced image only takes space, unless something still uses it (then docker keeps it).
  if [[ -n $old_id && $old_id != "$(image_id "$tag")" ]] \
     && [[ -z $(docker image inspect -f '{{join .RepoTags " "}}' "$old_id" 2>/dev/null) ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  log "stand-in $tag: built in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
}

eval "$("$K8S/docker.sh" start)"
total_start=$SECONDS
"$HERE/debian.sh"
for name in "${STANDIN_ORDER[@]}"; do
  if [[ -n ${wanted[$name]:-} ]]; then build "$name"; fi
done
log "stand-ins ready in $((SECONDS - total_start)) s"
