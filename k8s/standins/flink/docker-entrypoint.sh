#!/usr/bin/env bash
# Entrypoint of the flink:2.2.1-java17 stand-in. Written for ctrbench to the contract of the official
# image's /docker-entrypoint.sh (apache/flink-docker):
#
#   jobmanager [args]        session JobManager in the foreground
#   standalone-job [args]    application JobManager in the foreground: --job-classname CLASS [job args];
#                            a Python job: --job-classname org.apache.flink.client.python.PythonDriver
#                            -py FILE [job args] (the image needs Python for that, as the official one does)
#   taskmanager [args]       TaskManager in the foreground
#   history-server [args]    HistoryServer in the foreground
#   sql-gateway [args]       SQL Gateway in the foreground
#   help                     this text
#   anything else            run as given, e.g. what Flink's native Kubernetes mode passes:
#                            bash -c "kubernetes-jobmanager.sh kubernetes-application ..."
#
# Before any command, as the official image does, the configuration gets jobmanager.rpc.address
# ($JOB_MANAGER_RPC_ADDRESS, default `hostname -f`), blob.server.port 6124, query.server.port 6125,
# taskmanager.numberOfTaskSlots ($TASK_MANAGER_NUMBER_OF_TASK_SLOTS, if set) and then every
# "key: value" line of $FLINK_PROPERTIES (values go through envsubst), written into config.yaml with
# Flink's own bin/config-parser-utils.sh. $ENABLE_BUILT_IN_PLUGINS (";"-separated jars of opt/) are
# linked into plugins/. jemalloc is preloaded unless DISABLE_JEMALLOC=true. Started as root, the
# command runs as user flink (9999).
#
# Where this differs from the official script:
# - A read-only conf directory (a ConfigMap): for the commands above, it is copied to a writable
#   directory and FLINK_CONF_DIR points there, so FLINK_PROPERTIES still apply. A pass-through command
#   gets it unchanged (native Kubernetes mode mounts Flink's own effective configuration; the official
#   script's write fails there and changes nothing either).
# - FLINK_PROPERTIES lines are trimmed, not stripped of every blank, so values may contain spaces
#   (e.g. JVM options: config-parser-utils.sh cannot pass those, so they are appended as quoted flat
#   keys); blank lines and lines starting with "#" are skipped.
# - A configuration that cannot be written stops the Flink commands instead of being ignored.
# - Privileges are dropped with setpriv (util-linux) instead of gosu.
set -uo pipefail

FLINK_HOME=${FLINK_HOME:-/opt/flink}
export FLINK_HOME
FLINK_CONF_DIR=${FLINK_CONF_DIR:-$FLINK_HOME/conf}
FLINK_COMMANDS=" jobmanager standalone-job taskmanager history-server sql-gateway "

note() { printf '%s\n' "$*" >&2; }

usage() {
  sed -n '5,14p' "$0" | sed 's/^# \{0,1\}//'
}

# exec the command, as user flink when running as root
run() {
  if [[ $(id -u) == 0 ]]; then
    export HOME=$FLINK_HOME
    exec setpriv --reuid=flink --regid=flink --init-groups -- "$@"
  fi
  exec "$@"
}

maybe_enable_jemalloc() {
  [[ ${DISABLE_JEMALLOC:-false} == false ]] || return 0
  local lib
  for lib in "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so" "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2"; do
    if [[ -f $lib ]]; then
      export LD_PRELOAD=${LD_PRELOAD:+$LD_PRELOAD:}$lib
      return 0
    fi
  done
  note "WARNING: jemalloc not found; glibc malloc is used."
}

