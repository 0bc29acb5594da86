# shellcheck shell=bash
# The stand-in images: which official image each replaces, its tag here, and what it is built FROM.
# Sourced by build.sh and ../build-images.sh. Each name has its Dockerfile in k8s/standins/<name>/.

STANDIN_DEBIAN_IMAGE=${STANDIN_DEBIAN_IMAGE:-ctrbench-standin/debian:bookworm}

# Build order: every image comes after the ones it is built FROM.
# shellcheck disable=SC2034  # used by the scripts that source this file
STANDIN_ORDER=(python jre maven flink spark spark-operator kafka postgres prometheus pushgateway)

# name -> tag of the stand-in
# shellcheck disable=SC2034
declare -A STANDIN_TAG=(
  [python]=ctrbench-standin/python:3.11-slim-bookworm
  [jre]=ctrbench-standin/jre:17
  [maven]=ctrbench-standin/maven:3.9-eclipse-temurin-17
  [flink]=ctrbench-standin/flink:2.2.1-java17
  [spark]=ctrbench-standin/spark:4.1.1
  [spark-operator]=ctrbench-standin/spark-operator:2.4.0
  [kafka]=ctrbench-standin/kafka:4.1.1
  [postgres]=ctrbench-standin/postgres:16
  [prometheus]=ctrbench-standin/prometheus:v3
  [pushgateway]=ctrbench-standin/pushgateway:v1
)

# name -> the official image it stands in for
# shellcheck disable=SC2034
declare -A STANDIN_FOR=(
  [python]=python:3.11.11-slim-bookworm
  [jre]=eclipse-temurin:17-jre
  [maven]=maven:3.9.9-eclipse-temurin-17
  [flink]=flink:2.2.1-java17
  [spark]=apache/spark:4.1.1-scala2.13-java17-python3-ubuntu
  [spark-operator]=ghcr.io/kubeflow/spark-operator/controller:2.4.0
  [kafka]=apache/kafka:4.1.1
  [postgres]=postgres:16.4
  [prometheus]=prom/prometheus
  [pushgateway]=prom/pushgateway
)

# name -> the stand-ins it is built FROM (besides the debian base), as NAME=BUILD_ARG pairs
# shellcheck disable=SC2034
declare -A STANDIN_DEPS=(
  [python]=""
  [jre]=""
  [maven]="jre=JRE_IMAGE"
  [flink]="python=PYTHON_IMAGE jre=JRE_IMAGE"
  [spark]="python=PYTHON_IMAGE jre=JRE_IMAGE"
  [spark-operator]="spark=SPARK_IMAGE"
  [kafka]="jre=JRE_IMAGE"
  [postgres]=""
  [prometheus]=""
  [pushgateway]=""
)
