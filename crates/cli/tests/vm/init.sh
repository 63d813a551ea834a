#!/bin/busybox sh
# /init of the cgroup v2 test VM (crates/cli/tests/run_cgroup2_vm.rs builds the
# initramfs: busybox, mote and its libraries, and two OCI image layouts under /images).
#
# The kernel boots with cgroup_no_v1=all and only cgroup2 is mounted, at
# /sys/fs/cgroup, with no controller enabled for children: mote must enable what it
# needs. Each check prints one line on the serial console:
#   CHECK <name>: ok (<value>)        or        CHECK <name>: FAIL: <what>
# and the last line is `MOTE-VM-RESULT: <n> checks, <k> failed`. The host test
# requires every check it knows by name to say ok, so a check that never ran fails.

export PATH=/bin

if [ "$1" != stage2 ]; then
    # pivot_root(2), which `mote run` uses, refuses to move the initial rootfs: copy
    # everything into a tmpfs and make that the root (switch_root also empties the
    # initramfs to give its memory back).
    /bin/busybox --install -s /bin
    mkdir -p /newroot
    mount -t tmpfs -o mode=0755 root /newroot
    cp -a /bin /lib /lib64 /images /init /newroot/
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
    exec switch_root /newroot /init stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "MOTE-VM-BOOTED"

CG=/sys/fs/cgroup
PROBE=/images/probe
BUSYBOX=/images/busybox
export MOTE_STATE_DIR=/tmp/state
N=0
FAILS=0

pass() { N=$((N + 1)); echo "CHECK $1: ok ($2)"; }
fail() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "CHECK $1: FAIL: $2"; }
# expect NAME GOT WANT
expect() {
    if [ "$2" = "$3" ]; then pass "$1" "$2"; else fail "$1" "got [$2], want [$3]"; fi
}
# until_true SECONDS COMMAND...: polls every 50 ms; false after SECONDS
until_true() {
    local left=$(($1 * 20))
    shift
    while ! "$@"; do
        left=$((left - 1))
        [ "$left" -gt 0 ] || return 1
        sleep 0.05
    done
}
# (cgroupfs files have size 0: test what cat gives, not -s)
has_procs() { [ -n "$(cat "$1/cgroup.procs" 2>/dev/null)" ]; }
no_procs() { [ -z "$(cat "$1/cgroup.procs" 2>/dev/null)" ]; }
# started GROUP PID: the group has a process, or mote PID is gone (it failed)
started() { has_procs "$1" || ! kill -0 "$2" 2>/dev/null; }
groups() { ls -d "$CG"/mote-* 2>/dev/null | tr '\n' ' '; }
# dump FILE...: shows files after a failure
dump() { for f in "$@"; do echo "--- $f"; cat "$f"; done; }

# --- the host: cgroup v2 only, every controller on the unified hierarchy -------
expect only_cgroup2_mounted "$(awk '$3 == "cgroup" || $3 == "cgroup2" {print $3 " " $2}' /proc/mounts | tr '\n' ' ')" "cgroup2 /sys/fs/cgroup "
expect v2_offers_controllers "$(tr ' ' '\n' <$CG/cgroup.controllers | grep -xE 'cpu|memory|pids' | sort | tr '\n' ' ')" "cpu memory pids "
echo "INFO subtree_control before mote: [$(cat $CG/cgroup.subtree_control)]"
echo "INFO kernel $(uname -r), cmdline: $(cat /proc/cmdline)"

# --- (1) the limits land in memory.max, pids.max and cpu.max -------------------
mote run --memory 32M --pids 16 --cpus 0.5 $PROBE -- sleep 3 >/tmp/out 2>/tmp/err &
mp=$!
G=$CG/mote-$mp-0
if until_true 30 started "$G" $mp && has_procs "$G"; then
    pass limits_group_made "$G"
    expect memory_max "$(cat $G/memory.max)" 33554432
    expect memory_swap_max "$(cat $G/memory.swap.max)" 0
    expect memory_oom_group "$(cat $G/memory.oom.group)" 1
    expect pids_max "$(cat $G/pids.max)" 16
    expect cpu_max "$(cat $G/cpu.max)" "50000 100000"
    cpid=$(head -n1 $G/cgroup.procs)
    expect container_in_group "$(cat /proc/$cpid/cgroup)" "0::/mote-$mp-0"
    expect controllers_enabled "$(tr ' ' '\n' <$CG/cgroup.subtree_control | grep -xE 'cpu|memory|pids' | sort | tr '\n' ' ')" "cpu memory pids "
