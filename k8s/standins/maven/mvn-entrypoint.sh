#!/usr/bin/env bash
# Entrypoint of the maven stand-in, to the official image's contract: files under /usr/share/maven/ref
# (settings.xml, a pre-filled repository/, ...) are copied into the user's Maven directory
# ($MAVEN_CONFIG, default ~/.m2) unless already there; then the command runs (CMD: mvn).
set -euo pipefail

ref=/usr/share/maven/ref
target=${MAVEN_CONFIG:-$HOME/.m2}
if [[ -d $ref ]] && [[ -n $(ls -A "$ref") ]]; then
  mkdir -p "$target"
  # -n: never overwrite what the user already has
  cp -rn "$ref"/. "$target"/ 2>/dev/null || echo "mvn-entrypoint: could not copy $ref to $target" >&2
fi
# as the official entrypoint does: MAVEN_CONFIG names a directory for the copy above, not mvn arguments
unset MAVEN_CONFIG
exec "$@"
