//! `mote run`: what the program inside sees, exit codes, signals, limits, cleanup.
//! Needs root (namespaces, cgroups), like `mote run` itself.

#[path = "probe/mod.rs"]
mod probe;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use probe::*;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "mote run failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_container_sees_only_itself() {
    let w = World::new();
    let out = w.run(&["--hostname", "probe-host", "-e", "EXTRA=x y"], &["report", "/etc/hostname", "/work", "/bin/probe", "/proc/1"]);
    let r = parse_report(ok(&out).as_bytes());
    assert_eq!(r["pid"], "1", "{r:?}");
    assert_eq!(r["uid"], "65532");
    assert_eq!(r["gid"], "65532");
    assert_eq!(r["groups"], "", "supplementary groups must be empty");
    for k in ["capinh", "capprm", "capeff", "capbnd", "capamb"] {
        assert_eq!(r[k], "0000000000000000", "{k} must be empty: {r:?}");
    }
    assert_eq!(r["no_new_privs"], "1");
    assert_eq!(r["status_nnp"], "1");
    assert_eq!(r["hostname"], "probe-host");
    // A fresh /proc of a new pid namespace: only pid 1 (the probe).
    assert_eq!(r["proc_pids"], "1");
    // kill(-1, 0) from pid 1 with nobody else in the namespace: ESRCH (3).
    assert_eq!(r["kill_all"], "errno3");
    // The root is read-only: EROFS (30).
    assert_eq!(r["root_write"], "errno30");
    assert_eq!(r["exists:/etc/hostname"], "false", "a host file is visible");
    assert_eq!(r["exists:/work"], "false", "a host directory is visible");
    assert_eq!(r["exists:/bin/probe"], "true");
    assert_eq!(r["exists:/proc/1"], "true");
    assert_eq!(r["cwd"], "/");
    assert_eq!(r["fds"], "0,1,2", "descriptors of the host leaked into the container");
    assert!(r["env"].contains("PROBE:1"), "image env missing: {}", r["env"]);
    assert!(r["env"].contains("EXTRA:x y"), "--env missing: {}", r["env"]);
    assert!(!r["env"].contains("HOME:/root"), "host env leaked: {}", r["env"]);
    assert_eq!(r["args"], "/bin/probe report /etc/hostname /work /bin/probe /proc/1");
    // --network host (the default): the host's interfaces.
    assert!(r["interfaces"].split(',').count() > 1, "{}", r["interfaces"]);
    assert_minimal_dev(&r);
}

/// The container's /dev is runc's minimal one, and nothing of the host's.
fn assert_minimal_dev(r: &std::collections::HashMap<String, String>) {
    // Exactly these names: no other host device is visible.
    assert_eq!(r["dev_list"], "fd,full,null,random,shm,stderr,stdin,stdout,tty,urandom,zero", "{r:?}");
    for (name, dev) in [("null", "1:3"), ("zero", "1:5"), ("full", "1:7"), ("random", "1:8"), ("urandom", "1:9"), ("tty", "5:0")] {
        assert_eq!(r[&format!("dev:{name}")], format!("c {dev} 666"), "/dev/{name}");
    }
    assert_eq!(r["dev:fd"], "-> /proc/self/fd");
    assert_eq!(r["dev:stdin"], "-> /proc/self/fd/0");
    assert_eq!(r["dev:stdout"], "-> /proc/self/fd/1");
    assert_eq!(r["dev:stderr"], "-> /proc/self/fd/2");
    assert_eq!(r["dev:shm"], "d 1777");
    // /dev/null swallows writes (opened as a shell's `>` opens it) and reads empty.
    assert_eq!(r["dev_null_write"], "ok");
    assert_eq!(r["dev_null_read"], "0 bytes");
    assert_eq!(r["dev_zero_read"], "zeros");
    assert_eq!(r["dev_urandom_read"], "32 random bytes");
    // /dev/full: ENOSPC (28).
    assert_eq!(r["dev_full_write"], "errno28");
    // /dev itself takes no new files (read-only: EROFS), /dev/shm does.
    assert_eq!(r["dev_write"], "errno30");
    assert_eq!(r["dev_shm_write"], "ok 1 bytes");
    // FSTYPE MOUNT_OPTIONS SUPER_OPTIONS
    let dev: Vec<&str> = r["dev_mount"].split(' ').collect();
    assert_eq!(dev[0], "tmpfs", "{dev:?}");
    for o in ["ro", "nosuid", "noexec"] {
        assert!(dev[1].split(',').any(|x| x == o), "/dev lacks {o}: {dev:?}");
    }
    assert!(dev[1].split(',').all(|x| x != "nodev"), "/dev must allow its nodes: {dev:?}");
    assert!(dev[2].split(',').any(|x| x == "mode=755"), "{dev:?}");
    let shm: Vec<&str> = r["dev_shm_mount"].split(' ').collect();
    assert_eq!(shm[0], "tmpfs", "{shm:?}");
    for o in ["rw", "nosuid", "nodev", "noexec"] {
        assert!(shm[1].split(',').any(|x| x == o), "/dev/shm lacks {o}: {shm:?}");
    }
    assert!(r["proc_mount"].starts_with("proc "), "{}", r["proc_mount"]);
}