else
    fail limits_group_made "no populated $G (mote exited or 30 s passed); groups: [$(groups)]"
fi
wait $mp
rc=$?
[ $rc = 0 ] || dump /tmp/out /tmp/err
expect limits_run_exit "$rc" 0
expect limits_group_removed "$(groups)" ""

# The program is in the group before its first instruction (mote moves the child in
# before exec): /proc/self/cgroup as the container's first process sees it.
mote run --memory 32M --pids 16 --cpus 0.5 $PROBE -- cat /proc/self/cgroup >/tmp/out 2>/tmp/err &
mp=$!
wait $mp
expect self_cgroup_at_exec "$(cat /tmp/out)" "0::/mote-$mp-0"

# --- (2) a memory hog is stopped by the OOM killer and mote says so -------------
out=$(mote run $PROBE -- alloc 64 2>&1)
expect alloc_without_limit "$out" "allocated 64"
mote run --memory 16M $PROBE -- alloc 64 >/tmp/out 2>/tmp/err
rc=$?
expect oom_exit_code "$rc" 137
want="mote: the container was killed by the OOM killer: it exceeded its memory limit of 16777216 bytes (--memory)"
expect oom_reported "$(cat /tmp/err)" "$want"
expect oom_hog_did_not_finish "$(cat /tmp/out)" ""
expect oom_group_removed "$(groups)" ""
# memory.oom.group: a child over the limit takes the whole container with it (its
# parent, the container's pid 1, does not go on as if nothing happened).
out=$(mote run $PROBE -- childalloc 8 2>&1)
expect childalloc_without_limit "$out" "child status 0, parent survived"
mote run --memory 16M $PROBE -- childalloc 64 >/tmp/out 2>/tmp/err
rc=$?
expect oom_group_exit_code "$rc" 137
expect oom_group_killed_parent "$(cat /tmp/out)" ""

# --- (3) a fork bomb is held at pids.max ---------------------------------------
expect forkbomb_without_limit "$(mote run $PROBE -- forkbomb 20 2>&1)" "forked 20 errno 0"
# pid 1 plus 4 children fill pids.max = 5; the next fork fails with EAGAIN (11).
expect forkbomb_held_at_pids_max "$(mote run --pids 5 $PROBE -- forkbomb 20 2>&1)" "forked 4 errno 11"
expect forkbomb_group_removed "$(groups)" ""

# --- cpu.max throttles a busy loop; a killed mote's group is swept -------------
mote run --cpus 0.2 $BUSYBOX -- sh -c 'while :; do :; done' >/tmp/out 2>/tmp/err &
mp=$!
G=$CG/mote-$mp-0
if until_true 30 started "$G" $mp && has_procs "$G"; then
    sleep 1
    thr=$(awk '$1 == "nr_throttled" {print $2}' $G/cpu.stat)
    if [ "${thr:-0}" -gt 0 ]; then pass cpu_throttled "nr_throttled $thr"; else fail cpu_throttled "$(cat $G/cpu.stat | tr '\n' ' ')"; fi
    kill -KILL $mp
    wait $mp
    # The container dies with its mote (parent-death signal); the group stays.
    if until_true 10 no_procs "$G"; then pass killed_with_mote "$G empty"; else fail killed_with_mote "$(cat $G/cgroup.procs)"; fi
    expect killed_mote_left_group "$(groups)" "$G "
    # The next mote that makes groups sweeps it.
    mote run --pids 10 $PROBE -- exit 0
    expect sweep_run_exit "$?" 0
    expect stale_group_swept "$(groups)" ""
else
    fail cpu_throttled "no populated $G (mote exited or 30 s passed)"
    dump /tmp/out /tmp/err
fi

echo "MOTE-VM-RESULT: $N checks, $FAILS failed"
poweroff -f
