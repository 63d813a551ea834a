//! `mote up [SITE_DIR]`: pack mote-httpd with a site, run it in a container, say where
//! it is and how fast it came up, and remove everything again on Ctrl-C.
//!
//! Runtimes, first found wins unless `--runtime` names one:
//!
//! - `podman`: `podman load` of the OCI archive, `podman run -d --read-only` with a
//!   published port;
//! - `crun`, `runc`: an OCI bundle made here from the unpacked image, host network;
//! - `builtin` (alias `unshare`): no container runtime at all. The image runs the way
//!   `mote run` runs it ([`crate::run::Container`]): PID 1 of fresh pid, mount, uts and
//!   ipc namespaces, the image's root file system read-only behind pivot_root, uid
//!   65532 without capabilities, no_new_privs, host network.
//!
//! Everything `up` creates lives in one temporary directory and one container name;
//! a [`Session`] owns both and removes them when dropped, whatever the exit path. A
//! `mote up` that could not clean up (SIGKILL, a crash) leaves a `session` file in its
//! folder naming what it started; the next `mote up` removes such leftovers of dead
//! processes before it starts ([`sweep_stale`]). Detached sessions are left alone.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use mote_oci::spec::{is_index, is_manifest, ImageConfig, Index, Manifest};
use mote_oci::{Compression, Digest};

/// The example site served when no folder is given.
const BUNDLED_SITE: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../site/index.html")),
    ("style.css", include_bytes!("../site/style.css")),
    ("mote.svg", include_bytes!("../site/mote.svg")),
];