#[test]
fn an_image_without_proc_and_dev_gets_both() {
    let w = World::new();
    let dir = w.tmp.path().join("bare");
    let bin = std::fs::read(probe_binary()).unwrap();
    // Nothing but the program: no /proc, no /dev, no /tmp.
    write_layout(&dir, &[vec![Entry::Dir("bin", 0o755), Entry::File("bin/probe".into(), bin, 0o755)]], probe_config());
    let out = w.mote().arg("run").arg(&dir).args(["--", "report", "/proc/1"]).output().unwrap();
    let r = parse_report(ok(&out).as_bytes());
    assert_eq!(r["exists:/proc/1"], "true", "{r:?}");
    assert_eq!(r["proc_pids"], "1");
    assert_minimal_dev(&r);
    // The image's files are untouched but for the two mount points.
    let out = w.mote().arg("run").arg(&dir).args(["--", "ls", "/"]).output().unwrap();
    assert_eq!(ok(&out), "bin\ndev\nproc\n");
    // As root on the host the nodes are made with mknod: nothing of the host's devtmpfs
    // is mounted in the container.
    let out = w.mote().arg("run").arg(&dir).args(["--", "cat", "/proc/self/mountinfo"]).output().unwrap();
    let mounts = ok(&out);
    assert!(!mounts.contains("devtmpfs"), "{mounts}");
    // Mount points, field 5 of mountinfo; /proc's masked and read-only entries are
    // checked by proc_is_masked_and_read_only_as_runc_makes_it.
    let points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| !p.starts_with("/proc/")).collect();
    assert_eq!(points, ["/", "/proc", "/dev", "/dev/shm"], "/, /proc, /dev, /dev/shm and nothing else:\n{mounts}");
}

/// runc's default masked /proc entries (plus docker's /proc/interrupts), and its
/// read-only ones; the same lists as mote's spawn.rs.
const PROC_MASKED: [&str; 10] =
    ["acpi", "asound", "interrupts", "kcore", "keys", "latency_stats", "sched_debug", "scsi", "timer_list", "timer_stats"];
