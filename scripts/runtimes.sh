#!/usr/bin/env bash
# Make the container runtimes usable on a fresh Debian 12 machine where we are root,
# and start/stop the daemons the runtime tests need (containerd, dockerd, a registry).
#
#   scripts/runtimes.sh start    # idempotent: configure, then start what is not running
#   scripts/runtimes.sh stop     # stop what `start` started, unmount, remove sockets
#   scripts/runtimes.sh status   # one line per component
#   scripts/runtimes.sh env      # the variables the tests read (eval-able)
#
# Expects the apt packages to be installed already:
#   crun runc skopeo umoci podman conmon catatonit netavark aardvark-dns slirp4netns
#   iptables docker.io containerd docker-registry curl
#
# Everything it starts lives under two directories of its own, so it never touches a
# system dockerd/containerd that may also exist:
#   $MOTE_RT_STATE (default /var/lib/mote-rt): data roots, configs, logs
#   $MOTE_RT_RUN   (default /run/mote-rt):     sockets, pidfiles, exec roots
#
# Host configuration it changes (each step checks first, so running it twice is fine):
#   - cgroup v1 hybrid: moves the controllers off the cgroup2 mount (crun refuses
#     hybrid mode while any controller is on /sys/fs/cgroup/unified)
#   - /etc/containers/containers.conf.d/50-mote.conf: podman default_ulimits (the
#     default rlimits fail with EPERM here) and the netavark network backend
#   - /etc/containers/policy.json if missing; a registries.conf.d entry marking the
#     local test registry insecure (plain HTTP on loopback)
set -uo pipefail

STATE=${MOTE_RT_STATE:-/var/lib/mote-rt}
RUN=${MOTE_RT_RUN:-/run/mote-rt}
REGISTRY_ADDR=${MOTE_REGISTRY:-127.0.0.1:5050}
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
DOCKER_SOCK=$RUN/docker.sock
WAIT_SECS=${MOTE_RT_WAIT:-60}

failures=()
log() { printf 'runtimes: %s\n' "$*" >&2; }
fail() { failures+=("$1"); printf 'runtimes: FAILED: %s\n' "$1" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "runtimes: must run as root (it mounts cgroups and starts daemons)" >&2
    exit 2
  fi
}

