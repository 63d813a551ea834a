//! Helpers for the abuse, smuggling and traversal suites, on top of `common`: raw
//! exchanges that tell a close from a timeout, a health prober that runs beside an
//! attack, /proc readings, and running external tools with a deadline.
#![allow(dead_code)]

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a raw exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed the connection (orderly EOF or a reset after its response).
    Closed,
    /// Nothing more arrived within the timeout and the connection is still open.
    Open,
}

/// Writes `req` in one write on a new connection, reads until close or until `quiet`
/// passes with no data. Returns the bytes and how it ended.
pub fn exchange(port: u16, req: &[u8], quiet: Duration) -> (Vec<u8>, End) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(quiet)).unwrap();
    s.write_all(req).unwrap();
    let mut b = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (b, End::Closed),
            Ok(n) => b.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return (b, End::Open)
            }
            Err(_) => return (b, End::Closed), // reset
        }
    }
}

/// Reads /proc/PID/stat: utime + stime in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

pub fn rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// One GET on a new connection with a whole-exchange deadline; Ok(status) or Err(why).
pub fn timed_get(port: u16, path: &str, deadline: Duration) -> Result<(u16, Vec<u8>), String> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), deadline).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(deadline)).unwrap();
    s.set_write_timeout(Some(deadline)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut b = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if t0.elapsed() > deadline {
            return Err(format!("no complete response within {deadline:?}: {:?}", String::from_utf8_lossy(&b)));
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => b.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read after {:?}: {e}; got {:?}", t0.elapsed(), String::from_utf8_lossy(&b))),
        }
    }
    if t0.elapsed() > deadline {
        return Err(format!("response took {:?}", t0.elapsed()));
    }
    match parse_response(&b, false) {
        Some((r, _)) => Ok((r.status, r.body)),
        None => Err(format!("incomplete response: {:?}", String::from_utf8_lossy(&b))),
    }
}

/// A thread that GETs `path` every `every` on a fresh connection while an attack runs;
/// every probe must answer 200 with `body` within `deadline`.
pub struct Prober {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    results: Arc<Mutex<(usize, Vec<String>, Duration)>>,
}

impl Prober {
    pub fn start(port: u16, path: &'static str, body: &'static [u8], every: Duration, deadline: Duration) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let results = Arc::new(Mutex::new((0usize, Vec::new(), Duration::ZERO)));
        let (st, rs) = (stop.clone(), results.clone());
        let handle = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let t0 = Instant::now();
                let r = timed_get(port, path, deadline);
                let el = t0.elapsed();
                let mut g = rs.lock().unwrap();
                g.0 += 1;
                g.2 = g.2.max(el);
                let n = g.0;
                match r {
                    Ok((200, b)) if b == body => {}
                    Ok((st, b)) => g.1.push(format!("probe {}: status {st}, body {:?}", n, String::from_utf8_lossy(&b))),
                    Err(e) => g.1.push(format!("probe {}: {e}", n)),
                }
                drop(g);
                if let Some(rest) = every.checked_sub(el) {
                    std::thread::sleep(rest);
                }
            }
        });
        Prober { stop, handle: Some(handle), results }
    }

    /// Stops and returns (probes, failures, slowest).
    pub fn finish(mut self) -> (usize, Vec<String>, Duration) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap();
        let g = self.results.lock().unwrap();
        (g.0, g.1.clone(), g.2)
    }
}

/// Runs a tool to completion with a deadline (killed past it); returns
/// (exit code, stdout, stderr).
pub fn run_tool(mut cmd: Command, deadline: Duration) -> (Option<i32>, String, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let desc = format!("{cmd:?}");
    let mut ch = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
    let out = ch.stdout.take().unwrap();
    let err = ch.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::BufReader::new(out).read_to_string(&mut s);
        s
    });
    let te = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::BufReader::new(err).read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let code = loop {
        if let Some(st) = ch.try_wait().unwrap() {
            break st.code();
        }
        if t0.elapsed() > deadline {
            let _ = ch.kill();
            let _ = ch.wait();
            panic!("{desc} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, to.join().unwrap(), te.join().unwrap())
}

/// The server must still be running (not crashed) and have written nothing on stderr.
pub fn assert_alive(s: &mut Server) {
    assert_running(s);
    assert_eq!(s.stderr(), "", "mote-httpd wrote to stderr");
}

/// The server must still be running (not crashed).
pub fn assert_running(s: &mut Server) {
    if let Some(st) = s.child.try_wait().unwrap() {
        panic!("mote-httpd exited: {st}; stderr: {}", s.stderr());
    }
}

pub fn write_site(d: &Path) {
    std::fs::write(d.join("index.html"), b"home\n").unwrap();
    std::fs::write(d.join("a.txt"), b"aaa\n").unwrap();
}