const PROC_READONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// As root in the container (uid 0 owns /proc's files and needs no capability to
/// write most sysctls or the sysrq trigger): the masked entries show nothing, the
/// read-only ones refuse writes with EROFS, the rest of /proc works. The container's
/// /proc is of the same kernel as the host's, so what the host lacks is skipped.
#[test]
fn proc_is_masked_and_read_only_as_runc_makes_it() {
    let w = World::new();
    let on_host = |n: &str| std::fs::symlink_metadata(format!("/proc/{n}")).is_ok();
    let mut paths: Vec<String> = PROC_MASKED.iter().chain(&PROC_READONLY).map(|n| format!("/proc/{n}")).collect();
    let sysctls = ["/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/irq/default_smp_affinity"];
    let normal = ["/proc/meminfo", "/proc/cpuinfo", "/proc/uptime", "/proc/self/status", "/proc/self/mountinfo"];
    paths.extend(sysctls.iter().chain(&normal).map(|p| p.to_string()));
    let out = w.run(&["--user", "0", "--hostname", "masked"], &[&["proc"][..], &paths.iter().map(String::as_str).collect::<Vec<_>>()].concat());
    let text = ok(&out);
    let r = parse_report(text.as_bytes());
    let mut want_mounts = std::collections::BTreeSet::new();
    for n in PROC_MASKED {
        let p = format!("/proc/{n}");
        let read = &r[&format!("read:{p}")];
        let Ok(host) = std::fs::symlink_metadata(&p) else {
            assert_eq!(read, "absent", "{p} is not on this kernel");
            continue;
        };
        want_mounts.insert(p.clone());
        let mount = &r[&format!("mount:{p}")];
        let opts: Vec<&str> = mount.split(' ').nth(1).unwrap_or("").split(',').collect();
        assert!(opts.contains(&"ro") && opts.contains(&"nosuid") && opts.contains(&"noexec"), "{p}: {mount}");
        if host.is_dir() {
            assert_eq!(read, "dir ", "{p} must be an empty directory");
            assert!(mount.starts_with("tmpfs ") && opts.contains(&"nodev"), "{p}: {mount}");
        } else {
            // /dev/null: reads empty (kcore, keys, timer_list, interrupts, ...).
            assert_eq!(read, "file 0 bytes", "{p} must read empty");
            assert!(mount.starts_with("tmpfs ") || mount.starts_with("devtmpfs "), "{p} is not /dev/null: {mount}");
        }
    }
    for n in PROC_READONLY {
        let p = format!("/proc/{n}");
        if !on_host(n) {
            assert_eq!(r[&format!("read:{p}")], "absent", "{p} is not on this kernel");
            continue;
        }
        want_mounts.insert(p.clone());
        let mount = &r[&format!("mount:{p}")];
        assert!(mount.starts_with("proc "), "{p}: {mount}");
        let opts: Vec<&str> = mount.split(' ').nth(1).unwrap_or("").split(',').collect();
        for o in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(opts.contains(&o), "{p} lacks {o}: {mount}");
        }
    }
    // Writes (opening for writing, nothing is written): EROFS (30), not a permission
    // error: root passes the permission checks, the mount is what stops it.
    for p in std::iter::once("/proc/sysrq-trigger").chain(sysctls) {
        let write = &r[&format!("write:{p}")];
        if std::fs::symlink_metadata(p).is_err() {
            assert_eq!(write, "absent", "{p}");
        } else {
            assert_eq!(write, "errno30", "{p} must be read-only");
        }
    }
    assert!(sysctls[..2].iter().all(|p| std::path::Path::new(p).exists()), "this kernel has no kernel.hostname/core_pattern sysctls?");
    // Read-only, not hidden: the sysctls still read (the container's own hostname).
    assert_eq!(r["read:/proc/sys/kernel/hostname"], format!("file {} bytes", "masked\n".len()));
    // The rest of /proc is the container's own, untouched.
    for p in normal {
        let read = &r[&format!("read:{p}")];
        assert!(read.starts_with("file ") && read != "file 0 bytes", "{p}: {read}");
    }
    // No other mount under /proc.
    let got: std::collections::BTreeSet<String> =
        r.keys().filter_map(|k| k.strip_prefix("mount:")).map(str::to_string).collect();
    assert_eq!(got, want_mounts, "{text}");
}