/// The port mote-httpd listens on inside a container with its own network.
const CONTAINER_PORT: u16 = 8080;
/// The health endpoint polled for readiness (mote-httpd answers it from memory).
const HEALTH_PATH: &str = "/healthz";
/// How long the first 200 may take. Cold starts measure 2–120 ms; podman's first
/// run on a machine also sets up its network, which can take seconds.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// The user the server runs as (the image's default, distroless "nonroot").
const NONROOT: &str = "65532:65532";
/// An unpacked layer may not exceed this: an image for `up` is a few kB, and a
/// bigger one means the wrong file was given.
const MAX_LAYER_BYTES: u64 = 1 << 30;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder to serve (default: a small example site built into mote)
    #[arg(value_name = "SITE_DIR")]
    pub site: Option<PathBuf>,
    /// Port to serve on
    #[arg(long, short = 'p', default_value_t = 8080)]
    pub port: u16,
    /// Address to serve on (0.0.0.0 for every interface)
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Container runtime (default: the first installed of podman, crun, runc; else builtin)
    #[arg(long, value_enum)]
    pub runtime: Option<Runtime>,
    /// Leave the server running and print the command that stops it (podman, crun, runc)
    #[arg(long, short = 'd')]
    pub detach: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Podman,
    Crun,
    Runc,
    /// No runtime: fresh namespaces, as `mote run` makes them
    #[value(alias = "unshare")]
    Builtin,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Podman => "podman",
            Runtime::Crun => "crun",
            Runtime::Runc => "runc",
            Runtime::Builtin => "builtin",
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install the signal handlers")?;
    }

    sweep_stale();
    let runtime = match args.runtime {
        Some(Runtime::Builtin) => Runtime::Builtin,
        Some(r) => {
            find_tool(r.name()).with_context(|| {
                format!(
                    "--runtime {0} needs `{0}`, which is not on PATH: install it (apt-get install {0}) or pick another runtime (podman, crun, runc, builtin)",
                    r.name()
                )
            })?;
            r
        }
        None => [Runtime::Podman, Runtime::Crun, Runtime::Runc]
            .into_iter()
            .find(|r| find_tool(r.name()).is_some())
            .unwrap_or(Runtime::Builtin),
    };
    if args.port == 0 {
        bail!("--port 0 is not a port: give one from 1 to 65535, e.g. --port 8080");
    }
    // Fail early, before packing, when the port is taken.
    let addr = SocketAddr::new(args.bind, args.port);
    drop(TcpListener::bind(addr).with_context(|| {
        format!(
            "cannot serve on {addr}: the address is in use or not ours; pick another with --port"
        )
    })?);
    if args.detach && runtime == Runtime::Builtin {
        bail!(
            "--detach needs a container runtime (podman, crun or runc): in the builtin mode the \
             server is mote's child and stops with it"
        );
    }
    let site_label = match &args.site {
        Some(dir) => {
            if !dir.is_dir() {
                bail!("{} is not a folder: give the folder that holds your site (index.html and the rest)", dir.display());
            }
            dir.display().to_string()
        }
        None => "the example site built into mote".to_string(),
    };

    let mut session = Session::new(runtime)?;
    let site_dir = match &args.site {
        Some(dir) => dir.clone(),
        None => {
            let d = session.dir.join("site");
            fs::create_dir(&d)?;
            for (name, bytes) in BUNDLED_SITE {
                fs::write(d.join(name), bytes)?;
            }
            d
        }
    };

    // Pack: the same code as `mote pack`, for this machine's architecture only.
    let arch = host_arch()?;
    let (format, out) = match runtime {
        Runtime::Podman => ("oci-archive", session.dir.join("image.oci.tar")),
        _ => ("oci", session.dir.join("image.oci")),
    };
    // The tag is what an OCI layout records (org.opencontainers.image.ref.name) and
    // what `podman load` names the image after: unique per run, so removing it at the
    // end never touches another image.
    let tag = format!("mote-up:mote-up-{}", session.id);
    let t_pack = Instant::now();
    let pack_args = PackCli::try_parse_from([
        "pack".as_ref(),
        "--site".as_ref(),
        site_dir.as_os_str(),
        "--format".as_ref(),
        format.as_ref(),
        "--arch".as_ref(),
        arch.as_ref(),
        "--tag".as_ref(),
        tag.as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ] as [&std::ffi::OsStr; 11])
    .context("internal error: pack arguments")?
    .args;
    let packed = crate::pack::pack(&pack_args)?;
    let pack_time = t_pack.elapsed();
    let binary_size = crate::pack::EMBEDDED_HTTPD
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, b)| b.len())
        .with_context(|| format!("this mote carries no mote-httpd for {arch}"))?;

    // Prepare (load the image, unpack the bundle), then run and poll /healthz until
    // 200: the time to the first response counts from the run alone.
    let listen = SocketAddr::new(args.bind, args.port);
    session.prepare(&out, listen)?;
    let start = Instant::now();
    session.start()?;
    let probe = SocketAddr::new(
        if args.bind.is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            args.bind
        },
        args.port,
    );
    let ready = loop {
        if stop.load(Ordering::Relaxed) {
            eprintln!("mote: interrupted before the server answered; cleaning up");
            return Ok(());
        }
        if let Ok(200) = http_status(probe, HEALTH_PATH) {
            break start.elapsed();
        }
        if let Some(why) = session.exited() {
            bail!("the server stopped before answering: {why}");
        }
        if start.elapsed() > READY_DEADLINE {
            bail!(
                "no HTTP 200 from http://{probe}{HEALTH_PATH} within {READY_DEADLINE:?} under {}",
                runtime.name()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    };

    let host = if args.bind.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        fmt_host(args.bind)
    };
    let mut o = std::io::stdout().lock();
    writeln!(o, "mote: serving {site_label}")?;
    writeln!(o, "  url          http://{host}:{}/", args.port)?;
    writeln!(o, "  runtime      {}", session.describe())?;
    writeln!(o, "  mote-httpd   {} bytes", group(binary_size as u64))?;
    writeln!(
        o,
        "  image        {} bytes ({format}, packed in {:.0} ms)",
        group(packed.size),
        pack_time.as_secs_f64() * 1e3
    )?;
    writeln!(
        o,
        "  first 200    {:.1} ms after start",
        ready.as_secs_f64() * 1e3
    )?;
    if let Some(pid) = session.server_pid() {
        writeln!(o, "  server pid   {pid}")?;
    }
    if args.detach {
        let stop_cmd = session.detach()?;
        if runtime != Runtime::Podman {
            writeln!(o, "  state        {}", session.dir.display())?;
        }
        writeln!(o, "Detached. Stop and remove it with:\n  {stop_cmd}")?;
        return Ok(());
    }
    writeln!(o, "  state        {}", session.dir.display())?;
    writeln!(
        o,
        "Ctrl-C stops the server and removes the container and the state folder."
    )?;
    if let (Runtime::Podman, Some(c)) = (runtime, &session.container) {
        writeln!(o, "Access log: podman logs -f {c}")?;
    }
    o.flush()?;
    drop(o);

    // The server's output (its access log) goes to a file in the state folder; echo
    // what it appends.
    let mut log = LogFollower::new(session.dir.join("runtime.log"));
    let mut last_check = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        log.copy_new(&mut std::io::stdout());
        // Asking podman costs a process; ask once a second.
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if let Some(why) = session.exited() {
                bail!("the server stopped: {why}");
            }
        }
    }
    eprintln!("mote: stopping");
    session.stop();
    eprintln!("mote: stopped and cleaned up");
    Ok(())
}

