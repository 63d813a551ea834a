//! Abuse and load against the real binary: slow clients (slowhttptest slowloris, slow
//! read, Range flood) while a prober keeps getting answers; connection floods past
//! --max-conns and past RLIMIT_NOFILE without crash or busy loop; pipelined and
//! keep-alive load (h2load, ab, wrk) with zero failures over 200,000+ requests;
//! SIGTERM under load finishing every started response; a short network fuzz campaign
//! (bench/netfuzz.py). The heavy tests run one at a time (a file-wide lock) so that
//! they do not starve each other on a small machine; no throughput is ever asserted.

mod common;
mod support_abuse;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use support_abuse::*;

fn heavy() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn site(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    write_site(d.path());
    d.write("big.bin", &pattern(8 << 20));
    d
}

/// Strips ANSI colour sequences (slowhttptest colours its report).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            if it.peek() == Some(&'[') {
                it.next();
                while let Some(c) = it.next() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Last value of a "name: N" line in a slowhttptest report.
fn sht_field(report: &str, name: &str) -> Vec<u64> {
    report
        .lines()
        .filter_map(|l| l.trim().strip_prefix(name).map(|r| r.trim_start_matches(':').trim().to_string()))
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// Runs slowhttptest against the server for `secs` (cycling through `rounds` of
/// arguments when one ends early, e.g. because the server answered every connection)
/// while probing /index.html every 200 ms (2 s deadline each); returns the reports.
fn slow_attack(s: &mut Server, what: &str, rounds: &[&[&str]], secs: u64) -> String {
    let tool = require_tool("slowhttptest", "slowhttptest");
    let prober = Prober::start(s.port, "/index.html", b"home\n", Duration::from_millis(200), Duration::from_secs(2));
    let t0 = Instant::now();
    let mut reports = String::new();
    let mut n = 0;
    while t0.elapsed() < Duration::from_secs(secs.saturating_sub(1)) {
        let left = secs.saturating_sub(t0.elapsed().as_secs()).max(2);
        let mut cmd = Command::new(&tool);
        cmd.args(rounds[n % rounds.len()]).args(["-l", &left.to_string(), "-p", "3"]);
        let (code, out, err) = run_tool(cmd, Duration::from_secs(left + 40));
        let report = strip_ansi(&out);
        assert!(report.contains("Exit status"), "{what}: no slowhttptest report (exit {code:?}): {err}");
        reports.push_str(&report);
        n += 1;
    }
    let (probes, failures, slowest) = prober.finish();
    let tail: Vec<&str> = reports.lines().rev().take(9).collect();
    eprintln!("{what}: {n} slowhttptest round(s) in {:?}, {probes} probes, slowest {slowest:?}\n{}", t0.elapsed(), tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    assert!(failures.is_empty(), "{what}: {} of {probes} probes failed: {failures:#?}", failures.len());
    assert!(probes as u64 >= secs * 3, "{what}: only {probes} probes ran");
    assert_alive(s);
    reports
}

#[test]
fn slowloris_slow_read_and_range_flood_do_not_starve_others() {
    let _g = heavy();
    let d = site("slow");
    let url = |s: &Server, p: &str| format!("http://127.0.0.1:{}{p}", s.port);

    // Slowloris: 300 connections, each adding a header line every 3 s, for up to 25 s.
    // --header-timeout 15 must reclaim them all (408 and close) before the end.
    let mut s = Server::start(d.path(), &["--log", "off", "--header-timeout", "15"]);
    let u = url(&s, "/index.html");
    let rep = slow_attack(&mut s, "slowloris", &[&["-H", "-c", "300", "-i", "3", "-r", "150", "-s", "4096", "-u", &u]], 25);
    let connected = sht_field(&rep, "connected").into_iter().max().unwrap_or(0);
    assert!(connected >= 250, "slowloris never got its connections up (max connected {connected})");
    assert!(rep.contains("No open connections left"), "--header-timeout did not reclaim the slowloris connections");
    drop(s);

    // Slow read: 200 connections with tiny receive windows reading 32 bytes every 2 s
    // from an 8 MB file, 3 pipelined requests each.
    let mut s = Server::start(d.path(), &["--log", "off", "--write-timeout", "30"]);
    let u = url(&s, "/big.bin");
    let rep = slow_attack(&mut s, "slow read", &[&["-X", "-c", "200", "-r", "100", "-w", "16", "-y", "32", "-n", "2", "-z", "32", "-k", "3", "-u", &u]], 15);
    let connected = sht_field(&rep, "connected").into_iter().max().unwrap_or(0);
    assert!(connected >= 150, "slow read never got its connections up (max connected {connected})");
    drop(s);

    // Range flood (Apache killer): rounds of 300 connections, each asking for hundreds
    // (or thousands: then the head is too large, 431) of overlapping ranges of an 8 MB
    // file, repeated for 15 s. A request the server answers ends that connection's
    // attack, hence the rounds.
    let mut s = Server::start(d.path(), &["--log", "off", "--write-timeout", "5"]);
    let u = url(&s, "/big.bin");
    slow_attack(
        &mut s,
        "range flood",
        &[&["-R", "-c", "300", "-a", "10", "-b", "400", "-r", "150", "-u", &u], &["-R", "-c", "300", "-a", "10", "-b", "3000", "-r", "150", "-u", &u]],
        15,
    );
    // A many-range request is answered sanely (never 8 MB * 3000).
    let ranges: Vec<String> = (0..200).map(|i| format!("{}-{}", i * 7, 8_000_000)).collect();
    let r = s.get("/big.bin", &[&format!("Range: bytes={}", ranges.join(","))]);
    assert!(r.body.len() <= 8 << 20, "{} bytes for a range flood request", r.body.len());
}

#[test]
fn slow_post_bodies_are_cut_at_header_timeout() {
    let _g = heavy();
    let d = site("slowbody");
    // slowhttptest -B: 200 POSTs announcing 8 KB bodies, sending a few bytes every 2 s.
    // The whole body must arrive within --header-timeout (5 s), so every one of them is
    // closed long before the 15 s attack ends, while the prober is served throughout.
    let mut s = Server::start(d.path(), &["--log", "off", "--header-timeout", "5"]);
    let u = format!("http://127.0.0.1:{}/index.html", s.port);
    let rep = slow_attack(&mut s, "slow body", &[&["-B", "-c", "200", "-i", "2", "-r", "100", "-s", "8192", "-u", &u]], 15);
    let connected = sht_field(&rep, "connected").into_iter().max().unwrap_or(0);
    assert!(connected >= 150, "slow body never got its connections up (max connected {connected})");
    assert!(rep.contains("No open connections left"), "slow bodies were not cut by --header-timeout");
    // The same by hand: one byte a second, each a little progress, still cut.
    let s = Server::start(d.path(), &["--log", "off", "--header-timeout", "2"]);
    let mut c = s.connect();
    c.write_all(b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let t0 = Instant::now();
    let closed_after = loop {
        if c.write_all(b"x").is_err() {
            break t0.elapsed();
        }
        let mut b = [0u8; 256];
        match c.read(&mut b) {
            Ok(0) => break t0.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break t0.elapsed(),
        }
        assert!(t0.elapsed() < Duration::from_secs(8), "a body trickled at 1 byte/s is still open after {:?}", t0.elapsed());
        std::thread::sleep(Duration::from_millis(900));
    };
    assert!(closed_after >= Duration::from_millis(900), "cut too early: {closed_after:?}");
    eprintln!("trickled body cut after {closed_after:?} (--header-timeout 2)");
}

fn with_nofile(mut cmd: Command, n: u64) -> Command {
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let l = libc::rlimit { rlim_cur: n, rlim_max: n };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// One keep-alive GET on an open connection; returns the status.
fn ka_get(c: &mut TcpStream, path: &str) -> u16 {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while parse_response(&got, false).is_none() {
        let n = c.read(&mut b).expect("read keep-alive response");
        assert!(n > 0, "closed before a response to {path}");
        got.extend_from_slice(&b[..n]);
    }
    parse_response(&got, false).unwrap().0.status
}

/// Polls until `n` GETs in a row answer 200 (or panics after `secs`).
fn wait_service(port: u16, secs: u64, n: usize) {
    let t0 = Instant::now();
    let mut ok = 0;
    let mut last = String::new();
    while ok < n {
        match timed_get(port, "/index.html", Duration::from_secs(2)) {
            Ok((200, b)) if b == b"home\n" => ok += 1,
            r => {
                ok = 0;
                last = format!("{r:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "service did not resume within {secs} s: {last}");
    }
}

#[test]
fn connection_flood_past_max_conns_sheds_idles_and_recovers() {
    let _g = heavy();
    let d = site("flood");
    let mut s = Server::start(d.path(), &["--log", "off", "--max-conns", "40", "--idle-timeout", "60", "--header-timeout", "60"]);
    std::thread::sleep(Duration::from_millis(200)); // the readiness probe's slot is free again
    // 40 keep-alive connections take every slot (each answered once, so surely accepted).
    let mut holders: Vec<TcpStream> = (0..40).map(|_| s.connect()).collect();
    for c in holders.iter_mut() {
        assert_eq!(ka_get(c, "/a.txt"), 200);
    }
    // 400 more: each gets the canned 503 and a close, quickly.
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let port = s.port;
            std::thread::spawn(move || {
                let mut shed = 0;
                let mut other = Vec::new();
                for _ in 0..100 {
                    let (raw, end) = exchange(port, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(3));
                    if raw.starts_with(b"HTTP/1.1 503") && end == End::Closed {
                        shed += 1;
                    } else {
                        other.push(String::from_utf8_lossy(&raw[..raw.len().min(40)]).to_string());
                    }
                }
                (shed, other)
            })
        })
        .collect();
    let mut shed = 0;
    for t in flood {
        let (n, other) = t.join().unwrap();
        assert!(other.is_empty(), "flood connections not shed with 503 + close: {other:?}");
        shed += n;
    }
    assert_eq!(shed, 400);
    // 200 more sit open without sending anything, past the limit: no busy loop.
    let idle: Vec<TcpStream> = (0..200).filter_map(|_| TcpStream::connect(("127.0.0.1", s.port)).ok()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let t0 = cpu_ticks(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(s.pid()) - t0;
    assert!(used < 20, "server used {used} ticks in 2 s with {} idle flood connections", idle.len());
    // The holders are still served.
    for c in holders.iter_mut().take(5) {
        assert_eq!(ka_get(c, "/index.html"), 200);
    }
    drop(idle);
    drop(holders);
    wait_service(s.port, 5, 20);
    assert_alive(&mut s);
    eprintln!("max-conns flood: 400 shed with 503, {used} ticks in 2 s while flooded");
}

#[test]
fn connection_flood_past_fd_limit_no_spin_and_recovers() {
    let _g = heavy();
    let d = site("fdflood");
    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap(), "--log", "off", "--max-conns", "1000"]);
    let mut s = Server::spawn(with_nofile(cmd, 64), port);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.pid())).unwrap();
    assert!(limits.lines().any(|l| l.starts_with("Max open files") && l.split_whitespace().nth(3) == Some("64")), "{limits}");
    std::thread::sleep(Duration::from_millis(200));
    let mut first = s.connect();
    assert_eq!(ka_get(&mut first, "/healthz"), 200);
    // 300 connections against ~58 free descriptors; the rest wait in the backlog.
    let mut flood = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        match TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) {
            Ok(c) => flood.push(c),
            Err(_) => refused += 1,
        }
    }
    // Some of them send a request, some half a request, some nothing.
    for (i, c) in flood.iter_mut().enumerate() {
        let _ = match i % 3 {
            0 => c.write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
            1 => c.write_all(b"GET /index.html HTTP/1.1\r\n"),
            _ => Ok(()),
        };
    }
    std::thread::sleep(Duration::from_millis(700));
    // Descriptors below the limit are all in use (inherited ones above it may exist).
    let fds = std::fs::read_dir(format!("/proc/{}/fd", s.pid()))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&n| n < 64)
        .count();
    assert!(fds >= 60, "the flood should use up the descriptors: only {fds} of 64 open");
    let (t0, l0) = (cpu_ticks(s.pid()), s.stderr().lines().count());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(s.pid()) - t0;
    let lines = s.stderr().lines().count() - l0;
    assert!(used < 20, "server used {used} ticks in 2 s while out of descriptors");
    // Its stderr notice is rate-limited (one per second of backoff), not a flood.
    assert!(lines <= 3, "{lines} stderr lines in 2 s out of descriptors: {}", s.stderr());
    // An accepted connection is still served (health needs no file descriptor).
    assert_eq!(ka_get(&mut first, "/healthz"), 200);
    assert_running(&mut s);
    // The flood stops: every backlogged connection gets handled or closed, and normal
    // service resumes.
    drop(flood);
    drop(first);
    wait_service(port, 10, 20);
    let t0 = cpu_ticks(s.pid());
    std::thread::sleep(Duration::from_secs(1));
    assert!(cpu_ticks(s.pid()) - t0 < 10, "busy after the flood");
    assert_running(&mut s);
    // The only complaint on stderr is the accept notice.
    let err = s.stderr();
    assert!(err.lines().all(|l| l.starts_with("mote-httpd: accept: out of descriptors")), "{err}");
    eprintln!("fd flood: 300 connections ({refused} not connected) against RLIMIT_NOFILE 64; {fds} fds, {used} ticks in 2 s");
}

