//! `mote run IMAGE [-- ARGS]`: run a micro-container image with no other runtime.
//!
//! IMAGE is an OCI layout directory, an oci-archive, or a registry reference
//! (`HOST[:PORT]/REPO[:TAG|@DIGEST]` or `docker://...`, as `mote inspect` takes it,
//! with the same `--creds`/`MOTE_REGISTRY_AUTH`, `--insecure` and `--ca-cert`): see
//! [`image`] for how it is resolved, verified and cached.
//!
//! The container is one `clone` away from mote: new pid, mount, uts and ipc
//! namespaces (and a network namespace with only loopback for `--network none`; the
//! default is `--network host`, so a server's port is reachable without any port
//! mapping). The child, before it execs the image's program:
//!
//! 1. moves itself into the limit cgroups (`--memory`, `--pids`, `--cpus`), if any;
//! 2. makes every mount private, bind-mounts the cached root filesystem onto itself,
//!    remounts it read-only (nosuid, nodev), mounts a fresh proc at /proc, a minimal
//!    /dev (a read-only tmpfs with null, zero, full, random, urandom and tty, the
//!    fd/stdin/stdout/stderr symlinks and a writable /dev/shm, as runc and crun give),
//!    masks /proc as runc does (acpi, asound, interrupts, kcore, keys, latency_stats,
//!    sched_debug, scsi, timer_list and timer_stats show nothing: /dev/null or an
//!    empty read-only tmpfs over them; bus, fs, irq, sys and sysrq-trigger are
//!    read-only, so even `--user 0` cannot write a sysctl or trigger a sysrq), mounts
//!    a tmpfs at each `--tmpfs` path, then `pivot_root`s into it and detaches the old
//!    root: no host file, and no other host device, is reachable;
//! 3. sets the hostname, passes listening sockets as fds 3.. (socket activation);
//! 4. drops every capability from the bounding and ambient sets, sets the image's user
//!    (no supplementary groups), clears the effective/permitted/inheritable sets and
//!    sets `no_new_privs`;
//! 5. execs the entrypoint with the image's environment in its working directory.
//!
//! Everything mount-related lives in the child's mount namespace and vanishes with it;
//! cgroups are removed after the container is reaped (also when it crashed), and ones
//! left by a killed mote are swept at the next start. The extracted root filesystem is
//! a cache keyed by manifest digest (see [`image`]), so repeated runs skip extraction
//! (and, for a registry image, every download but the manifest's).
//! There is no helper process: mote itself is the parent that waits, forwards SIGINT,
//! SIGTERM and SIGHUP to the container's pid 1 and returns its exit code (128+signal
//! when it was killed). As in any pid namespace, pid 1 only receives signals it
//! handles (SIGKILL aside).

pub mod cgroup;
pub mod image;
mod spawn;

use std::ffi::CString;
use std::os::fd::RawFd;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use cgroup::Limits;
pub use spawn::{Exit, Running};

/// The network a container gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Network {
    /// The host's network namespace: servers are reachable on the host's addresses.
    #[default]
    Host,
    /// A new network namespace with only a loopback interface.
    None,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: an OCI layout directory or an oci-archive file, optionally PATH:TAG, or
    /// a registry reference (HOST[:PORT]/REPO[:TAG|@DIGEST], docker://HOST/REPO:TAG)
    pub image: String,
    /// Arguments replacing the image's Cmd (after `--`)
    #[arg(last = true)]
    pub args: Vec<String>,
    /// After a forwarded SIGINT/SIGTERM, how long the container may take before it is
    /// killed (its pid 1 ignores signals it has no handler for); a second signal kills
    /// at once
    #[arg(long, default_value = "10s", value_parser = crate::serve::parse_duration)]
    pub stop_timeout: Duration,
    #[command(flatten)]
    pub opts: RunOpts,
}

