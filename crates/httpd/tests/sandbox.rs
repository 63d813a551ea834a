//! The defences inside the binary: no_new_privs and the seccomp allowlist, the uid/gid
//! drop and the refusal to run as root. The real binary on real sockets with the filter
//! on, and the filter program itself (the same source file the server compiles) installed
//! in forked test children: listed syscalls work, anything else kills with SIGSYS.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[allow(dead_code)]
#[path = "../src/seccomp.rs"]
mod seccomp;

/// The `Name:` line of /proc/PID/status, without the name (tabs and spaces collapsed).
fn status(pid: i32, name: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let l = s.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap_or_else(|| panic!("no {name} in status of {pid}"));
    l[name.len() + 1..].split_whitespace().collect::<Vec<_>>().join(" ")
}

fn children(pid: i32) -> Vec<i32> {
    let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    kids.split_whitespace().map(|p| p.parse().unwrap()).collect()
}

fn site() -> TempDir {
    let d = TempDir::new("sbx");
    d.write("index.html", b"<h1>home</h1>\n");
    d.write("app.js", b"console.log('plain');\n");
    d.write("app.js.gz", b"GZIP-BYTES");
    d.write("app.js.br", b"BROTLI-BYTES");
    d.write("docs/index.html", b"docs\n");
    d.write("big.bin", &pattern(3_000_000));
    d
}

/// Everything the serving loop does, with the filter on; the process must stay alive.
fn request_mix(s: &Server) {
    let r = s.get("/", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<h1>home</h1>\n"[..]));
    // 304 from the entity tag.
    let tag = r.header("etag").unwrap().to_string();
    assert_eq!(s.get("/", &[&format!("If-None-Match: {tag}")]).status, 304);
    // Ranges, single and out of range.
    let r = s.get("/big.bin", &["Range: bytes=1000-1999"]);
    assert_eq!((r.status, r.body.as_slice()), (206, &pattern(3_000_000)[1000..2000]));
    assert_eq!(s.get("/big.bin", &["Range: bytes=9000000-"]).status, 416);
    // Precompressed variants (openat2 probes, falling back).
    let r = s.get("/app.js", &["Accept-Encoding: gzip, br"]);
    assert_eq!((r.header("content-encoding"), r.body.as_slice()), (Some("br"), &b"BROTLI-BYTES"[..]));
    let r = s.get("/app.js", &["Accept-Encoding: gzip"]);
    assert_eq!(r.body, b"GZIP-BYTES");
    assert_eq!(s.get("/app.js", &[]).body, b"console.log('plain');\n");
    // Redirect, 404, traversal, health, HEAD, a body that is read and discarded.
    assert_eq!(s.get("/docs", &[]).status, 301);
    assert_eq!(s.get("/docs/", &[]).body, b"docs\n");
    assert_eq!(s.get("/missing", &[]).status, 404);
    assert_eq!(s.get("/../../etc/passwd", &[]).status / 100, 4);
    assert!(s.get("/healthz", &[]).body.starts_with(b"ok"));
    assert_eq!(s.req("HEAD", "/", &[]).status, 200);
    let raw = s.raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    assert!(raw.starts_with(b"HTTP/1.1 "), "{}", String::from_utf8_lossy(&raw));
    // Keep-alive with pipelining on one connection.
    let mut c = s.connect();
    c.write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /app.js HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while parse_all(&got, false).len() < 2 {
        let n = c.read(&mut b).unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&b[..n]);
    }
    c.write_all(b"GET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    got.extend(read_to_close(&mut c));
    let rs = parse_all(&got, false);
    assert_eq!(rs.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200, 200]);
    // A large sendfile download with curl.
    let out = curl().arg(format!("http://127.0.0.1:{}/big.bin", s.port)).output().unwrap();
    assert!(out.status.success() && out.stdout == pattern(3_000_000));
    // A stalled request head answered 408 by the timeout sweep.
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let got = read_to_close(&mut c);
    assert!(got.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&got));
}