/// "key: value" numbers from "requests: 100 total, 100 started, ..." lines.
fn h2load_counts(out: &str) -> std::collections::HashMap<String, u64> {
    let mut m = std::collections::HashMap::new();
    for prefix in ["requests:", "status codes:"] {
        let line = out.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` line in h2load output:\n{out}"));
        for part in line[prefix.len()..].split(',') {
            let mut w = part.split_whitespace();
            if let (Some(n), Some(k)) = (w.next(), w.next()) {
                m.insert(k.to_string(), n.parse().unwrap());
            }
        }
    }
    m
}

fn ab_field(out: &str, name: &str) -> Option<u64> {
    out.lines().find(|l| l.starts_with(name)).and_then(|l| l[name.len()..].trim().split_whitespace().next()?.parse().ok())
}

const WRK_LUA: &str = r#"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("LUA ok=%d bad=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    o, b, e.connect, e.read, e.write, e.status, e.timeout))
end
"#;

#[test]
fn pipelined_and_keep_alive_load_has_zero_failures() {
    let _g = heavy();
    let h2load = require_tool("h2load", "nghttp2-client");
    let ab = require_tool("ab", "apache2-utils");
    let wrk = require_tool("wrk", "wrk");
    let d = site("load");
    let mut s = Server::start(d.path(), &["--log", "off"]);
    let u = format!("http://127.0.0.1:{}/index.html", s.port);
    let mut total = 0u64;

    // h2load, HTTP/1.1 pipelining: 100,000 requests, 50 connections, 10 in flight each.
    for (n, c, m) in [(100_000u64, "50", "10"), (50_000, "20", "1")] {
        let mut cmd = Command::new(&h2load);
        cmd.args(["--h1", "-n", &n.to_string(), "-c", c, "-m", m, &u]);
        let (code, out, err) = run_tool(cmd, Duration::from_secs(120));
        let k = h2load_counts(&out);
        eprintln!("h2load -n {n} -c {c} -m {m}: {}", out.lines().filter(|l| l.starts_with("requests:") || l.starts_with("status codes:") || l.starts_with("finished")).collect::<Vec<_>>().join(" | "));
        assert_eq!(code, Some(0), "h2load failed: {err}");
        assert_eq!((k["succeeded"], k["failed"], k["errored"], k["timeout"]), (n, 0, 0, 0), "{out}");
        assert_eq!((k["2xx"], k["3xx"], k["4xx"], k["5xx"]), (n, 0, 0, 0), "{out}");
        total += k["succeeded"];
    }

    // ab keep-alive: 50,000 requests over 50 connections.
    let mut cmd = Command::new(&ab);
    cmd.args(["-k", "-n", "50000", "-c", "50", &u]);
    let (code, out, err) = run_tool(cmd, Duration::from_secs(120));
    assert_eq!(code, Some(0), "ab failed: {err}\n{out}");
    assert_eq!(ab_field(&out, "Complete requests:"), Some(50_000), "{out}");
    assert_eq!(ab_field(&out, "Failed requests:"), Some(0), "{out}");
    assert_eq!(ab_field(&out, "Keep-Alive requests:"), Some(50_000), "every request on a kept-alive connection: {out}");
    assert!(!out.contains("Non-2xx responses"), "{out}");
    assert!(!out.contains("Write errors:") || ab_field(&out, "Write errors:") == Some(0), "{out}");
    eprintln!("ab -k -n 50000 -c 50: 50000 complete, 0 failed");
    total += 50_000;

    // wrk keep-alive for 5 s, every status counted by a Lua script.
    let lua = d.write("count.lua", WRK_LUA.as_bytes());
    let mut cmd = Command::new(&wrk);
    cmd.args(["-t", "2", "-c", "50", "-d", "5s", "-s", lua.to_str().unwrap(), &u]);
    let (code, out, err) = run_tool(cmd, Duration::from_secs(60));
    assert_eq!(code, Some(0), "wrk failed: {err}\n{out}");
    let lua_line = out.lines().find(|l| l.starts_with("LUA ")).unwrap_or_else(|| panic!("no Lua summary:\n{out}"));
    let f: std::collections::HashMap<&str, u64> =
        lua_line[4..].split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k, v.parse().unwrap())).collect();
    assert!(f["ok"] > 0, "{out}");
    assert_eq!((f["bad"], f["connect"], f["read"], f["write"], f["status"], f["timeout"]), (0, 0, 0, 0, 0, 0), "{out}");
    assert!(!out.contains("Non-2xx") && !out.contains("Socket errors"), "{out}");
    eprintln!("wrk -c 50 -d 5s: {} ok, 0 bad, 0 socket errors", f["ok"]);
    total += f["ok"];

    assert!(total >= 200_000, "{total}");
    assert_alive(&mut s);
    eprintln!("load total: {total} requests, 0 failed");
}

#[test]
fn sigterm_under_load_completes_started_responses_and_exits_0() {
    let _g = heavy();
    let h2load = require_tool("h2load", "nghttp2-client");
    let d = site("term");
    let big = pattern(24 << 20);
    d.write("huge.bin", &big);
    d.write("mid.bin", &pattern(300_000));
    let grace = 20u64;
    let mut s = Server::start(d.path(), &["--log", "off", "--grace", &grace.to_string()]);
    let port = s.port;

    // Background load: h2load pipelining (its counts are reported, not asserted: requests
    // it had queued on a connection the server then closed never started).
    let mut load = Command::new(&h2load)
        .args(["--h1", "-n", "100000000", "-c", "20", "-m", "8", &format!("http://127.0.0.1:{port}/index.html")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Own pipelined clients: bursts of 6 requests (small and 300 KB files); every
    // response whose first byte arrived must arrive whole.
    let stop = Arc::new(AtomicBool::new(false));
    let complete = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, complete) = (stop.clone(), complete.clone());
        clients.push(std::thread::spawn(move || -> Result<(), String> {
            let burst = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\nHEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
            while !stop.load(Ordering::SeqCst) {
                let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else { return Ok(()) }; // listener closed
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                loop {
                    if c.write_all(burst).is_err() {
                        break;
                    }
                    let (n, closed) = read_burst_mixed(&mut c)?;
                    complete.fetch_add(n, Ordering::SeqCst);
                    if closed {
                        break;
                    }
                }
            }
            Ok(())
        }));
    }

    // Large downloads with curl, rate-limited so they are in flight at the signal.
    let mut curls = Vec::new();
    for i in 0..3 {
        let out = d.path().join(format!("dl{i}"));
        let ch = curl()
            .args(["--max-time", "60", "--limit-rate", "6M", "-o", out.to_str().unwrap(), "-w", "%{http_code} %{size_download}"])
            .arg(format!("http://127.0.0.1:{port}/huge.bin"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        curls.push((ch, out));
    }
    // Wait until every download has started (bytes on disk) and the load runs.
    let t0 = Instant::now();
    while curls.iter().any(|(_, p)| std::fs::metadata(p).map(|m| m.len() < (1 << 20)).unwrap_or(true)) {
        assert!(t0.elapsed() < Duration::from_secs(20), "downloads did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = complete.load(Ordering::SeqCst);
    assert!(before > 0, "pipelined clients got nothing before the signal");

    let t_sig = Instant::now();
    s.signal(libc::SIGTERM);
    let code = s.wait_exit(grace + 5);
    let stopped_after = t_sig.elapsed();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(code, Some(0), "exit status after SIGTERM: {}", s.stderr());
    assert!(stopped_after < Duration::from_secs(grace), "took {stopped_after:?}, past --grace {grace}");

    for (i, (ch, p)) in curls.into_iter().enumerate() {
        let out = ch.wait_with_output().unwrap();
        let w = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "download {i} failed: {w} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(w, format!("200 {}", big.len()));
        assert!(std::fs::read(&p).unwrap() == big, "download {i} corrupted");
    }
    let mut errors = Vec::new();
    for c in clients {
        if let Err(e) = c.join().unwrap() {
            errors.push(e);
        }
    }
    assert!(errors.is_empty(), "started responses cut short: {errors:#?}");
    // The listener is gone.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "still accepting after exit");
    // h2load ends by itself once every connection is refused; its "done" requests are
    // the responses it received whole: all must be 2xx (no 5xx/4xx while stopping).
    let t0 = Instant::now();
    while load.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = load.kill();
    let out = load.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("requests:") {
        let k = h2load_counts(&text);
        assert_eq!(k["succeeded"], k["done"], "h2load got non-2xx responses while stopping: {text}");
        assert_eq!((k["4xx"], k["5xx"]), (0, 0), "{text}");
        assert!(k["done"] > 0, "{text}");
    }
    eprintln!(
        "SIGTERM under load: exit 0 after {stopped_after:?}; 3 x 24 MB downloads intact; {} pipelined responses complete ({before} before the signal); h2load: {}",
        complete.load(Ordering::SeqCst),
        text.lines().filter(|l| l.starts_with("requests:")).collect::<Vec<_>>().join("")
    );
}

/// The burst in the shutdown test: 6 responses, the 5th to a HEAD (no body).
fn read_burst_mixed(c: &mut TcpStream) -> Result<(usize, bool), String> {
    let mut got = Vec::new();
    let mut b = vec![0u8; 65536];
    loop {
        // Parse as far as possible.
        let mut rest = &got[..];
        let mut n = 0;
        let mut closing = false;
        while n < 6 {
            match parse_response(rest, n == 4) {
                Some((r, k)) => {
                    closing |= r.header("connection") == Some("close");
                    rest = &rest[k..];
                    n += 1;
                }
                None => break,
            }
        }
        if n == 6 && rest.is_empty() {
            return Ok((6, closing));
        }
        match c.read(&mut b) {
            Ok(0) | Err(_) => {
                return if rest.is_empty() {
                    Ok((n, true))
                } else {
                    Err(format!("stream ended inside response {} after {n} complete: {:?}", n + 1, String::from_utf8_lossy(&rest[..rest.len().min(200)])))
                };
            }
            Ok(k) => got.extend_from_slice(&b[..k]),
        }
    }
}

#[test]
fn netfuzz_short_campaign() {
    let _g = heavy();
    let py = require_tool("python3", "python3");
    let seed = std::env::var("MOTE_NETFUZZ_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    });
    let secs = std::env::var("MOTE_NETFUZZ_SECS").unwrap_or_else(|_| "30".into());
    let out_dir = TempDir::new("netfuzz");
    let mut cmd = Command::new(py);
    cmd.arg(repo().join("bench/netfuzz.py"))
        .args(["--bin", bin().to_str().unwrap(), "--duration", &secs, "--seed", &seed.to_string()])
        .args(["--port", &free_port().to_string(), "--out", out_dir.path().to_str().unwrap()]);
    let (code, out, err) = run_tool(cmd, Duration::from_secs(secs.parse::<u64>().unwrap_or(30) + 60));
    eprintln!("{}{}", out, err);
    let json = out.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no netfuzz summary: {out}{err}"));
    let num = |k: &str| -> u64 {
        let i = json.find(&format!("\"{k}\": ")).unwrap_or_else(|| panic!("{k} missing in {json}")) + k.len() + 4;
        json[i..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    assert_eq!((num("crashes"), num("hangs"), num("stuck")), (0, 0, 0), "netfuzz seed {seed} (rerun with MOTE_NETFUZZ_SEED={seed}): {json}");
    assert!(json.contains("\"final_health\": true"), "{json}");
    assert!(num("execs") >= 500, "too few executions: {json}");
    assert_eq!(code, Some(0), "{json}");
}