alive() { # alive PIDFILE -> 0 if the process in it runs
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() { # wait_for WHAT CMD... : poll CMD until it succeeds or WAIT_SECS pass
  local what=$1; shift
  local deadline=$((SECONDS + WAIT_SECS))
  while [ $SECONDS -lt $deadline ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  fail "$what: not ready after ${WAIT_SECS}s (command: $*)"
  return 1
}

# --- host configuration -------------------------------------------------------------

setup_cgroups() {
  local unified=/sys/fs/cgroup/unified
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    log "cgroups: pure cgroup v2, nothing to move"
    return
  fi
  if [ ! -f $unified/cgroup.controllers ]; then
    log "cgroups: no cgroup2 mount at $unified, nothing to move"
    return
  fi
  local c moved=()
  for c in $(cat $unified/cgroup.controllers); do
    if mountpoint -q /sys/fs/cgroup/$c; then continue; fi
    mkdir -p /sys/fs/cgroup/$c
    if mount -t cgroup -o "$c" cgroup /sys/fs/cgroup/$c; then
      moved+=("$c")
    else
      fail "cgroups: could not mount controller $c at /sys/fs/cgroup/$c (crun will refuse hybrid mode)"
    fi
  done
  if [ -n "$(cat $unified/cgroup.controllers)" ]; then
    fail "cgroups: controllers still on $unified: $(cat $unified/cgroup.controllers)"
  else
    log "cgroups: hybrid mode ok for crun${moved:+ (moved: ${moved[*]})}"
  fi
}

write_if_changed() { # write_if_changed FILE CONTENT
  local f=$1 content=$2
  if [ -f "$f" ] && [ "$(cat "$f")" = "$content" ]; then return; fi
  mkdir -p "$(dirname "$f")"
  printf '%s\n' "$content" >"$f.tmp.$$" && mv "$f.tmp.$$" "$f"
  log "wrote $f"
}

setup_containers_conf() {
  write_if_changed /etc/containers/containers.conf.d/50-mote.conf \
'# Written by mote scripts/runtimes.sh.
[containers]
# The built-in defaults (nofile=1048576) fail with "setrlimit RLIMIT_NOFILE:
# Operation not permitted" on these machines.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
# Never mix CNI and netavark: both use 10.88.0.0/16.
network_backend = "netavark"'
  if [ ! -f /etc/containers/policy.json ]; then
    write_if_changed /etc/containers/policy.json \
'{ "default": [ { "type": "insecureAcceptAnything" } ] }'
  fi
  write_if_changed /etc/containers/registries.conf.d/50-mote-local.conf \
"# Written by mote scripts/runtimes.sh: the local test registry speaks plain HTTP.
[[registry]]
location = \"$REGISTRY_ADDR\"
insecure = true"
}

# --- daemons ------------------------------------------------------------------------

start_daemon() { # start_daemon NAME PIDFILE LOGFILE CMD...
  local name=$1 pidfile=$2 logfile=$3; shift 3
  if alive "$pidfile"; then
    log "$name: already running (pid $(cat "$pidfile"))"
    return 0
  fi
  if ! command -v "$1" >/dev/null; then
    fail "$name: $1 not installed (apt-get install the package that provides it)"
    return 1
  fi
  mkdir -p "$(dirname "$logfile")" "$(dirname "$pidfile")"
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  log "$name: started pid $! (log $logfile)"
}

start_containerd() {
  mkdir -p "$STATE/containerd" "$RUN/containerd"
  write_if_changed "$STATE/containerd.toml" \
"version = 2
root = \"$STATE/containerd/root\"
state = \"$RUN/containerd/state\"
# The tests need no Kubernetes CRI; it only adds start-up time and log noise.
disabled_plugins = [\"io.containerd.grpc.v1.cri\"]
[grpc]
  address = \"$CONTAINERD_SOCK\"
[ttrpc]
  address = \"$CONTAINERD_SOCK.ttrpc\"
[debug]
  address = \"$CONTAINERD_SOCK.debug\""
  start_daemon containerd "$RUN/containerd.pid" "$STATE/containerd.log" \
    containerd --config "$STATE/containerd.toml" || return
  wait_for "containerd ($CONTAINERD_SOCK)" ctr --address "$CONTAINERD_SOCK" version
}

start_dockerd() {
  mkdir -p "$STATE/docker" "$RUN/docker-exec"
  # dockerd writes its own pidfile; keep it apart from ours (it refuses to start when
  # its pidfile names a live process).
  start_daemon dockerd "$RUN/dockerd.pid" "$STATE/dockerd.log" \
    dockerd --data-root "$STATE/docker" --exec-root "$RUN/docker-exec" \
    --pidfile "$RUN/docker-exec/dockerd.pid" -H "unix://$DOCKER_SOCK" \
    --containerd "$CONTAINERD_SOCK" --userland-proxy=true || return
  wait_for "dockerd ($DOCKER_SOCK)" docker -H "unix://$DOCKER_SOCK" version
}

start_registry() {
  mkdir -p "$STATE/registry"
  write_if_changed "$STATE/registry.yml" \
"version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR"
  start_daemon registry "$RUN/registry.pid" "$STATE/registry.log" \
    docker-registry serve "$STATE/registry.yml" || return
  wait_for "registry (http://$REGISTRY_ADDR/v2/)" curl -fsS "http://$REGISTRY_ADDR/v2/"
}

check_tools() {
  local t missing=()
  for t in crun runc podman conmon skopeo umoci ctr containerd dockerd docker \
           docker-registry curl unshare; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  [ -x /usr/lib/podman/netavark ] || command -v netavark >/dev/null || missing+=(netavark)
  if [ ${#missing[@]} -gt 0 ]; then
    fail "tools missing: ${missing[*]} (apt-get install crun runc skopeo umoci podman conmon catatonit netavark aardvark-dns slirp4netns iptables docker.io containerd docker-registry curl)"
  fi
}

stop_pid() { # stop_pid NAME PIDFILE
  local name=$1 pidfile=$2 pid i
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name: still running after 10s, killing pid $pid"
      kill -KILL "$pid" 2>/dev/null
    fi
    log "$name: stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  # Containers first, while the daemons can still remove them.
  if alive "$RUN/dockerd.pid"; then
    local ids
    ids=$(docker -H "unix://$DOCKER_SOCK" ps -aq 2>/dev/null)
    [ -n "$ids" ] && docker -H "unix://$DOCKER_SOCK" rm -f $ids >/dev/null 2>&1
  fi
  stop_pid dockerd "$RUN/dockerd.pid"
  if alive "$RUN/containerd.pid"; then
    local ns t
    for ns in $(ctr -a "$CONTAINERD_SOCK" namespaces ls -q 2>/dev/null); do
      for t in $(ctr -a "$CONTAINERD_SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
        ctr -a "$CONTAINERD_SOCK" -n "$ns" tasks kill -s KILL "$t" >/dev/null 2>&1
      done
    done
  fi
  stop_pid containerd "$RUN/containerd.pid"
  stop_pid registry "$RUN/registry.pid"
  # Shims outlive containerd by design; end the ones that belong to our socket.
  local p
  for p in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK" 2>/dev/null); do
    kill -KILL "$p" 2>/dev/null && log "killed leftover shim pid $p"
  done
  # Unmount whatever the daemons left mounted under our directories, deepest first.
  local m
  for m in $(awk -v s="$STATE" -v r="$RUN" '$5 ~ "^"s"/" || $5 ~ "^"r"/" {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null && log "unmounted $m"
  done
  rm -f "$DOCKER_SOCK" "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc" "$CONTAINERD_SOCK.debug"
  log "stopped"
}

cmd_status() {
  local name pidfile
  for name in containerd dockerd registry; do
    pidfile=$RUN/$name.pid
    if alive "$pidfile"; then echo "$name: running (pid $(cat "$pidfile"))"; else echo "$name: stopped"; fi
  done
  if [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
    echo "cgroup2 controllers left on unified: '$(cat /sys/fs/cgroup/unified/cgroup.controllers)'"
  fi
}

cmd_env() {
  echo "export MOTE_DOCKER_HOST=unix://$DOCKER_SOCK"
  echo "export MOTE_CONTAINERD_ADDRESS=$CONTAINERD_SOCK"
  echo "export MOTE_REGISTRY=$REGISTRY_ADDR"
}

case "${1:-}" in
  start)
    need_root
    check_tools
    setup_cgroups
    setup_containers_conf
    start_containerd
    start_dockerd
    start_registry
    if [ ${#failures[@]} -gt 0 ]; then
      printf 'runtimes: %d step(s) failed:\n' ${#failures[@]} >&2
      printf '  - %s\n' "${failures[@]}" >&2
      printf 'runtimes: logs are in %s/*.log\n' "$STATE" >&2
      exit 1
    fi
    log "ready: docker unix://$DOCKER_SOCK, containerd $CONTAINERD_SOCK, registry http://$REGISTRY_ADDR"
    ;;
  stop) need_root; cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