#[test]
fn filter_on_serves_the_whole_mix_and_exits_0_on_sigterm() {
    let d = site();
    let mut s = Server::start(d.path(), &["--header-timeout", "1"]);
    let pid = s.pid();
    assert_eq!(status(pid, "Seccomp"), "2", "filter mode");
    assert_eq!(status(pid, "NoNewPrivs"), "1");
    assert_eq!(status(pid, "Seccomp_filters"), "1");
    request_mix(&s);
    assert!(s.child.try_wait().unwrap().is_none(), "server died: {}", s.stderr());
    assert_eq!(status(pid, "Seccomp"), "2");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(10), Some(0), "{}", s.stderr());
    assert!(s.stdout().contains("\"GET /big.bin HTTP/1.1\" 200 3000000"), "access log written");
}

#[test]
fn no_seccomp_flag_and_env_turn_the_filter_off() {
    let d = site();
    let s = Server::start(d.path(), &["--no-seccomp"]);
    assert_eq!(status(s.pid(), "Seccomp"), "0");
    assert_eq!(status(s.pid(), "NoNewPrivs"), "0");
    assert_eq!(s.get("/", &[]).status, 200);

    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap()]).env("MOTE_NO_SECCOMP", "1");
    let s = Server::spawn(cmd, port);
    assert_eq!(status(s.pid(), "Seccomp"), "0");

    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap()]).env("MOTE_NO_SECCOMP", "0");
    let s = Server::spawn(cmd, port);
    assert_eq!(status(s.pid(), "Seccomp"), "2");
}

/// A worker's Seccomp_filters once it has stacked its own filter on the supervisor's
/// (waits up to 2 s for a worker that was just forked, then returns what it has).
fn filters_once_set(pid: i32) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let f = status(pid, "Seccomp_filters");
        if f != "1" || std::time::Instant::now() > deadline {
            return f;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn workers_supervisor_and_workers_are_filtered() {
    let d = site();
    let mut s = Server::start(d.path(), &["--workers", "2", "--header-timeout", "1"]);
    let sup = s.pid();
    // The supervisor has its own (wider) filter; each worker stacks the serving one on it.
    assert_eq!((status(sup, "Seccomp"), status(sup, "Seccomp_filters")), ("2".into(), "1".into()));
    let pids = children(sup);
    assert_eq!(pids.len(), 2);
    for &p in &pids {
        // A worker installs its filter right after the fork; the server may answer through
        // the other worker before this one got there.
        let f = filters_once_set(p);
        assert_eq!((status(p, "Seccomp"), f), ("2".into(), "2".into()));
    }
    request_mix(&s);
    // A worker that dies is replaced: fork, mmap, epoll and the filter again, all under
    // the supervisor's filter.
    unsafe { libc::kill(pids[0], libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(1500));
    let now = children(sup);
    assert_eq!(now.len(), 2, "{now:?}");
    for &p in &now {
        assert_eq!(filters_once_set(p), "2");
    }
    for _ in 0..10 {
        assert_eq!(s.get("/index.html", &[]).status, 200);
    }
    assert_eq!(children(sup).len(), 2, "no worker was killed by the filter");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(10), Some(0), "{}", s.stderr());
}

#[test]
fn socket_activation_with_the_filter() {
    let d = site();
    let listener = std::net::TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let port = listener.local_addr().unwrap().port();
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let lfd = listener.as_raw_fd();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"").arg(bin()).args(["--root", d.path().to_str().unwrap()]);
    // SAFETY: dup2 and fcntl are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if (lfd != 3 && libc::dup2(lfd, 3) < 0) || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut s = Server::spawn(cmd, port);
    drop(listener);
    assert_eq!(status(s.pid(), "Seccomp"), "2");
    assert_eq!(s.get("/app.js", &["Accept-Encoding: gzip"]).body, b"GZIP-BYTES");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(10), Some(0));
}