/// The options `mote run` and `mote serve` share.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunOpts {
    /// Replace the image's entrypoint (a single program path)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set an environment variable in the container (KEY=VALUE; repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Run as UID[:GID] (numbers, or names from the image's /etc/passwd); default: the
    /// image's user, else 65534:65534
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container (default: the image's, else /)
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// The container's hostname
    #[arg(long, default_value = "mote")]
    pub hostname: String,
    /// host: share the host's network; none: loopback only
    #[arg(long, value_enum, default_value_t = Network::Host)]
    pub network: Network,
    /// Memory limit in bytes (suffixes k, m, g: 16M); swap is not allowed on top; on
    /// cgroup v2 the OOM killer stops the whole container (memory.oom.group)
    #[arg(long, value_parser = parse_bytes)]
    pub memory: Option<u64>,
    /// Maximum number of processes and threads
    #[arg(long)]
    pub pids: Option<u64>,
    /// CPU limit in CPUs (0.5 = half a CPU)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Mount a tmpfs at PATH (must exist in the image; 64 MiB max, mode 1777; repeatable)
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,
    /// How to reach the registry of a registry reference (--creds, --insecure,
    /// --ca-cert), as for `mote inspect`
    #[command(flatten)]
    pub registry: Option<crate::push::RegistryArgs>,
}

/// Parses `16M`, `512k`, `1g`, `1048576` (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size (examples: 16M, 512k, 1g, 1048576)"))?;
    n.checked_mul(mul).filter(|&v| v > 0).ok_or_else(|| format!("{s:?} is out of range"))
}

/// Everything needed to start a container.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    pub image: String,
    /// Replace the image's Cmd when not empty.
    pub args: Vec<String>,
    pub opts: RunOpts,
    /// Listening sockets passed as fds 3, 4, ... with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES.
    pub listen_fds: Vec<(RawFd, String)>,
}

/// A container ready to be started (image extracted, every path and string of the
/// child prepared); `start` can be called any number of times.
pub struct Container {
    child: spawn::ChildPlan,
    limits: Limits,
    stop_signal: i32,
    /// The manifest digest that runs.
    pub manifest_digest: String,
}

impl Container {
    /// Opens the image (extracting it on first use) and prepares the child's plan.
    pub fn prepare(spec: &RunSpec) -> Result<Container> {
        let registry = match &spec.opts.registry {
            Some(r) => r.client_options(false)?,
            None => Default::default(),
        };
        let img = image::materialize(&spec.image, &registry)?;
        let cfg = &img.config;
        let o = &spec.opts;

        let mut argv: Vec<String> = match &o.entrypoint {
            Some(e) => vec![e.clone()],
            None => cfg.entrypoint.clone(),
        };
        if !spec.args.is_empty() {
            argv.extend(spec.args.iter().cloned());
        } else if o.entrypoint.is_none() {
            argv.extend(cfg.cmd.iter().cloned());
        }
        if argv.is_empty() {
            bail!("the image has no Entrypoint or Cmd: give the program after `--`");
        }

        let mut env: Vec<String> = cfg.env.clone();
        let mut set = |kv: String| {
            let key = kv.split('=').next().unwrap_or("").to_string();
            env.retain(|e| e.split('=').next() != Some(&key));
            env.push(kv);
        };
        for kv in &o.env {
            if !kv.contains('=') {
                bail!("--env {kv:?}: expected KEY=VALUE");
            }
            set(kv.clone());
        }
        if !spec.listen_fds.is_empty() {
            set(format!("LISTEN_FDS={}", spec.listen_fds.len()));
            set("LISTEN_PID=1".into()); // the exec'd program is pid 1 of its namespace
            let names: Vec<&str> = spec.listen_fds.iter().map(|(_, n)| n.as_str()).collect();
            set(format!("LISTEN_FDNAMES={}", names.join(":")));
        }
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        }

        let exe = resolve_exe(&img.rootfs, &argv[0], &env)?;
        let user = o.user.clone().unwrap_or_else(|| cfg.user.clone());
        let (uid, gid) = resolve_user(&img.rootfs, &user)?;
        let workdir = o.workdir.clone().unwrap_or_else(|| cfg.working_dir.clone());
        let workdir = if workdir.is_empty() { "/".to_string() } else { workdir };
        if !workdir.starts_with('/') {
            bail!("working directory {workdir:?} must be absolute");
        }

        let mut tmpfs = Vec::new();
        for t in &o.tmpfs {
            tmpfs.push(tmpfs_target(&img.rootfs, t)?);
        }
        let hostname = o.hostname.as_bytes().to_vec();
        if hostname.is_empty() || hostname.len() > 64 {
            bail!("--hostname must be 1 to 64 bytes");
        }

