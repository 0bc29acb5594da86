#!/usr/bin/env bash
# Entrypoint of the postgres stand-in, written for ctrbench to the contract of the official image's
# docker-entrypoint.sh:
#   docker-entrypoint.sh postgres [server options]    (options alone imply `postgres`)
# On the first start (no $PGDATA/PG_VERSION) it runs initdb with POSTGRES_USER (default postgres) as the
# superuser and POSTGRES_PASSWORD as its password (required unless POSTGRES_HOST_AUTH_METHOD=trust),
# plus POSTGRES_INITDB_ARGS and POSTGRES_INITDB_WALDIR; lets remote hosts in with
# POSTGRES_HOST_AUTH_METHOD (default: the server's password_encryption, scram-sha-256), local and loopback
# connections keep initdb's defaults; creates POSTGRES_DB (default: the user's name) and runs
# /docker-entrypoint-initdb.d/* (*.sh, *.sql, *.sql.gz, *.sql.xz, *.sql.zst) against a temporary server
# that listens on the socket only. Every POSTGRES_* setting may come from a file via NAME_FILE.
# Started as root, it fixes ownership of the data and socket directories and runs as postgres.
# Anything other than `postgres` runs as given.
set -Eeo pipefail

note() { printf '%s\n' "$*" >&2; }

# file_env VAR [DEFAULT]: VAR from the environment, or from the file named by VAR_FILE
file_env() {
  local var=$1 def=${2:-} file_var="${1}_FILE" val
  if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
    note "error: both $var and $file_var are set (but are exclusive)"
    exit 1
  fi
  val=$def
  if [[ -n ${!var:-} ]]; then
    val=${!var}
  elif [[ -n ${!file_var:-} ]]; then
    val=$(<"${!file_var}")
  fi
  export "$var"="$val"
  unset "$file_var"
}

want_help() {
  local arg
  for arg; do
    case $arg in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
  done
  return 1
}

setup_env() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  DATABASE_ALREADY_EXISTS=
  if [[ -s $PGDATA/PG_VERSION ]]; then DATABASE_ALREADY_EXISTS=yes; fi
}

create_db_directories() {
  local user
  user=$(id -u)
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :
  mkdir -p /var/run/postgresql || :
  chmod 03775 /var/run/postgresql || :
  if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    if [[ $user == 0 ]]; then
      find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
    fi
    chmod 700 "$POSTGRES_INITDB_WALDIR"
  fi
  if [[ $user == 0 ]]; then
    find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
    find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
  fi
}

verify_minimum_env() {
  if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
    note "Error: Database is uninitialized and superuser password is not specified."
    note "       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or"
    note "       POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without a password (not recommended)."
    exit 1
  fi
  if [[ $POSTGRES_HOST_AUTH_METHOD == trust ]]; then
    note "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every connection is accepted without a password."
  fi
}

init_database_dir() {
  local -a args=()
  if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then args+=(--waldir "$POSTGRES_INITDB_WALDIR"); fi
  # POSTGRES_INITDB_ARGS is a string of options, split like a shell would, as in the official image
  eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "${args[@]}"'
}

setup_hba_conf() {
  [[ ${1:-} == postgres ]] && shift
  local auth
  auth=$(postgres -C password_encryption "$@")
  : "${POSTGRES_HOST_AUTH_METHOD:=$auth}"
  {
    printf '\n'
    if [[ $POSTGRES_HOST_AUTH_METHOD == trust ]]; then
      printf '# warning: trust is enabled for all connections\n'
    fi
    printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
  } >>"$PGDATA/pg_hba.conf"
}

# psql against the temporary server as POSTGRES_USER (on POSTGRES_DB unless it is empty)
process_sql() {
  local -a query_runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [[ -n $POSTGRES_DB ]]; then query_runner+=(--dbname "$POSTGRES_DB"); fi
  PGHOST='' PGHOSTADDR='' "${query_runner[@]}" "$@"
}

temp_server_start() {
  [[ ${1:-} == postgres ]] && shift
  # the caller's options (e.g. -c shared_buffers=...), then: no TCP, the default port for the socket
  set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
  PGUSER=${PGUSER:-$POSTGRES_USER} pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
  PGUSER=${PGUSER:-postgres} pg_ctl -D "$PGDATA" -m fast -w stop
}

setup_db() {
  local exists db=$POSTGRES_DB
  # the queries run on the postgres database (POSTGRES_DB may not exist yet)
  exists=$(POSTGRES_DB='' process_sql --dbname postgres --set db="$db" --tuples-only <<-'EOSQL'
	SELECT 1 FROM pg_database WHERE datname = :'db' ;
	EOSQL
  )
  if [[ -z $exists ]]; then
    POSTGRES_DB='' process_sql --dbname postgres --set db="$db" <<-'EOSQL'
	CREATE DATABASE :"db" ;
	EOSQL
    printf '\n'
  fi
}

process_init_files() {
  local f
  printf '\n'
  for f; do
    case $f in
      *.sh)
        if [[ -x $f ]]; then
          note "$0: running $f"; "$f"
        else
          note "$0: sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi ;;
      *.sql) note "$0: running $f"; process_sql -f "$f"; printf '\n' ;;
      *.sql.gz) note "$0: running $f"; gunzip -c "$f" | process_sql; printf '\n' ;;
      *.sql.xz) note "$0: running $f"; xzcat "$f" | process_sql; printf '\n' ;;
      *.sql.zst) note "$0: running $f"; zstd -dc "$f" | process_sql; printf '\n' ;;
      *) note "$0: ignoring $f" ;;
    esac
    printf '\n'
  done
}

main() {
  if [[ ${1:0:1} == - ]]; then set -- postgres "$@"; fi

  if [[ $1 == postgres ]] && ! want_help "$@"; then
    setup_env
    create_db_directories
    if [[ $(id -u) == 0 ]]; then
      exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
    fi

    if [[ -z $DATABASE_ALREADY_EXISTS ]]; then
      verify_minimum_env
      # fail early if the init directory cannot be read
      ls /docker-entrypoint-initdb.d/ >/dev/null
      init_database_dir
      setup_hba_conf "$@"
      export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
      temp_server_start "$@"
      setup_db
      shopt -s nullglob
      process_init_files /docker-entrypoint-initdb.d/*
      shopt -u nullglob
      temp_server_stop
      unset PGPASSWORD
      printf '\nPostgreSQL init process complete; ready for start up.\n\n'
    else
      printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
    fi
  fi

  exec "$@"
}

main "$@"