/// Copies what is appended to a file, from its start.
struct LogFollower {
    path: PathBuf,
    pos: u64,
}

impl LogFollower {
    fn new(path: PathBuf) -> LogFollower {
        LogFollower { path, pos: 0 }
    }

    fn copy_new(&mut self, out: &mut impl Write) {
        use std::io::{Seek, SeekFrom};
        let Ok(mut f) = fs::File::open(&self.path) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if let Ok(n) = f.read_to_end(&mut buf) {
            self.pos += n as u64;
            let _ = out.write_all(&buf);
            let _ = out.flush();
        }
    }
}

/// `mote pack`'s own argument parser, so `up` packs exactly as `pack` would.
#[derive(Parser)]
struct PackCli {
    #[command(flatten)]
    args: crate::pack::Args,
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        // runc lives in /usr/sbin, which a non-login root shell may lack.
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn host_arch() -> Result<&'static str> {
    Ok(match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => bail!("mote up runs mote-httpd for amd64 and arm64; this machine is {other}"),
    })
}

fn fmt_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// 12345 → "12,345"
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The status code of one GET, on a fresh connection.
fn http_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|_| head.starts_with(b"HTTP/1."))
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// The unpacked image: the root file system and the process settings from its config.
struct ProcessConfig {
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
}

/// Unpacks the layout's image for this machine into `bundle/rootfs`, verifying every
/// blob's digest. Returns the rootfs path and the process settings.
fn unpack(layout: &Path, bundle: &Path) -> Result<(PathBuf, ProcessConfig)> {
    let arch = host_arch()?;
    let blob = |d: &Digest| -> Result<Vec<u8>> {
        let s = d.to_string();
        let (alg, hex) = s
            .split_once(':')
            .with_context(|| format!("bad digest {s}"))?;
        let path = layout.join("blobs").join(alg).join(hex);
        let bytes =
            fs::read(&path).with_context(|| format!("cannot read blob {}", path.display()))?;
        if Digest::of(&bytes) != *d {
            bail!("blob {} does not match its digest", path.display());
        }
        Ok(bytes)
    };
    let index: Index = serde_json::from_slice(&fs::read(layout.join("index.json"))?)
        .context("index.json is not an OCI index")?;
    let mut queue = index.manifests.clone();
    let mut manifest: Option<Manifest> = None;
    while let Some(d) = queue.pop() {
        if is_index(&d.media_type) {
            let nested: Index = serde_json::from_slice(&blob(&d.digest)?)?;
            queue.extend(nested.manifests);
        } else if is_manifest(&d.media_type)
            && d.platform
                .as_ref()
                .is_none_or(|p| p.architecture == arch && p.os == "linux")
        {
            manifest = Some(serde_json::from_slice(&blob(&d.digest)?)?);
            break;
        }
    }
    let manifest = manifest.with_context(|| format!("the image has no linux/{arch} manifest"))?;
    let config: ImageConfig = serde_json::from_slice(&blob(&manifest.config.digest)?)
        .context("the image config is not valid")?;
    let rootfs = bundle.join("rootfs");
    fs::create_dir_all(&rootfs)?;
    for layer in &manifest.layers {
        let tar = Compression::from_media_type(&layer.media_type)?
            .decompress(&blob(&layer.digest)?, MAX_LAYER_BYTES)?;
        let mut archive = tar::Archive::new(&tar[..]);
        for entry in archive.entries()? {
            let path = entry?.path()?.into_owned();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".wh."))
            {
                bail!(
                    "layer {} has whiteout {}: mote up runs single-layer mote images only",
                    layer.digest,
                    path.display()
                );
            }
        }
        let mut archive = tar::Archive::new(&tar[..]);
        archive.set_preserve_permissions(true);
        archive
            .unpack(&rootfs)
            .with_context(|| format!("cannot unpack layer {}", layer.digest))?;
    }
    let cc = config.config.unwrap_or_default();
    let mut args: Vec<String> = cc.entrypoint.unwrap_or_default();
    args.extend(cc.cmd.unwrap_or_default());
    if args.is_empty() {
        bail!("the image config has neither Entrypoint nor Cmd: nothing to run");
    }
    let env = cc.env.unwrap_or_else(|| vec!["PATH=/".to_string()]);
    Ok((
        rootfs,
        ProcessConfig {
            args,
            env,
            cwd: cc.working_dir.unwrap_or_else(|| "/".to_string()),
        },
    ))
}

