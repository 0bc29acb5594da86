#!/usr/bin/env bash
# Builds the project's images from the repository root:
#   ctrbench/producer:TAG   Dockerfile.producer (producers, latency report, setup)
#   ctrbench/flink:TAG      Dockerfile.flink (Flink 2.2.1 + PyFlink + connectors + the CTR job)
#   ctrbench/spark:TAG      Dockerfile.spark (Spark 4.1.1 + its Kafka connector + the CTR job), with --spark
#
#   k8s/build-images.sh [--standins] [--spark] [--tag TAG]
#
#   --tag TAG     image tag (default: appVersion of helm/Chart.yaml, the tag the chart uses by default)
#   --spark       also the Spark image (engine=spark)
#   --standins    for machines that cannot pull from a registry: build the stand-in base images first
#                 (k8s/standins/build.sh, cached) and build FROM them instead of the official images
#                 (python:3.11.11-slim-bookworm, flink:2.2.1-java17, maven:3.9.9-eclipse-temurin-17,
#                 apache/spark:4.1.1-...), with --network=host so the builds download from PyPI, Debian and
#                 Maven Central.
# Starts a private dockerd if none answers (k8s/docker.sh; it is left running). Builds run at low priority.
source "$(dirname "$0")/lib.sh"
K8S=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$K8S")
# shellcheck source=standins/images.sh
source "$K8S/standins/images.sh"
need docker

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

standins=false
spark=false
tag=
while (($#)); do
  case $1 in
    --standins) standins=true ;;
    --spark) spark=true ;;
    --tag) (($# >= 2)) || die "--tag needs a value"; tag=$2; shift ;;
    --tag=*) tag=${1#--tag=} ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
  shift
done
if [[ -z $tag ]]; then
  tag=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*/\1/p' "$ROOT/helm/Chart.yaml")
  [[ -n $tag ]] || die "no appVersion in helm/Chart.yaml; pass --tag"
fi

eval "$("$K8S/docker.sh" start)"
total_start=$SECONDS

network=()
bases=()   # NAME=IMAGE for the Dockerfiles' base-image arguments; empty: their defaults
if [[ $standins == true ]]; then
  # The bases of the images built here, and what a deployment of them needs besides (kafka, postgres, and the
  # monitoring of k8s/e2e.sh); the Spark operator's image is built by k8s/install-spark-operator.sh.
  wanted=(python jre maven flink kafka postgres prometheus pushgateway)
  [[ $spark == true ]] && wanted+=(spark)
  "$K8S/standins/build.sh" "${wanted[@]}"
  network=(--network=host)
  bases=("PYTHON_IMAGE=${STANDIN_TAG[python]}" "FLINK_IMAGE=${STANDIN_TAG[flink]}" "MAVEN_IMAGE=${STANDIN_TAG[maven]}"
         "SPARK_IMAGE=${STANDIN_TAG[spark]}")
fi

# docker_build <what> <logfile> <docker build arguments...>: one build at low priority, its output in logfile; on failure
# the end of that log and an error naming <what>
docker_build() {
  local what=$1 logfile=$2
  shift 2
  if ! (cd "$ROOT" && nice -n 10 docker build "$@" .) </dev/null >>"$logfile" 2>&1; then
    tail -40 "$logfile" >&2
    rm -f "$logfile"
    die "building $what failed (the end of its log is above)"
  fi
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# retire <image id> <tag>: the image that <tag> named before a rebuild, now untagged, and its layers that no other
# image shares. Every source change makes new images; without this the build cache grows by ~4 GB per build until the
# disk is full. Kept when a container or another tag still uses it.
retire() {
  local old=$1 tag=$2
  [[ -n $old && $old != "$(image_id "$tag")" ]] || return 0
  docker image rm "$old" >/dev/null 2>&1 || true
}

# build_image <dockerfile> <image>: the image and, tagged <image>-<stage>, each named stage it is built from, so that a
# superseded stage is retired like the image (an untagged stage would stay behind as a dangling image)
build_image() {
  local dockerfile=$1 image=$2 started logfile base stage stage_tag old
  local -a build_args=("${network[@]}")
  for base in "${bases[@]}"; do
    # only the arguments this Dockerfile declares (docker warns about the others)
    if grep -q "^ARG ${base%%=*}=" "$ROOT/$dockerfile"; then build_args+=(--build-arg "$base"); fi
  done
  if ((${#bases[@]})); then
    log "$image: building from $dockerfile on the stand-in base images"
  else
    log "$image: building from $dockerfile"
  fi
  started=$SECONDS
  logfile=$(mktemp /tmp/ctrbench-image-build.XXXXXX)
  while read -r stage; do
    stage_tag="${image%:*}-$stage:${image##*:}"
    old=$(image_id "$stage_tag")
    docker_build "stage $stage of $image" "$logfile" "${build_args[@]}" -f "$dockerfile" --target "$stage" -t "$stage_tag"
    retire "$old" "$stage_tag"
  done < <(sed -n 's/^FROM[[:space:]].*[[:space:]][Aa][Ss][[:space:]]\{1,\}\([A-Za-z0-9_.-]*\).*/\1/p' "$ROOT/$dockerfile")
  old=$(image_id "$image")
  docker_build "$image" "$logfile" "${build_args[@]}" -f "$dockerfile" -t "$image"
  rm -f "$logfile"
  retire "$old" "$image"
  log "$image: built in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

build_image Dockerfile.producer "ctrbench/producer:$tag"
build_image Dockerfile.flink "ctrbench/flink:$tag"
built="ctrbench/producer:$tag and ctrbench/flink:$tag"
if [[ $spark == true ]]; then
  build_image Dockerfile.spark "ctrbench/spark:$tag"
  built="ctrbench/producer:$tag, ctrbench/flink:$tag and ctrbench/spark:$tag"
fi
log "images $built ready in $((SECONDS - total_start)) s"
