//! Shared helpers for the tests that run images under real container runtimes
//! (runtime_*.rs, up_*.rs, kube_*.rs).
//!
//! Every helper fails loudly: a missing tool or a daemon that is not running is a test
//! failure that says what to install or start, never a silent skip.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a container may take to answer its first HTTP 200. Cold starts measure
/// 2–120 ms here; the margin covers a loaded 2-core CI machine pulling layers.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

pub const DOCKER_SOCK_DEFAULT: &str = "unix:///run/mote-rt/docker.sock";
pub const CONTAINERD_SOCK_DEFAULT: &str = "/run/mote-rt/containerd/containerd.sock";
pub const REGISTRY_DEFAULT: &str = "127.0.0.1:5050";

/// The uid every image runs as (distroless "nonroot").
pub const NONROOT: u32 = 65532;

/// Panics with an install hint unless `name` is on PATH.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in
        std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
    {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{name}` is not installed (not on PATH). Install the container tools with `./x deps` \
         (apt-get install crun runc skopeo umoci podman conmon catatonit netavark aardvark-dns \
         slirp4netns iptables docker.io containerd docker-registry)"
    );
}

pub fn docker_host() -> String {
    std::env::var("MOTE_DOCKER_HOST").unwrap_or_else(|_| DOCKER_SOCK_DEFAULT.to_string())
}

pub fn containerd_address() -> String {
    std::env::var("MOTE_CONTAINERD_ADDRESS").unwrap_or_else(|_| CONTAINERD_SOCK_DEFAULT.to_string())
}

pub fn registry_addr() -> String {
    std::env::var("MOTE_REGISTRY").unwrap_or_else(|_| REGISTRY_DEFAULT.to_string())
}

/// Panics unless the daemon behind `socket` (a path, or unix://path) accepts connections.
pub fn require_socket(what: &str, socket: &str) {
    let path = socket.strip_prefix("unix://").unwrap_or(socket);
    if let Err(e) = std::os::unix::net::UnixStream::connect(path) {
        panic!("{what} is not running: cannot connect to {path}: {e}. Start it with `scripts/runtimes.sh start`");
    }
}

/// Runs a command to completion; panics with its stderr when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = output(cmd);
    if !out.status.success() {
        panic!(
            "command failed ({}): {:?}\nstdout: {}\nstderr: {}",
            out.status,
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, returning its output whatever the exit status (for clean-up).
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// One HTTP/1.1 GET to 127.0.0.1:`port` over a fresh connection; returns status and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    http_get_addr(SocketAddr::from(([127, 0, 0, 1], port)), path)
}

/// Like [`http_get`], to a "host:port" address.
pub fn http_get_at(addr: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use std::net::ToSocketAddrs;
    let a = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {addr}")))?;
    http_get_addr(a, path)
}

fn http_get_addr(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "not an HTTP response: {:?}",
                &text[..text.len().min(80)]
            ))
        })?;
    let body = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => buf[i + 4..].to_vec(),
        None => Vec::new(),
    };
    Ok((status, body))
}

/// Polls `path` until it answers 200 (a TCP accept is not readiness: conmon and
/// docker-proxy accept before the container listens). Returns the time from `start`.
pub fn wait_200(port: u16, path: &str, start: Instant) -> Result<Duration, String> {
    let mut last = String::from("no attempt");
    while start.elapsed() < READY_DEADLINE {
        match http_get(port, path) {
            Ok((200, _)) => return Ok(start.elapsed()),
            Ok((code, _)) => last = format!("HTTP {code}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(format!(
        "no HTTP 200 from 127.0.0.1:{port}{path} within {READY_DEADLINE:?}; last: {last}"
    ))
}

/// Checks what every runtime must give: /healthz and each site file answer 200 with the
/// packed bytes.
pub fn assert_serves_site(runtime: &str, port: u16, image: &TestImage) {
    let (code, _) =
        http_get(port, "/healthz").unwrap_or_else(|e| panic!("{runtime}: GET /healthz: {e}"));
    assert_eq!(code, 200, "{runtime}: GET /healthz");
    for (name, bytes) in &image.site {
        let (code, body) = http_get(port, &format!("/{name}"))
            .unwrap_or_else(|e| panic!("{runtime}: GET /{name}: {e}"));
        assert_eq!(code, 200, "{runtime}: GET /{name}");
        assert_eq!(
            &body, bytes,
            "{runtime}: body of /{name} differs from the packed file"
        );
    }
    let (code, _) = http_get(port, "/no-such-file").unwrap();
    assert_eq!(code, 404, "{runtime}: GET /no-such-file");
}

/// Checks the process runs as the non-root user with a read-only root filesystem.
pub fn assert_sandboxed(runtime: &str, pid: u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("{runtime}: read /proc/{pid}/status: {e}"));
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    let all: Vec<u32> = uids
        .split_whitespace()
        .skip(1)
        .filter_map(|u| u.parse().ok())
        .collect();
    assert!(
        all.len() == 4 && all.iter().all(|&u| u == NONROOT),
        "{runtime}: pid {pid} should run as uid {NONROOT}, /proc says {uids:?}"
    );
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_else(|e| panic!("{runtime}: read /proc/{pid}/mountinfo: {e}"));
    // The last mount on "/" is the one the process sees.
    let root = mounts
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("{runtime}: no / in /proc/{pid}/mountinfo"));
    let opts = root.split(' ').nth(5).unwrap_or("");
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "{runtime}: root of pid {pid} is not read-only: {root}"
    );
}

/// The image under test: mote-httpd and a small site, as an OCI layout and as OCI and
/// docker archives. Built once per test binary.
pub struct TestImage {
    pub dir: PathBuf,
    /// `oci:` layout directory holding the tag `TAG`.
    pub layout: PathBuf,
    pub oci_archive: PathBuf,
    pub docker_archive: PathBuf,
    /// Name the docker archive carries.
    pub docker_ref: String,
    /// Site files (path below the web root, bytes).
    pub site: Vec<(String, Vec<u8>)>,
    /// The image's entry point; it takes mote-httpd's flags.
    pub entrypoint: Vec<String>,
}

/// The tag in the layout (and the name podman gives the loaded OCI archive).
pub const TAG: &str = "mote-rt-test";

impl TestImage {
    /// Command line that serves the site on `port` (for host-network runtimes, which
    /// cannot map ports and so override the image's arguments).
    pub fn port_args(&self, port: u16) -> Vec<String> {
        let mut a = self.entrypoint.clone();
        a.extend([
            "--listen".to_string(),
            format!("0.0.0.0:{port}"),
            "--root".to_string(),
            "/www".to_string(),
        ]);
        a
    }
}

pub fn site_files() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "index.html".into(),
            b"<!doctype html><title>mote test</title><h1>hello from a micro-container</h1>\n"
                .to_vec(),
        ),
        (
            "style.css".into(),
            b"body{font-family:sans-serif}\n".to_vec(),
        ),
    ]
}

/// Builds (once per test binary) the test image into the binary's scratch dir.
pub fn test_image() -> &'static TestImage {
    static IMAGE: OnceLock<TestImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{}-image",
            std::env::current_exe()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let site_dir = base.join("site");
        std::fs::create_dir_all(&site_dir).unwrap();
        let site = site_files();
        for (name, bytes) in &site {
            std::fs::write(site_dir.join(name), bytes).unwrap();
        }
        build_mote_image(base, site_dir, site)
    })
}

/// `mote pack --site DIR` (the embedded mote-httpd) in all three formats.
fn build_mote_image(base: PathBuf, site_dir: PathBuf, site: Vec<(String, Vec<u8>)>) -> TestImage {
    let mote = env!("CARGO_BIN_EXE_mote");
    let docker_ref = format!("mote.test/site:{TAG}");
    let layout = base.join("layout");
    let oci_archive = base.join("image.oci.tar");
    let docker_archive = base.join("image.docker.tar");
    for (format, out) in [
        ("oci", &layout),
        ("oci-archive", &oci_archive),
        ("docker-archive", &docker_archive),
    ] {
        run(Command::new(mote)
            .arg("pack")
            .arg("--site")
            .arg(&site_dir)
            .args([
                "--arch",
                "amd64",
                "--tag",
                &docker_ref,
                "--format",
                format,
                "-o",
            ])
            .arg(out));
    }
    TestImage {
        dir: base,
        layout,
        oci_archive,
        docker_archive,
        docker_ref,
        site,
        entrypoint: vec!["/mote-httpd".into()],
    }
}

/// A unique scratch directory for one test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a clean-up closure on drop, so containers go away even when an assert fails.
pub struct Cleanup<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for Cleanup<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}