copy_plugins_if_required() {
  [[ -n ${ENABLE_BUILT_IN_PLUGINS:-} ]] || return 0
  local plugin name
  note "Enabling required built-in plugins"
  for plugin in ${ENABLE_BUILT_IN_PLUGINS//;/ }; do
    name=${plugin%.jar}
    if [[ ! -e $FLINK_HOME/opt/$plugin ]]; then
      note "Plugin $plugin does not exist. Exiting."
      exit 1
    fi
    mkdir -p "$FLINK_HOME/plugins/$name"
    ln -fs "$FLINK_HOME/opt/$plugin" "$FLINK_HOME/plugins/$name"
    note "Successfully enabled $plugin"
  done
}

# Point FLINK_CONF_DIR at a writable copy of the configuration.
writable_conf_copy() {
  local copy
  copy=$(mktemp -d /tmp/flink-conf.XXXXXX) || return 1
  cp -L "$FLINK_CONF_DIR"/* "$copy"/ || return 1
  chmod 755 "$copy"
  if [[ $(id -u) == 0 ]]; then chown -R flink:flink "$copy"; fi
  note "conf directory $FLINK_CONF_DIR is read-only; using a writable copy in $copy"
  FLINK_CONF_DIR=$copy
}

# prepare_configuration <is-a-flink-command: yes|no>
prepare_configuration() {
  local flink_command=$1 line key value
  if [[ ! -w $FLINK_CONF_DIR || ! -w $FLINK_CONF_DIR/config.yaml ]]; then
    if [[ $flink_command == no ]]; then
      note "conf directory $FLINK_CONF_DIR is read-only: configuration left as it is"
      return 0
    fi
    writable_conf_copy || { note "ERROR: cannot copy $FLINK_CONF_DIR to a writable place"; exit 1; }
  fi
  export FLINK_CONF_DIR
  local -a params=(
    "-Djobmanager.rpc.address=${JOB_MANAGER_RPC_ADDRESS:-$(hostname -f 2>/dev/null || hostname)}"
    "-Dblob.server.port=6124"
    "-Dquery.server.port=6125"
  )
  # config-parser-utils.sh hands its arguments on unquoted: a value with blanks or glob characters would
  # be split or expanded. Such keys are removed there and appended as quoted flat keys afterwards.
  local -a verbatim=()
  if [[ -n ${TASK_MANAGER_NUMBER_OF_TASK_SLOTS:-} ]]; then
    params+=("-Dtaskmanager.numberOfTaskSlots=$TASK_MANAGER_NUMBER_OF_TASK_SLOTS")
  fi
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    [[ -z $line || $line == "#"* ]] && continue
    key=${line%%:*}
    value=${line#*:}
    [[ $line == *:* ]] || value=
    key=${key%"${key##*[![:space:]]}"}
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    value=$(printf '%s' "$value" | envsubst)
    if [[ $value == *[[:space:]*?[]* ]]; then
      params+=(-rmKey "$key")
      verbatim+=("$key: '${value//\'/\'\'}'")
    else
      params+=("-D$key=$value")
    fi
  done <<<"${FLINK_PROPERTIES:-}"

  local out
  if ! out=$("$FLINK_HOME/bin/config-parser-utils.sh" "$FLINK_CONF_DIR" "$FLINK_HOME/bin" "$FLINK_HOME/lib" "${params[@]}" 2>&1); then
    note "$out"
    if [[ $flink_command == yes ]]; then
      note "ERROR: could not write the configuration to $FLINK_CONF_DIR/config.yaml"
      exit 1
    fi
    note "WARNING: could not write the configuration to $FLINK_CONF_DIR/config.yaml"
    return 0
  fi
  if (( ${#verbatim[@]} )); then
    printf '%s\n' "${verbatim[@]}" >>"$FLINK_CONF_DIR/config.yaml"
  fi
}

command=${1:-help}
if [[ $FLINK_COMMANDS == *" $command "* ]]; then is_flink_command=yes; else is_flink_command=no; fi

if [[ $command == help ]]; then
  usage
  exit 0
fi

maybe_enable_jemalloc
copy_plugins_if_required
prepare_configuration "$is_flink_command"

case $command in
  jobmanager)
    shift; note "Starting Job Manager"
    run "$FLINK_HOME/bin/jobmanager.sh" start-foreground "$@" ;;
  standalone-job)
    shift; note "Starting Job Manager"
    run "$FLINK_HOME/bin/standalone-job.sh" start-foreground "$@" ;;
  history-server)
    shift; note "Starting History Server"
    run "$FLINK_HOME/bin/historyserver.sh" start-foreground "$@" ;;
  sql-gateway)
    shift; note "Starting Sql Gateway"
    run "$FLINK_HOME/bin/sql-gateway.sh" start-foreground "$@" ;;
  taskmanager)
    shift; note "Starting Task Manager"
    run "$FLINK_HOME/bin/taskmanager.sh" start-foreground "$@" ;;
  *)
    # pass-through mode
    run "$@" ;;
esac
