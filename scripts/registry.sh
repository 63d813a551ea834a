#!/usr/bin/env bash
# A throwaway OCI registry on loopback (Debian's docker-registry), for trying
# `mote push` by hand or from other scripts. The push tests start their own.
#
#   scripts/registry.sh start [DIR] [PORT] [USER:PASSWORD]   # prints HOST:PORT
#   scripts/registry.sh stop  [DIR]
#
# DIR (default /tmp/mote-registry) holds the config, the storage and the pid.
# PORT defaults to 5000 (keep it below 32768: see ENVIRONMENT.md). With
# USER:PASSWORD, htpasswd (bcrypt) auth is on; push with --user USER:PASSWORD.
# Debian's own /etc/docker/registry/config.yml turns htpasswd on, so we always
# write our own config.
set -euo pipefail
cmd=${1:-}
dir=${2:-/tmp/mote-registry}
case "$cmd" in
  start)
    port=${3:-5000}
    creds=${4:-}
    command -v docker-registry >/dev/null || { echo "registry.sh: docker-registry is missing (apt-get install docker-registry)" >&2; exit 1; }
    mkdir -p "$dir/data"
    auth=""
    if [ -n "$creds" ]; then
      command -v htpasswd >/dev/null || { echo "registry.sh: htpasswd is missing (apt-get install apache2-utils)" >&2; exit 1; }
      htpasswd -Bbn "${creds%%:*}" "${creds#*:}" >"$dir/htpasswd"
      auth=$'auth:\n  htpasswd:\n    realm: mote\n    path: '"$dir/htpasswd"
    fi
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth
YAML
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "registry.sh: already running (pid $(cat "$dir/pid")); stop it first" >&2
      exit 1
    fi
    docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 100); do
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
      if [ "$code" = 200 ] || [ "$code" = 401 ]; then
        echo "127.0.0.1:$port"
        exit 0
      fi
      kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "registry.sh: docker-registry did not start; log:" >&2
    cat "$dir/registry.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/pid" ]; then
      kill "$(cat "$dir/pid")" 2>/dev/null || true
      rm -f "$dir/pid"
    fi
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