#[test]
fn uid_gid_drop_is_complete() {
    let d = site();
    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap(), "--uid", "65532", "--gid", "65532"])
        .env_remove("MOTE_ALLOW_ROOT");
    let mut s = Server::spawn(cmd, port);
    let pid = s.pid();
    assert_eq!(status(pid, "Uid"), "65532 65532 65532 65532");
    assert_eq!(status(pid, "Gid"), "65532 65532 65532 65532");
    assert_eq!(status(pid, "Groups"), "");
    assert_eq!(status(pid, "Seccomp"), "2");
    assert_eq!(status(pid, "CapEff"), "0000000000000000");
    assert_eq!(s.get("/big.bin", &["Range: bytes=0-9"]).status, 206);
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(10), Some(0));
}

#[test]
fn refuses_to_run_as_root_without_allow_root() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test runs as root (as the README's test command does)");
    let d = site();
    for extra in [&[][..], &["--uid", "0", "--gid", "0"][..]] {
        let port = free_port();
        let out = Command::new(bin())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap()])
            .args(extra)
            .env_remove("MOTE_ALLOW_ROOT")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err, "mote-httpd: refusing to run as root: give --uid/--gid, or --allow-root\n");
    }
    // The flag and the environment variable both allow it.
    let s = Server::start(d.path(), &["--allow-root"]);
    assert_eq!(status(s.pid(), "Uid"), "0 0 0 0");
    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap()]).env("MOTE_ALLOW_ROOT", "true");
    let s = Server::spawn(cmd, port);
    assert_eq!(s.get("/", &[]).status, 200);
    // A bad value is a configuration error like any other.
    let out = Command::new(bin()).arg("--root").arg(d.path()).env("MOTE_ALLOW_ROOT", "yes").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------
// The filter program itself, installed in a forked child of this test process.
// ---------------------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
/// How a forked child that installed the filter for the first `n` entries of
/// `seccomp::ALLOW` and then ran `body` ended: Ok(exit code) or Err(signal).
fn in_filtered_child(n: usize, body: impl FnOnce()) -> Result<i32, i32> {
    let mut prog = [0u64; seccomp::LEN];
    let len = seccomp::program(n, &mut prog);
    let fprog: [usize; 2] = [len, prog.as_ptr() as usize];
    // SAFETY: the child makes only raw syscalls (async-signal-safe) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe {
            let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || libc::syscall(libc::SYS_seccomp, 1, 0, fprog.as_ptr()) != 0 {
                libc::_exit(99);
            }
        }
        body();
        unsafe { libc::syscall(libc::SYS_exit_group, 0) };
        unreachable!();
    }
    let mut st = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
    if libc::WIFEXITED(st) { Ok(libc::WEXITSTATUS(st)) } else { Err(libc::WTERMSIG(st)) }
}

#[cfg(target_arch = "x86_64")]
/// A raw syscall with harmless arguments (an invalid fd or pointer: the kernel answers
/// EBADF/EFAULT/EINVAL after seccomp has let it through).
fn poke(nr: u16) {
    let (a, b) = match nr as i64 {
        libc::SYS_kill => (0x3fff_fff0, 0), // no such pid, signal 0
        libc::SYS_wait4 => (-1, 0),
        libc::SYS_rt_sigtimedwait => (8, 8), // bad pointers: EFAULT
        _ => (-1, 0),
    };
    unsafe { libc::syscall(nr as i64, a, b, 0, 0, 0, 0) };
}