        let child = spawn::ChildPlan::new(spawn::PlanInput {
            rootfs: &img.rootfs,
            tmpfs: &tmpfs,
            exe: &exe,
            argv: &argv,
            env: &env,
            workdir: &workdir,
            uid,
            gid,
            hostname: &hostname,
            new_net: o.network == Network::None,
            listen_fds: spec.listen_fds.iter().map(|(fd, _)| *fd).collect(),
        })?;
        let stop_signal = match cfg.stop_signal.as_str() {
            "" => libc::SIGTERM,
            s => signal_number(s).with_context(|| format!("the image's StopSignal {s:?} is unknown"))?,
        };
        Ok(Container {
            child,
            limits: Limits { memory: o.memory, pids: o.pids, cpus: o.cpus },
            stop_signal,
            manifest_digest: img.manifest_digest,
        })
    }

    /// Prepares and starts in one step.
    #[allow(dead_code)] // library API (mote up)
    pub fn start_spec(spec: &RunSpec) -> Result<Running> {
        Container::prepare(spec)?.start()
    }

    /// Starts one instance; returns once the image's program has been exec'd.
    pub fn start(&self) -> Result<Running> {
        let cg = cgroup::Cgroups::create(&self.limits)?;
        spawn::spawn(&self.child, cg, self.stop_signal)
    }
}

/// Where `--tmpfs PATH` goes on the host: a directory of the image, reached without
/// leaving the root filesystem through a symlink, and not /proc or /dev (mote mounts
/// those itself).
fn tmpfs_target(rootfs: &Path, t: &str) -> Result<std::path::PathBuf> {
    let p = Path::new(t);
    if !p.is_absolute() || t.split('/').any(|c| c == "..") {
        bail!("--tmpfs {t:?}: expected an absolute path inside the container");
    }
    let inner = t.trim_matches('/');
    if inner.is_empty() {
        bail!("--tmpfs /: the root stays the image's, read-only; name a directory in it");
    }
    for own in ["proc", "dev"] {
        if inner == own || inner.starts_with(&format!("{own}/")) {
            bail!("--tmpfs {t}: /{own} is mounted by mote run itself (a fresh {own}); choose another directory");
        }
    }
    let host = rootfs.join(inner);
    let real = host.canonicalize().ok().filter(|r| r.is_dir());
    let root = rootfs.canonicalize().with_context(|| format!("cannot open {}", rootfs.display()))?;
    match real {
        Some(r) if r.starts_with(&root) && r != root => Ok(r),
        Some(_) => bail!("--tmpfs {t}: the image's {t} leads out of its directories (a symlink?); give a plain directory"),
        None => bail!("--tmpfs {t}: the image has no directory {t} to mount it on"),
    }
}

fn signal_number(s: &str) -> Option<i32> {
    let n = s.trim_start_matches("SIG");
    Some(match n {
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "HUP" => libc::SIGHUP,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "WINCH" => libc::SIGWINCH,
        _ => return n.parse().ok(),
    })
}

/// Finds argv[0] inside the root filesystem (PATH search for bare names).
fn resolve_exe(rootfs: &Path, arg0: &str, env: &[String]) -> Result<CString> {
    let exists = |p: &str| std::fs::symlink_metadata(rootfs.join(p.trim_start_matches('/'))).is_ok();
    if arg0.contains('/') {
        let abs = if arg0.starts_with('/') { arg0.to_string() } else { format!("/{arg0}") };
        if !exists(&abs) {
            bail!("the image has no {abs} (its entrypoint/cmd names {arg0:?})");
        }
        return Ok(CString::new(abs)?);
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("/usr/bin:/bin");
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let cand = format!("{}/{arg0}", dir.trim_end_matches('/'));
        if exists(&cand) {
            return Ok(CString::new(cand)?);
        }
    }
    bail!("{arg0:?} is not in the image's PATH ({path})")
}

fn lookup(file: &Path, name: &str) -> Option<(u32, Option<u32>)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| (f[2].parse().ok(), f.get(3).and_then(|g| g.parse().ok())))
            .and_then(|(a, b)| a.map(|a| (a, b)))
    })
}

