//! Process life: timeouts, connection limits, signals and graceful stop, socket
//! activation, workers, configuration errors, conformance replay, idle memory.

mod common;
use common::*;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn small_site() -> TempDir {
    let d = TempDir::new("life");
    d.write("index.html", b"home\n");
    d.write("a.txt", b"aaa\n");
    d
}

#[test]
fn header_timeout_closes_slow_head_with_408() {
    let d = small_site();
    let s = Server::start(d.path(), &["--header-timeout", "1"]);
    let mut c = s.connect();
    c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t0 = Instant::now();
    let raw = read_to_close(&mut c);
    let el = t0.elapsed();
    assert!(el >= Duration::from_millis(900) && el < Duration::from_secs(4), "closed after {el:?}");
    let (r, _) = parse_response(&raw, false).expect("a 408 response");
    assert_eq!(r.status, 408);
    // A connection that sends nothing is closed too (no response needed).
    let mut c = s.connect();
    let t0 = Instant::now();
    let raw = read_to_close(&mut c);
    assert!(raw.is_empty() && t0.elapsed() < Duration::from_secs(4));
    // The server still serves.
    assert_eq!(s.get("/a.txt", &[]).body, b"aaa\n");
}

#[test]
fn idle_keep_alive_timeout() {
    let d = small_site();
    let s = Server::start(d.path(), &["--idle-timeout", "1", "--header-timeout", "30"]);
    let mut c = s.connect();
    c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let t0 = Instant::now();
    let raw = read_to_close(&mut c);
    let el = t0.elapsed();
    assert_eq!(parse_response(&raw, false).unwrap().0.body, b"aaa\n");
    assert!(el >= Duration::from_millis(900) && el < Duration::from_secs(4), "idle close after {el:?}");
}

#[test]
fn max_conns_sheds_extra_and_recovers() {
    let d = small_site();
    let s = Server::start(d.path(), &["--max-conns", "2"]);
    std::thread::sleep(Duration::from_millis(100)); // the readiness probe's slot is free again
    let mut a = s.connect();
    let mut b = s.connect();
    // Make sure both are accepted and hold their slots.
    for c in [&mut a, &mut b] {
        c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    // The third is shed: 503 and closed, quickly.
    let t0 = Instant::now();
    let raw = s.raw(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.1 503"), "{:?}", String::from_utf8_lossy(&raw));
    assert!(t0.elapsed() < Duration::from_secs(2));
    // The first two still work.
    for c in [&mut a, &mut b] {
        c.write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    }
    // Service resumes once a slot frees.
    drop(a);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.get("/a.txt", &[]).status, 200);
}

#[test]
fn sigterm_finishes_large_download_then_exits_0() {
    let d = TempDir::new("big");
    let data: Vec<u8> = (0..50 * 1024 * 1024u32).map(|i| (i ^ (i >> 11)) as u8).collect();
    d.write("big.bin", &data);
    let mut s = Server::start(d.path(), &["--grace", "30"]);
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::with_capacity(data.len() + 1024);
    let mut buf = vec![0u8; 65536];
    // Read slowly at first, so the response is in flight when the signal comes.
    while got.len() < 1 << 20 {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(5));
    }
    s.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    // No new connections are accepted while stopping.
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.port))
        .map(|mut n| {
            let _ = n.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            n.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            read_to_close(&mut n).is_empty()
        })
        .unwrap_or(true));
    loop {
        let n = c.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let (r, used) = parse_response(&got, false).expect("complete response");
    assert_eq!(used, got.len());
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "body differs");
    assert_eq!(s.wait_exit(10), Some(0));
}

#[test]
fn sigint_and_sigterm_exit_0_when_idle_and_grace_bounds_the_wait() {
    let d = small_site();
    let mut s = Server::start(d.path(), &[]);
    s.signal(libc::SIGINT);
    assert_eq!(s.wait_exit(5), Some(0));
    // A stuck client (half a head) cannot hold the stop past --grace.
    let mut s = Server::start(d.path(), &["--grace", "1", "--header-timeout", "60"]);
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(5), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(4));
}

#[test]
fn sigterm_as_pid_1() {
    let unshare = require_tool("unshare", "util-linux");
    let d = small_site();
    let port = free_port();
    let mut cmd = Command::new(unshare);
    cmd.args(["--pid", "--fork", "--kill-child"]).arg(bin()).args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--root",
        d.path().to_str().unwrap(),
    ]);
    let mut s = Server::spawn(cmd, port);
    // The server is the only child of unshare and PID 1 in its namespace.
    let kids = std::fs::read_to_string(format!("/proc/{}/task/{}/children", s.pid(), s.pid())).unwrap();
    let inner: i32 = kids.split_whitespace().next().expect("child").parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{inner}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.trim_end().ends_with("\t1"), "{nspid}");
    unsafe { libc::kill(inner, libc::SIGTERM) };
    assert_eq!(s.wait_exit(5), Some(0), "PID 1 must stop on SIGTERM");
}