#[cfg(target_arch = "x86_64")]
#[test]
fn filter_program_allows_the_list_and_kills_everything_else() {
    // Both lists really are installed and pass their own syscalls (exit_group ends the
    // child with 0; clone is left out: it would fork).
    for n in [seccomp::SERVE, seccomp::ALLOW.len()] {
        for &nr in &seccomp::ALLOW[..n] {
            if nr as i64 == libc::SYS_exit_group || nr as i64 == libc::SYS_clone {
                continue;
            }
            assert_eq!(in_filtered_child(n, || poke(nr)), Ok(0), "syscall {nr} with {n} allowed");
        }
    }
    assert_eq!(in_filtered_child(seccomp::SERVE, || ()), Ok(0));
    // Not listed: killed with SIGSYS (SECCOMP_RET_KILL_PROCESS), never an error return.
    let serve_only = [libc::SYS_clone, libc::SYS_kill, libc::SYS_mmap, libc::SYS_seccomp, libc::SYS_prctl];
    for nr in [libc::SYS_getpid, libc::SYS_socket, libc::SYS_execve, libc::SYS_ptrace, libc::SYS_mprotect, libc::SYS_setuid, libc::SYS_connect, libc::SYS_open, libc::SYS_unlinkat]
        .into_iter()
        .chain(serve_only)
    {
        assert_eq!(in_filtered_child(seccomp::SERVE, || { unsafe { libc::syscall(nr, -1, 0, 0, 0) }; }), Err(libc::SIGSYS), "syscall {nr}");
    }
    for nr in [libc::SYS_getpid, libc::SYS_socket, libc::SYS_execve, libc::SYS_ptrace] {
        assert_eq!(in_filtered_child(seccomp::ALLOW.len(), || { unsafe { libc::syscall(nr, -1, 0, 0, 0) }; }), Err(libc::SIGSYS), "syscall {nr}");
    }
    // x32 ABI numbers (bit 30) of a listed syscall: killed.
    assert_eq!(in_filtered_child(seccomp::SERVE, || { unsafe { libc::syscall(0x4000_0000 | libc::SYS_read, -1, 0, 0) }; }), Err(libc::SIGSYS));
    // The i386 ABI through int 0x80 (arch AUDIT_ARCH_I386): killed, whatever the number
    // (20 is getpid there).
    assert_eq!(
        in_filtered_child(seccomp::SERVE, || unsafe {
            core::arch::asm!("int 0x80", inlateout("eax") 20 => _);
        }),
        Err(libc::SIGSYS)
    );
}

/// The syscall numbers in src/seccomp.rs, both architectures, against the kernel's own
/// tables from linux-libc-dev: x86_64's unistd_64.h and the generic table aarch64 uses
/// (asm-generic/unistd.h; `__NR3264_*` for the calls whose names differ on 32-bit). The
/// aarch64 filter cannot be installed under qemu-user, so this is its check.
#[test]
fn syscall_numbers_match_the_kernel_headers() {
    let src = std::fs::read_to_string(repo().join("crates/httpd/src/seccomp.rs")).unwrap();
    let tables = [
        ("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        ("aarch64", "/usr/include/asm-generic/unistd.h"),
    ];
    for (arch, header) in tables {
        let h = std::fs::read_to_string(header)
            .unwrap_or_else(|e| panic!("{header}: {e}; install linux-libc-dev (apt-get install linux-libc-dev)"));
        let defined = |name: &str| -> Option<u64> {
            h.lines().find_map(|l| {
                let mut w = l.split_whitespace();
                let (d, n, v) = (w.next()?, w.next()?, w.next()?);
                (d == "#define" && (n == format!("__NR_{name}") || n == format!("__NR3264_{name}"))).then(|| v.parse().ok()).flatten()
            })
        };
        let block = src.split(&format!("#[cfg(target_arch = \"{arch}\")]\npub mod nr {{")).nth(1).expect("nr module").split('}').next().unwrap();
        let mut checked = 0;
        for l in block.lines() {
            let Some(rest) = l.trim().strip_prefix("pub const ") else { continue };
            let Some((name, value)) = rest.split_once(": usize = ") else { continue };
            let value: u64 = value.trim_end_matches(';').parse().unwrap();
            let lower = name.to_ascii_lowercase();
            assert_eq!(defined(&lower), Some(value), "{arch} {name}");
            checked += 1;
        }
        assert!(checked >= 40, "{arch}: only {checked} numbers found");
    }
}