/// What `up` started, and how to take it down again.
struct Session {
    runtime: Runtime,
    /// The runtime's executable (none for the namespace fallback).
    tool: PathBuf,
    /// Unique per run: names the container and the image tag.
    id: String,
    /// Temporary folder: site copy, image, bundle, logs.
    dir: PathBuf,
    container: Option<String>,
    podman_image: Option<String>,
    /// The builtin mode's container, image extracted, ready to start.
    prepared: Option<crate::run::Container>,
    builtin: Option<crate::run::Running>,
    listen: Option<SocketAddr>,
    stopped: bool,
}

impl Session {
    fn new(runtime: Runtime) -> Result<Session> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let id = format!("{}-{:05x}", std::process::id(), nanos >> 12);
        let dir = std::env::temp_dir().join(format!("mote-up-{id}"));
        fs::create_dir(&dir)
            .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
        let tool = match runtime {
            Runtime::Builtin => PathBuf::new(),
            r => find_tool(r.name()).with_context(|| format!("`{}` is not on PATH", r.name()))?,
        };
        let session = Session {
            runtime,
            tool,
            id,
            dir,
            container: None,
            podman_image: None,
            prepared: None,
            builtin: None,
            listen: None,
            stopped: false,
        };
        session.record();
        Ok(session)
    }

    /// Writes what this session started into its folder, for [`sweep_stale`].
    fn record(&self) {
        let state = format!(
            "runtime={}\ncontainer={}\nimage={}\n",
            self.runtime.name(),
            self.container.as_deref().unwrap_or(""),
            self.podman_image.as_deref().unwrap_or("")
        );
        if let Err(e) = fs::write(self.dir.join(SESSION), state) {
            eprintln!("mote: cannot write {}: {e}", self.dir.join(SESSION).display());
        }
    }

    fn describe(&self) -> String {
        let what = match self.runtime {
            Runtime::Podman => "published port",
            Runtime::Crun | Runtime::Runc => "OCI bundle, host network",
            Runtime::Builtin => {
                "no runtime: pid/mount/uts/ipc namespaces as `mote run`, host network"
            }
        };
        let name = self
            .container
            .as_deref()
            .map(|c| format!(", container {c}"))
            .unwrap_or_default();
        format!(
            "{} ({what}; read-only root, uid 65532{name})",
            self.runtime.name()
        )
    }

    fn log_file(&self) -> Result<fs::File> {
        Ok(fs::File::create(self.dir.join("runtime.log"))?)
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("runtime.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Loads the image into the runtime, or unpacks it, or readies the builtin
    /// container: everything before the server starts.
    fn prepare(&mut self, image: &Path, listen: SocketAddr) -> Result<()> {
        self.listen = Some(listen);
        match self.runtime {
            Runtime::Podman => self.load_podman(image),
            Runtime::Crun | Runtime::Runc => {
                let (rootfs, config) = unpack(image, &self.dir.join("bundle"))?;
                self.write_bundle(&rootfs, &config, listen)
            }
            Runtime::Builtin => self.prepare_builtin(image, listen),
        }
    }

    /// Starts the server; returns once the runtime has started it.
    fn start(&mut self) -> Result<()> {
        match self.runtime {
            Runtime::Podman => self.start_podman(),
            Runtime::Crun | Runtime::Runc => self.start_oci(),
            Runtime::Builtin => {
                let c = self
                    .prepared
                    .as_ref()
                    .context("the builtin container was not prepared")?;
                self.builtin = Some(c.start()?);
                Ok(())
            }
        }
    }

    fn load_podman(&mut self, archive: &Path) -> Result<()> {
        let out = quiet(Command::new(&self.tool).arg("load").arg("-i").arg(archive))?;
        let name = out
            .lines()
            .find_map(|l| {
                l.split_once(": ")
                    .filter(|(k, _)| k.starts_with("Loaded image"))
                    .map(|(_, v)| v.trim().to_string())
            })
            .with_context(|| format!("podman load printed no image name: {out}"))?;
        self.podman_image = Some(name);
        self.record();
        Ok(())
    }

    fn start_podman(&mut self) -> Result<()> {
        let name = self.podman_image.clone().context("no image loaded")?;
        let listen = self.listen.context("no address to listen on")?;
        let container = format!("mote-up-{}", self.id);
        quiet(Command::new(&self.tool).args([
            "run",
            "-d",
            "--name",
            &container,
            "--read-only",
            "--user",
            NONROOT,
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            // podman's default rlimits fail with EPERM on some hosts; these are ample.
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "-p",
            &format!(
                "{}:{}:{CONTAINER_PORT}",
                fmt_host(listen.ip()),
                listen.port()
            ),
            &name,
        ]))?;
        self.container = Some(container);
        self.record();
        Ok(())
    }

    /// Writes the OCI runtime config next to the unpacked rootfs.
    fn write_bundle(
        &mut self,
        rootfs: &Path,
        config: &ProcessConfig,
        listen: SocketAddr,
    ) -> Result<()> {
        let bundle = rootfs.parent().unwrap();
        let mut args = config.args.clone();
        args.extend([
            "--listen".to_string(),
            format!("{}:{}", fmt_host(listen.ip()), listen.port()),
        ]);
        let spec = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": { "uid": 65532, "gid": 65532 },
                "args": args,
                "env": config.env,
                "cwd": config.cwd,
                "capabilities": { "bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": [] },
                "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
                "noNewPrivileges": true
            },
            "root": { "path": "rootfs", "readonly": true },
            "hostname": "mote",
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "mode=755", "size=64k"] }
            ],
            "linux": {
                // No network namespace: the server binds the host's port directly.
                "namespaces": [{ "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&spec)?,
        )?;
        Ok(())
    }

    fn start_oci(&mut self) -> Result<()> {
        let bundle = self.dir.join("bundle");
        let container = format!("mote-up-{}", self.id);
        let tool = self.runtime.name();
        let log = self.log_file()?;
        let exe = self.tool.clone();
        // Own process group: a Ctrl-C in the terminal reaches mote, which stops the
        // container in order, rather than the runtime directly.
        let status = Command::new(&exe)
            .args(["run", "-d", "--bundle"])
            .arg(&bundle)
            .arg(&container)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .status()
            .with_context(|| format!("cannot run {tool}"))?;
        self.container = Some(container);
        self.record();
        if !status.success() {
            bail!("{tool} run failed ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }

    /// No runtime: `mote run`'s namespaces. Its root file system cache goes into our
    /// state folder, so it is removed with it.
    fn prepare_builtin(&mut self, layout: &Path, listen: SocketAddr) -> Result<()> {
        std::env::set_var("MOTE_STATE_DIR", self.dir.join("run-state"));
        let spec = crate::run::RunSpec {
            image: layout
                .to_str()
                .context("the state folder path is not UTF-8")?
                .to_string(),
            // The image's Cmd (`--root /www`, as packed above) plus where to listen.
            args: vec![
                "--root".into(),
                "/www".into(),
                "--listen".into(),
                format!("{}:{}", fmt_host(listen.ip()), listen.port()),
            ],
            opts: crate::run::RunOpts {
                user: Some(NONROOT.to_string()),
                hostname: "mote".to_string(),
                network: crate::run::Network::Host,
                ..Default::default()
            },
            listen_fds: Vec::new(),
        };
        self.prepared = Some(crate::run::Container::prepare(&spec)?);
        Ok(())
    }

    /// The server's process id on this host, for looking at it (RSS, limits).
    fn server_pid(&self) -> Option<u32> {
        let c = self.container.as_deref();
        let out = match self.runtime {
            Runtime::Builtin => return self.builtin.as_ref().map(|r| r.pid() as u32),
            Runtime::Podman => Command::new(&self.tool)
                .args(["inspect", "-f", "{{.State.Pid}}", c?])
                .output()
                .ok()?,
            Runtime::Crun | Runtime::Runc => {
                let state = Command::new(&self.tool).args(["state", c?]).output().ok()?;
                let v: serde_json::Value = serde_json::from_slice(&state.stdout).ok()?;
                return v.get("pid")?.as_u64().map(|p| p as u32);
            }
        };
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// Why the server is gone, if it is.
    fn exited(&mut self) -> Option<String> {
        match self.runtime {
            Runtime::Builtin => match self.builtin.as_mut()?.wait_timeout(Some(Duration::ZERO)) {
                Ok(Some(exit)) => Some(format!("the server exited with code {}", exit.code())),
                Ok(None) => None,
                Err(e) => Some(format!("cannot wait for the server: {e:#}")),
            },
            Runtime::Crun | Runtime::Runc => {
                let c = self.container.as_ref()?;
                let state = Command::new(&self.tool)
                    .args(["state", c])
                    .stderr(Stdio::null())
                    .output()
                    .ok()?;
                let s = String::from_utf8_lossy(&state.stdout);
                if s.contains("\"running\"") {
                    None
                } else {
                    Some(format!(
                        "{} state: {}\n{}",
                        self.runtime.name(),
                        s.trim(),
                        self.log_tail()
                    ))
                }
            }
            Runtime::Podman => {
                let c = self.container.as_ref()?;
                let out = Command::new(&self.tool)
                    .args(["inspect", "-f", "{{.State.Status}}", c])
                    .output()
                    .ok()?;
                let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if s == "running" {
                    None
                } else {
                    let logs = Command::new(&self.tool)
                        .args(["logs", "--tail", "15", c])
                        .output()
                        .ok();
                    let logs = logs
                        .map(|l| {
                            String::from_utf8_lossy(&l.stdout).into_owned()
                                + &String::from_utf8_lossy(&l.stderr)
                        })
                        .unwrap_or_default();
                    Some(format!("podman says the container is {s:?}\n{logs}"))
                }
            }
        }
    }

    /// Leaves the server running: forgets it, so dropping the session removes nothing
    /// it still needs, and returns the shell command that stops and removes it.
    fn detach(&mut self) -> Result<String> {
        let c = self.container.clone().context("nothing to detach from")?;
        let sh = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
        let cmd = match self.runtime {
            Runtime::Podman => {
                // The image now lives in podman's storage; our folder is not needed.
                let image = self.podman_image.clone().unwrap_or_default();
                if let Err(e) = fs::remove_dir_all(&self.dir) {
                    eprintln!("mote: cannot remove {}: {e}", self.dir.display());
                }
                format!("{} rm -f -t 5 {c} && {0} rmi {image}", sh(&self.tool))
            }
            // The bundle (and the access log) stay in the state folder while it runs.
            Runtime::Crun | Runtime::Runc => format!(
                "{0} kill {c} TERM; sleep 1; {0} delete -f {c} && rm -rf {1}",
                sh(&self.tool),
                sh(&self.dir)
            ),
            Runtime::Builtin => bail!("the builtin mode cannot detach"),
        };
        // Ours to keep running: a later `mote up` must not sweep it as a leftover.
        if self.dir.exists() {
            fs::write(self.dir.join(DETACHED), &cmd)?;
        }
        self.stopped = true;
        Ok(cmd)
    }

    /// Stops the server and removes the container, image and state folder. Idempotent;
    /// reports what it could not remove.
    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let warn = |what: &str, r: std::io::Result<std::process::Output>| match r {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "mote: {what} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => eprintln!("mote: {what} failed: {e}"),
        };
        match self.runtime {
            Runtime::Podman => {
                if let Some(c) = &self.container {
                    warn(
                        &format!("podman rm {c}"),
                        Command::new(&self.tool)
                            .args(["rm", "-f", "-t", "5", c])
                            .output(),
                    );
                }
                if let Some(i) = &self.podman_image {
                    warn(
                        &format!("podman rmi {i}"),
                        Command::new(&self.tool).args(["rmi", i]).output(),
                    );
                }
            }
            Runtime::Crun | Runtime::Runc => {
                if let Some(c) = &self.container {
                    let tool = &self.tool;
                    // SIGTERM first: mote-httpd drains its connections and exits.
                    let _ = Command::new(tool).args(["kill", c, "TERM"]).output();
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < deadline {
                        let s = Command::new(tool).args(["state", c]).output();
                        match s {
                            Ok(o)
                                if o.status.success()
                                    && String::from_utf8_lossy(&o.stdout)
                                        .contains("\"running\"") =>
                            {
                                std::thread::sleep(Duration::from_millis(20))
                            }
                            _ => break,
                        }
                    }
                    warn(
                        &format!("{} delete {c}", self.runtime.name()),
                        Command::new(tool).args(["delete", "-f", c]).output(),
                    );
                }
            }
            Runtime::Builtin => {
                if let Some(running) = &mut self.builtin {
                    // The image's stop signal (mote-httpd drains), SIGKILL after 5 s.
                    if let Err(e) = running.stop(Duration::from_secs(5)) {
                        eprintln!("mote: {e:#}");
                    }
                }
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("mote: cannot remove {}: {e}", self.dir.display());
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The file in a session folder naming its runtime, container and image.
const SESSION: &str = "session";
/// Present in the folder of a detached session (it holds the stop command).
const DETACHED: &str = "detached";

/// Removes what earlier `mote up` processes started and could not remove because they
/// died first (SIGKILL, a crash): for every `mote-up-<pid>-<n>` folder in the temporary
/// directory whose pid is gone and which was not detached, the container (and podman
/// image) its `session` file names, then the folder. Reports each sweep on stderr;
/// failures are reported and otherwise ignored, they must not stop a new `up`.
fn sweep_stale() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("mote-up-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() || dir.join(DETACHED).exists() {
            continue;
        }
        let Ok(state) = fs::read_to_string(dir.join(SESSION)) else {
            continue;
        };
        let field = |k: &str| {
            state
                .lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let runtime = field("runtime").unwrap_or_default();
        let tool = find_tool(&runtime);
        let run = |args: &[&str]| {
            if let Some(t) = &tool {
                let _ = Command::new(t).args(args).stdin(Stdio::null()).output();
            }
        };
        let container = field("container");
        if let Some(c) = &container {
            match runtime.as_str() {
                "podman" => run(&["rm", "-f", "-t", "0", c]),
                "crun" | "runc" => run(&["delete", "-f", c]),
                _ => {}
            }
        }
        if let (Some(image), "podman") = (field("image"), runtime.as_str()) {
            run(&["rmi", &image]);
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => eprintln!(
                "mote: removed the leftovers of an earlier mote up (pid {pid}, {runtime}{})",
                container.map(|c| format!(", container {c}")).unwrap_or_default()
            ),
            Err(e) => eprintln!(
                "mote: cannot remove the leftovers in {}: {e}",
                dir.display()
            ),
        }
    }
}

/// Runs a command to completion, returning stdout; fails with its stderr.
fn quiet(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn bundled_site_links_its_own_files() {
        let index = std::str::from_utf8(BUNDLED_SITE[0].1).unwrap();
        for (name, _) in &BUNDLED_SITE[1..] {
            assert!(
                index.contains(&format!("\"{name}\"")),
                "index.html does not use {name}"
            );
        }
    }
}