#[test]
fn socket_activation_uses_fd_3() {
    let d = small_site();
    let listener = std::net::TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = free_port(); // --listen points elsewhere: must be ignored
    use std::os::fd::AsRawFd;
    let lfd = listener.as_raw_fd();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"")
        .arg(bin())
        .args(["--listen", &format!("127.0.0.1:{other}"), "--root", d.path().to_str().unwrap()]);
    // SAFETY: dup2 is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps FD_CLOEXEC: clear it explicitly.
            if (lfd != 3 && libc::dup2(lfd, 3) < 0) || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let s = Server::spawn(cmd, port);
    drop(listener);
    assert_eq!(s.get("/a.txt", &[]).body, b"aaa\n");
    assert!(std::net::TcpStream::connect(("127.0.0.1", other)).is_err(), "--listen must be unused");

    // LISTEN_PID for another process: fd 3 is ignored and --listen is bound.
    let port2 = free_port();
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port2}"), "--root", d.path().to_str().unwrap()])
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1");
    let s2 = Server::spawn(cmd, port2);
    assert_eq!(s2.get("/a.txt", &[]).status, 200);
}

#[test]
fn workers_serve_restart_and_stop() {
    let d = small_site();
    let mut s = Server::start(d.path(), &["--workers", "2"]);
    for _ in 0..20 {
        assert_eq!(s.get("/a.txt", &[]).status, 200);
    }
    let kids = std::fs::read_to_string(format!("/proc/{}/task/{}/children", s.pid(), s.pid())).unwrap();
    let pids: Vec<i32> = kids.split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{kids}");
    // A worker that dies is replaced.
    unsafe { libc::kill(pids[0], libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(1500));
    let kids = std::fs::read_to_string(format!("/proc/{}/task/{}/children", s.pid(), s.pid())).unwrap();
    assert_eq!(kids.split_whitespace().count(), 2, "{kids}");
    for _ in 0..10 {
        assert_eq!(s.get("/a.txt", &[]).status, 200);
    }
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(5), Some(0));
}

fn run_cfg(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut c = Command::new(bin());
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut ch = c.spawn().unwrap();
    let t0 = Instant::now();
    loop {
        if let Some(_) = ch.try_wait().unwrap() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            let _ = ch.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = ch.wait_with_output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

#[test]
fn config_errors_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &[(&str, &str)], &str)] = &[
        (&["--bogus"], &[], "--bogus"),
        (&["--max-conns", "lots"], &[], "--max-conns"),
        (&["--max-conns=0"], &[], "--max-conns"),
        (&["--listen", "1.2.3:80"], &[], "--listen"),
        (&["--listen", "[::1:80"], &[], "--listen"),
        (&["--log", "xml"], &[], "--log"),
        (&["--header", "Bad Header: x"], &[], "--header"),
        (&["--header", "X-A: a\u{7}b"], &[], "--header"),
        (&["--buf-size"], &[], "--buf-size"),
        (&["--spa=yes"], &[], "--spa"),
        (&[], &[("MOTE_IDLE_TIMEOUT", "soon")], "MOTE_IDLE_TIMEOUT"),
        (&[], &[("MOTE_SPA", "maybe")], "MOTE_SPA"),
    ];
    for (args, env, name) in cases {
        let (code, out, err) = run_cfg(args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(err.contains(name), "{err:?} should name {name}");
        assert!(out.is_empty());
    }
    let (code, out, _) = run_cfg(&["--help"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--listen") && out.contains("--max-body"));
    let (code, out, _) = run_cfg(&["--version"], &[]);
    assert_eq!((code, out.trim()), (Some(0), concat!("mote-httpd ", env!("CARGO_PKG_VERSION"))));
    // Start-up failures are reported, with exit code 1.
    let (code, _, err) = run_cfg(&["--root", "/nonexistent/dir", "--listen", "127.0.0.1:1"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/dir"), "{err}");
}

#[test]
fn llhttp_conformance_replay() {
    let py = require_tool("python3", "python3");
    let shared = std::env::var("MOTE_SHARED").map(std::path::PathBuf::from).unwrap_or_else(|_| repo().join("../shared"));
    let tool = shared.join("tools/llhttp-replay");
    assert!(tool.is_file(), "{} is missing (set MOTE_SHARED to the shared directory)", tool.display());
    let d = small_site();
    let s = Server::start(d.path(), &["--log", "off"]);
    let out = Command::new(py).arg(&tool).arg("127.0.0.1").arg(s.port.to_string()).arg("-v").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 0 failed"), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // The tool counts a connect error as a rejection: make sure we really answered.
    assert!(!text.contains("connect-error"), "{text}");
    let answered = text.lines().filter(|l| l.contains("-> [2") || l.contains("-> [4") || l.contains("-> [5")).count();
    assert!(answered > 40, "too few fixtures were answered ({answered}): {text}");
    assert!(out.status.success());
}

#[test]
fn idle_memory_is_small() {
    let d = small_site();
    let s = Server::start(d.path(), &["--max-conns", "10000"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let rss: u64 = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    eprintln!("idle VmRSS with 10000 slots: {rss} kB");
    assert!(rss <= 200, "idle RSS {rss} kB");
}

#[test]
fn stalled_reader_is_closed_after_write_timeout() {
    let d = TempDir::new("stall");
    d.write("big.bin", &pattern(64 << 20));
    let s = Server::start(d.path(), &["--write-timeout", "1"]);
    let mut c = s.connect();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // Read nothing for a while: the socket buffers fill and the server stalls.
    std::thread::sleep(Duration::from_millis(3500));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(total < 64 << 20, "the stalled response should have been cut ({total} bytes)");
    // Others are unaffected.
    assert_eq!(s.get("/big.bin", &["Range: bytes=0-3"]).body.len(), 4);
}