#[test]
fn tmpfs_paths_are_checked() {
    let w = World::new();
    for (path, msg) in [("/dev", "mounted by mote run itself"), ("/proc/sys", "mounted by mote run itself"), ("/nope", "no directory"), ("tmp", "absolute path")] {
        let out = w.run(&["--tmpfs", path], &["exit", "0"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(1) && err.contains(msg), "--tmpfs {path}: {err}");
    }
    let out = w.run(&["--tmpfs", "/tmp"], &["exit", "0"]);
    ok(&out);
}

#[test]
fn image_cmd_user_and_network_none() {
    let w = World::new();
    // No args: the image's Cmd (`report`); --user overrides the image's user.
    let out = w.run(&["--user", "1234:4321", "--network", "none", "-w", "/tmp"], &[]);
    let r = parse_report(ok(&out).as_bytes());
    assert_eq!(r["args"], "/bin/probe report");
    assert_eq!((r["uid"].as_str(), r["gid"].as_str()), ("1234", "4321"));
    assert_eq!(r["interfaces"], "lo", "--network none must leave only loopback");
    assert_eq!(r["cwd"], "/tmp");
}

#[test]
fn exit_codes_propagate() {
    let w = World::new();
    assert_eq!(w.run(&[], &["exit", "42"]).status.code(), Some(42));
    assert_eq!(w.run(&[], &["exit", "0"]).status.code(), Some(0));
    let out = w.run(&[], &["segv"]);
    assert_eq!(out.status.code(), Some(128 + 11), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("signal 11"));
}

#[test]
fn a_missing_program_is_reported() {
    let w = World::new();
    let out = w.run(&["--entrypoint", "/bin/nope"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/bin/nope"), "{err}");
    let out = w.run(&["-w", "/nowhere"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("working directory"), "{err}");
}

fn signal_forwarded(sig: i32) {
    let w = World::new();
    let mut child = w
        .mote()
        .arg("run")
        .arg(w.image())
        .args(["--", "signal"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    unsafe { libc::kill(child.id() as i32, sig) };
    let got = lines.next();
    let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap_or_default();
    assert_eq!(got.and_then(|l| l.ok()), Some(format!("got {sig}")), "mote's stderr: {err}");
    assert_eq!(child.wait().unwrap().code(), Some(100 + sig));
}

#[test]
fn sigterm_sigint_sighup_reach_pid_1() {
    signal_forwarded(libc::SIGTERM);
    signal_forwarded(libc::SIGINT);
    signal_forwarded(libc::SIGHUP);
}

#[test]
fn memory_limit_kills_with_oom() {
    let w = World::new();
    // Control: without a limit the allocation succeeds.
    let out = w.run(&[], &["alloc", "64"]);
    assert_eq!(ok(&out).trim(), "allocated 64");
    let child = w.mote().args(["run", "--memory", "16M"]).arg(w.image()).args(["--", "alloc", "64"]).output().unwrap();
    assert_eq!(child.status.code(), Some(137), "{}", String::from_utf8_lossy(&child.stderr));
    let err = String::from_utf8_lossy(&child.stderr);
    assert!(err.contains("OOM"), "the OOM kill is not reported: {err}");
    assert!(!String::from_utf8_lossy(&child.stdout).contains("allocated"));
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let w = World::new();
    let out = w.run(&[], &["forkbomb", "20"]);
    assert_eq!(ok(&out).trim(), "forked 20 errno 0");
    let out = w.run(&["--pids", "5"], &["forkbomb", "20"]);
    let s = ok(&out);
    // pid 1 plus 4 children fill the limit of 5; the next fork fails with EAGAIN (11).
    assert_eq!(s.trim(), "forked 4 errno 11");
}

#[test]
fn cpu_limit_is_applied() {
    let w = World::new();
    let mut child = w.mote().args(["run", "--cpus", "0.5"]).arg(w.image()).args(["--", "sleep", "3"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // mote makes the group, writes the limits, then moves the container in: wait for a
    // member, not just the directory, or the quota may not be written yet.
    let joined = |d: &std::path::PathBuf| {
        std::fs::read_to_string(d.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
    };
    let dirs = loop {
        let d = cgroups_of(child.id());
        if d.iter().any(joined) || Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(dirs.iter().any(joined), "no cgroup with a member made for --cpus: {dirs:?}");
    let quota = dirs.iter().find_map(|d| {
        std::fs::read_to_string(d.join("cpu.cfs_quota_us")).ok().or_else(|| std::fs::read_to_string(d.join("cpu.max")).ok())
    });
    let quota = quota.expect("no cpu controller file");
    assert!(quota.trim() == "50000" || quota.trim() == "50000 100000", "{quota}");
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

#[test]
fn nothing_remains_after_the_run() {
    let w = World::new();
    let child = w
        .mote()
        .args(["run", "--memory", "32M", "--pids", "20", "--cpus", "1", "--tmpfs", "/tmp"])
        .arg(w.image())
        .args(["--", "exit", "3"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(cgroups_of(pid).is_empty(), "cgroups left: {:?}", cgroups_of(pid));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let state = w.state().display().to_string();
    assert!(!mounts.contains(&state), "a mount under the state dir is left:\n{mounts}");
    // The state dir holds only the rootfs cache (one image), no temporaries.
    let names: Vec<String> = std::fs::read_dir(w.state().join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(!names[0].starts_with('.'), "{names:?}");
}

#[test]
fn a_killed_mote_takes_its_container_along_and_is_swept() {
    let w = World::new();
    let mut child = w.mote().args(["run", "--pids", "10"]).arg(w.image()).args(["--", "sleep", "30"]).spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    let dirs = loop {
        let d = cgroups_of(pid);
        let has_proc = d.iter().any(|g| !std::fs::read_to_string(g.join("cgroup.procs")).unwrap_or_default().trim().is_empty());
        if has_proc || Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!dirs.is_empty());
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    child.wait().unwrap();
    // The container dies with mote (parent-death signal).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs: String = dirs.iter().map(|g| std::fs::read_to_string(g.join("cgroup.procs")).unwrap_or_default()).collect();
        if procs.trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the container outlived mote: {procs}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The killed mote could not remove its cgroup; the next mote that makes cgroups
    // sweeps it (a test running in parallel may already have done so).
    let out = w.run(&["--pids", "10"], &["exit", "0"]);
    ok(&out);
    assert!(cgroups_of(pid).is_empty(), "stale cgroups not swept: {:?}", cgroups_of(pid));
}

#[test]
fn a_pid_1_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let w = World::new();
    // `sleep` installs no handler: as pid 1 of its namespace it ignores SIGTERM.
    let spawn = |timeout: &str| {
        w.mote().args(["run", "--stop-timeout", timeout]).arg(w.image()).args(["--", "sleep", "30"]).stderr(Stdio::piped()).spawn().unwrap()
    };
    let wait_started = |pid: u32| {
        // The container runs once mote has a child.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default().trim().is_empty() {
            assert!(Instant::now() < deadline, "the container did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let child = spawn("1s");
    wait_started(child.id());
    let t0 = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(137), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not stop within"));
    // A second signal kills at once (well before the 60 s stop timeout; the bound below
    // is loose for busy machines, the message is what tells the two paths apart). The
    // gap keeps the two signals from merging into one pending signal.
    let child = spawn("60s");
    wait_started(child.id());
    let t0 = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert!(String::from_utf8_lossy(&out.stderr).contains("second stop signal"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Where mknod is refused (here: inside a user namespace, where it always is), the
/// host's nodes are bind-mounted instead, and the container sees the same /dev.
#[test]
fn in_a_user_namespace_the_dev_nodes_are_bind_mounts() {
    use std::io::Write;
    let w = World::new();
    // unshare makes the user namespace, then waits on stdin until we have written its
    // id maps (root outside may write them; uids 0..65536 map to themselves).
    let script = format!(
        "read go; {m} run {i} -- report && {m} run {i} -- cat /proc/self/mountinfo",
        m = MOTE,
        i = w.image().display()
    );
    let mut child = std::process::Command::new("unshare")
        .args(["--user", "--", "sh", "-c", &script])
        .env("MOTE_STATE_DIR", w.state())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) is needed");
    let pid = child.id();
    let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{pid}/ns/user")).ok().as_ref() == Some(&ours) {
        assert!(Instant::now() < deadline, "unshare did not make a user namespace");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(format!("/proc/{pid}/uid_map"), "0 0 65536\n").unwrap();
    std::fs::write(format!("/proc/{pid}/gid_map"), "0 0 65536\n").unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = ok(&out);
    let r = parse_report(text.as_bytes());
    assert_eq!(r["uid"], "65532", "{text}");
    assert_minimal_dev(&r);
    for n in ["null", "zero", "full", "random", "urandom", "tty"] {
        assert!(
            text.lines().any(|l| l.contains(&format!(" /{n} /dev/{n} ")) && l.contains(" - devtmpfs ")),
            "/dev/{n} is not a bind mount of the host's node:\n{text}"
        );
    }
    // Those binds are read-only (the container's root would own the host's inodes),
    // and so are /proc's masks (binds of the container's /dev/null) and /proc/sys.
    let opts = |point: &str| {
        text.lines().find(|l| l.split(' ').nth(4) == Some(point)).map(|l| l.split(' ').nth(5).unwrap_or("").to_string())
    };
    for point in ["/dev/null", "/dev/tty", "/proc/sys", "/proc/keys"] {
        if point.starts_with("/proc/") && !std::path::Path::new(point).exists() {
            continue;
        }
        let o = opts(point).unwrap_or_else(|| panic!("no mount at {point}:\n{text}"));
        assert!(o.split(',').any(|x| x == "ro"), "{point} is not read-only: {o}");
    }
}