/// `UID[:GID]`, numbers or names from the image's /etc/passwd and /etc/group.
/// An empty user means 65534:65534 (nobody), never root.
fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32)> {
    if user.is_empty() {
        return Ok((65534, 65534));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, pw_gid) = match u.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => lookup(&rootfs.join("etc/passwd"), u)
            .with_context(|| format!("user {u:?} is not a number and not in the image's /etc/passwd"))?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(&rootfs.join("etc/group"), g)
                .map(|(n, _)| n)
                .with_context(|| format!("group {g:?} is not a number and not in the image's /etc/group"))?,
        },
        None => pw_gid.unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// The pid signals are forwarded to (0: none yet): the latest container started by
/// this process. Only used once [`install_forwarding`] has been called.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// How many SIGINT/SIGTERM were forwarded.
static STOPS: AtomicU32 = AtomicU32::new(0);

/// A signal that arrived before the container's pid was known.
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    } else {
        // The clone has not returned yet: park it; whoever of us and
        // `set_forward_target` swaps it out delivers it.
        PENDING.store(sig, Ordering::SeqCst);
        let pid = FORWARD_TO.load(Ordering::SeqCst);
        if pid > 0 {
            let parked = PENDING.swap(0, Ordering::SeqCst);
            if parked != 0 {
                // SAFETY: as above.
                unsafe { libc::kill(pid, parked) };
            }
        }
    }
    if sig == libc::SIGINT || sig == libc::SIGTERM {
        STOPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Installs handlers that forward SIGINT, SIGTERM and SIGHUP to [`set_forward_target`].
pub fn install_forwarding() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is valid; the handler only calls kill.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn set_forward_target(pid: i32) {
    FORWARD_TO.store(pid, Ordering::SeqCst);
    let parked = PENDING.swap(0, Ordering::SeqCst);
    if pid > 0 && parked != 0 {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, parked) };
    }
}

/// Prints why the container ended, when that is not an ordinary exit.
pub fn report_exit(exit: &Exit, limits: &Limits) {
    if exit.oom_killed {
        let m = limits.memory.map(|m| format!(" of {m} bytes")).unwrap_or_default();
        eprintln!("mote: the container was killed by the OOM killer: it exceeded its memory limit{m} (--memory)");
    } else if let Some(sig) = exit.signal {
        eprintln!("mote: the container was killed by signal {sig}");
    }
}

pub fn run(args: Args) -> Result<()> {
    let spec = RunSpec { image: args.image, args: args.args, opts: args.opts, listen_fds: Vec::new() };
    install_forwarding();
    let c = Container::prepare(&spec)?;
    // (start sets the forwarding target as soon as the clone returns)
    let mut running = c.start()?;
    let mut first_stop: Option<Instant> = None;
    let exit = loop {
        // Forwarding happens in the signal handler at once; this loop only notices
        // (within 100 ms) that a stop was asked for, to enforce the stop timeout.
        if let Some(e) = running.wait_timeout(Some(Duration::from_millis(100)))? {
            break e;
        }
        let n = STOPS.load(Ordering::SeqCst);
        if n == 0 {
            continue;
        }
        let since = *first_stop.get_or_insert_with(Instant::now);
        if n >= 2 || since.elapsed() >= args.stop_timeout {
            eprintln!(
                "mote: {}; killing the container",
                if n >= 2 { "second stop signal".to_string() } else { format!("the container did not stop within {:?} (a pid 1 ignores signals it has no handler for)", args.stop_timeout) }
            );
            running.signal(libc::SIGKILL)?;
            break running.wait()?;
        }
    };
    set_forward_target(0);
    report_exit(&exit, &c.limits);
    std::process::exit(exit.code());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("16M"), Ok(16 << 20));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn users() {
        let d = std::env::temp_dir().join(format!("mote-users-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(d.join("etc/passwd"), "app:x:1000:1001::/:/sbin/nologin\n").unwrap();
        std::fs::write(d.join("etc/group"), "staff:x:50:\n").unwrap();
        assert_eq!(resolve_user(&d, "").unwrap(), (65534, 65534));
        assert_eq!(resolve_user(&d, "65532").unwrap(), (65532, 65532));
        assert_eq!(resolve_user(&d, "1:2").unwrap(), (1, 2));
        assert_eq!(resolve_user(&d, "app").unwrap(), (1000, 1001));
        assert_eq!(resolve_user(&d, "app:staff").unwrap(), (1000, 50));
        assert!(resolve_user(&d, "nobody-here").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
