//! Shared helpers: the real release binary, a running server on a free port below 32768,
//! raw TCP exchanges and a small response parser.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Builds (once per test binary) or takes from MOTE_HTTPD_BIN the release binary.
///
/// The tests run as root and start the server without --uid/--gid, so every server they
/// start gets MOTE_ALLOW_ROOT=1 (set here, once, in the test process's environment);
/// tests/sandbox.rs removes it where it checks the refusal.
pub fn bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    allow_root();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("MOTE_HTTPD_BIN") {
            return PathBuf::from(p);
        }
        build("x86_64-unknown-linux-gnu")
    })
    .clone()
}

fn allow_root() {
    static SET: OnceLock<()> = OnceLock::new();
    SET.get_or_init(|| std::env::set_var("MOTE_ALLOW_ROOT", "1"));
}

/// Runs scripts/build-httpd.sh for `target`; returns the binary path it prints.
pub fn build(target: &str) -> PathBuf {
    allow_root();
    let out = Command::new(repo().join("scripts/build-httpd.sh"))
        .arg(target)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/build-httpd.sh");
    assert!(out.status.success(), "scripts/build-httpd.sh {target} failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Fails the test, saying what is missing, when a tool is not installed.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("required tool `{name}` is missing: install it (apt-get install {package}); this test does not skip");
}

/// A free TCP port below 32768 (never in the ephemeral range), distinct per call.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(0, 20000 + (std::process::id() % 400) as u16 * 20, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let p = NEXT.fetch_add(1, Ordering::SeqCst);
        let p = 20000 + (p - 20000) % 12000;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("0.0.0.0", p)).is_ok() {
            return p;
        }
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU16 = AtomicU16::new(0);
        let p = std::env::temp_dir().join(format!(
            "mote-httpd-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub err: PathBuf,
    _dir: TempDir,
}

impl Server {
    /// Starts the server on 127.0.0.1:<free port> serving `root` with extra flags.
    pub fn start(root: &Path, args: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(bin());
        cmd.arg("--listen").arg(format!("127.0.0.1:{port}")).arg("--root").arg(root).args(args);
        Server::spawn(cmd, port)
    }

    pub fn spawn(mut cmd: Command, port: u16) -> Server {
        let dir = TempDir::new("logs");
        let log = dir.path().join("stdout");
        let err = dir.path().join("stderr");
        cmd.stdout(std::fs::File::create(&log).unwrap()).stderr(std::fs::File::create(&err).unwrap());
        let child = cmd.spawn().expect("spawn mote-httpd");
        let mut s = Server { child, port, log, err, _dir: dir };
        s.wait_ready();
        s
    }

    pub fn wait_ready(&mut self) {
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("mote-httpd exited early with {st}: {}", self.stderr());
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                // Readiness is an HTTP answer, not just a connect.
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_ok() {
                    let mut b = Vec::new();
                    let _ = s.read_to_end(&mut b);
                    if b.starts_with(b"HTTP/1.1 ") {
                        return;
                    }
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "server did not become ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// Sends `req` on a new connection and reads until the server closes it.
    pub fn raw(&self, req: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(req).unwrap();
        read_to_close(&mut s)
    }

    /// One request with `Connection: close`; returns the parsed response.
    pub fn get(&self, path: &str, headers: &[&str]) -> Response {
        self.req("GET", path, headers)
    }

    pub fn req(&self, method: &str, path: &str, headers: &[&str]) -> Response {
        let mut r = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for h in headers {
            r.push_str(h);
            r.push_str("\r\n");
        }
        r.push_str("\r\n");
        let bytes = self.raw(r.as_bytes());
        let (resp, _) = parse_response(&bytes, method == "HEAD").unwrap_or_else(|| {
            panic!("no complete response to {method} {path}: {:?}", String::from_utf8_lossy(&bytes))
        });
        resp
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits up to `secs` for exit; returns the exit status code.
    pub fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut b = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => b.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break, // timeout or reset: return what we have
        }
    }
    b
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub head: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses one response from the start of `b`; returns it and the bytes consumed.
pub fn parse_response(b: &[u8], head_only: bool) -> Option<(Response, usize)> {
    let end = b.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&b[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.get(9..12)?.parse().ok()?;
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut r = Response { status, headers, body: Vec::new(), head };
    let len: usize = if head_only || status == 304 || status == 204 {
        0
    } else {
        r.header("content-length").map(|v| v.parse().unwrap()).unwrap_or(b.len() - end)
    };
    if b.len() < end + len {
        return None;
    }
    r.body = b[end..end + len].to_vec();
    Some((r, end + len))
}

/// Parses all responses in a byte stream.
pub fn parse_all(mut b: &[u8], head_only: bool) -> Vec<Response> {
    let mut v = Vec::new();
    while let Some((r, n)) = parse_response(b, head_only) {
        v.push(r);
        b = &b[n..];
    }
    v
}

pub fn curl() -> Command {
    let mut c = Command::new(require_tool("curl", "curl"));
    c.arg("-sS").arg("--max-time").arg("20");
    c
}

/// Bytes 0..n in a repeating non-trivial pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}
