//! `mote serve IMAGE --listen ADDR:PORT --idle 30s`: scale to zero.
//!
//! mote binds and listens itself and keeps the socket for its whole life. While no
//! container runs it sleeps in `poll` on the listener; the first connection (seen as
//! readability, never accepted by mote) starts the container with the listening socket
//! as fd 3 (`LISTEN_FDS=1`, `LISTEN_PID=1` — the server is pid 1 of its namespace —
//! `LISTEN_FDNAMES=http`), so that very connection waits in the accept queue and is
//! answered by the container: nothing is dropped or retried.
//!
//! The idle rule: every sample interval (a quarter of `--idle`, between 10 ms and
//! 250 ms) mote reads the kernel's TCP table (/proc/net/tcp and tcp6) for sockets on
//! the listening port. The service counts as active when a connection is open on the
//! server side (ESTABLISHED, SYN_RECV or CLOSE_WAIT), when a connection waits in the
//! accept queue, or when a connection appeared that was not there at the previous
//! sample (this catches short connections that already closed, by their TIME_WAIT
//! entry). After `--idle` without activity mote sends the image's stop signal (SIGTERM),
//! waits up to `--stop-timeout` (then SIGKILL) and goes back to sleep. Connections that
//! arrive meanwhile wait in the accept queue and wake the next container. A container
//! that exits by itself is restarted on the next connection (after a back-off when it
//! keeps failing quickly).

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::run::{self, Container, RunOpts, RunSpec};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: an OCI layout directory or an oci-archive file (optionally PATH:TAG), or a
    /// registry reference HOST[:PORT]/REPO[:TAG|@DIGEST]
    pub image: String,
    /// Address to listen on (ADDR:PORT)
    #[arg(long)]
    pub listen: String,
    /// Stop the container after this long without new or open connections (30s, 500ms, 2m)
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub idle: Duration,
    /// How long a stopping container may take before it is killed
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub stop_timeout: Duration,
    /// Do not log starts and stops
    #[arg(short, long)]
    pub quiet: bool,
    /// Arguments replacing the image's Cmd (after `--`)
    #[arg(last = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub opts: RunOpts,
}

/// Parses `30s`, `500ms`, `2m`, `1.5s`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (examples: 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Binds `addr` with SO_REUSEADDR and a deep accept queue.
pub fn bind(addr: &str) -> Result<TcpListener> {
    let sa: SocketAddr = addr
        .to_socket_addrs()
        .with_context(|| format!("--listen {addr:?}: expected ADDR:PORT"))?
        .next()
        .with_context(|| format!("--listen {addr:?} resolves to nothing"))?;
    // std sets SO_REUSEADDR before bind on Unix.
    let l = TcpListener::bind(sa).with_context(|| format!("cannot listen on {sa}"))?;
    // A deeper queue than std's default: connections wait here while a container starts.
    // SAFETY: listen on a valid listening socket only changes its backlog.
    unsafe { libc::listen(l.as_raw_fd(), 4096) };
    Ok(l)
}

/// A snapshot of the TCP sockets on one local port.
#[derive(Default, Debug)]
pub struct Activity {
    /// Open server-side connections (ESTABLISHED, SYN_RECV, CLOSE_WAIT).
    pub open: usize,
    /// Connections waiting in the listener's accept queue.
    pub queued: usize,
    /// Remote endpoints of every non-listening socket on the port (TIME_WAIT included).
    pub peers: HashSet<String>,
}

/// Reads /proc/net/tcp and /proc/net/tcp6 for sockets whose local port is `port`.
pub fn activity(port: u16) -> Activity {
    let mut a = Activity::default();
    let want = format!(":{port:04X}");
    let mut buf = Vec::with_capacity(64 << 10);
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // One big buffer: procfs hands the table out in pieces as large as the reads.
        buf.clear();
        let Ok(mut f) = std::fs::File::open(file) else { continue };
        if std::io::Read::read_to_end(&mut f, &mut buf).is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        for line in text.lines().skip(1) {
            let mut f = line.split_whitespace();
            let (_sl, local, remote, state, queues) = (f.next(), f.next(), f.next(), f.next(), f.next());
            let (Some(local), Some(remote), Some(state), Some(queues)) = (local, remote, state, queues) else { continue };
            if !local.ends_with(&want) {
                continue;
            }
            match state {
                "0A" => {
                    let rx = queues.split(':').nth(1).and_then(|q| usize::from_str_radix(q, 16).ok()).unwrap_or(0);
                    a.queued += rx;
                }
                s => {
                    if matches!(s, "01" | "03" | "08") {
                        a.open += 1;
                    }
                    a.peers.insert(remote.to_string());
                }
            }
        }
    }
    a
}

struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks SIGINT, SIGTERM and SIGHUP and reads them through a signalfd.
    fn new() -> Result<Signals> {
        // SAFETY: sigset manipulation and signalfd with valid arguments.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                bail!("signalfd: {}", std::io::Error::last_os_error());
            }
            Ok(Signals { fd: OwnedFd::from_raw_fd(fd) })
        }
    }

    fn take(&self) -> Option<u32> {
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reading one siginfo into a properly sized buffer.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
        (n as usize == size).then_some(info.ssi_signo)
    }
}

/// Polls `fds` for readability; returns which are readable (empty on timeout).
fn poll(fds: &[i32], timeout: Option<Duration>) -> Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let ms = timeout.map(|t| t.as_millis().min(i32::MAX as u128) as i32).unwrap_or(-1);
    loop {
        // SAFETY: poll over our own array.
        let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
        if r >= 0 {
            return Ok(p.iter().map(|x| x.revents != 0).collect());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            bail!("poll: {e}");
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let listener = bind(&args.listen)?;
    let port = listener.local_addr()?.port();
    let spec = RunSpec {
        image: args.image.clone(),
        args: args.args.clone(),
        opts: args.opts.clone(),
        listen_fds: vec![(listener.as_raw_fd(), "http".to_string())],
    };
    let container = Container::prepare(&spec)?;
    let signals = Signals::new()?;
    let log = |msg: String| {
        if !args.quiet {
            eprintln!("mote serve: {msg}");
        }
    };
    log(format!("listening on {} (image {}), idle timeout {:?}", listener.local_addr()?, container.manifest_digest, args.idle));
    let sample = (args.idle / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut backoff = Duration::ZERO;

    loop {
        // Idle: wait for a connection (or a signal).
        let r = poll(&[listener.as_raw_fd(), signals.fd.as_raw_fd()], None)?;
        if r[1] {
            if let Some(sig) = signals.take() {
                log(format!("signal {sig}: exiting"));
                return Ok(());
            }
            continue;
        }
        let started = Instant::now();
        let mut running = container.start()?;
        log(format!("connection waiting: started the container (pid {})", running.pid()));

        let mut last_active = Instant::now();
        let mut peers = HashSet::new();
        let mut stop_reason: Option<String> = None;
        let exit = loop {
            let r = poll(&[running.pidfd(), signals.fd.as_raw_fd()], Some(sample))?;
            if r[0] {
                break running.wait()?;
            }
            if r[1] {
                if let Some(sig) = signals.take() {
                    log(format!("signal {sig}: stopping the container and exiting"));
                    let e = running.stop(args.stop_timeout)?;
                    run::report_exit(&e, &Default::default());
                    return Ok(());
                }
            }
            let a = activity(port);
            let fresh = a.peers.iter().any(|p| !peers.contains(p));
            if a.open > 0 || a.queued > 0 || fresh {
                last_active = Instant::now();
            }
            peers = a.peers;
            if last_active.elapsed() >= args.idle {
                stop_reason = Some(format!("idle for {:?}", args.idle));
                break running.stop(args.stop_timeout)?;
            }
        };
        match stop_reason {
            Some(why) => {
                log(format!("{why}: stopped the container ({})", describe(&exit)));
                backoff = Duration::ZERO;
            }
            None => {
                log(format!("the container exited by itself ({})", describe(&exit)));
                run::report_exit(&exit, &Default::default());
                if exit.code() != 0 && started.elapsed() < Duration::from_secs(1) {
                    backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                    log(format!("it failed within a second; waiting {backoff:?} before the next start"));
                    let r = poll(&[signals.fd.as_raw_fd()], Some(backoff))?;
                    if r[0] && signals.take().is_some() {
                        return Ok(());
                    }
                } else {
                    backoff = Duration::ZERO;
                }
            }
        }
    }
}

fn describe(e: &run::Exit) -> String {
    match (e.status, e.signal) {
        (Some(s), _) => format!("exit status {s}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn activity_sees_queued_open_and_new_connections() {
        let l = bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let a = activity(port);
        assert_eq!((a.open, a.queued, a.peers.len()), (0, 0, 0));
        // A connection the server has not accepted yet: in the accept queue.
        let c1 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let a = activity(port);
        assert_eq!(a.queued, 1, "{a:?}");
        assert_eq!(a.peers.len(), 1, "{a:?}");
        let (s1, _) = l.accept().unwrap();
        let a = activity(port);
        assert_eq!((a.open, a.queued), (1, 0), "{a:?}");
        // Closed by the server first: TIME_WAIT on the server side, still a known peer,
        // no longer open.
        drop(s1);
        drop(c1);
        std::thread::sleep(Duration::from_millis(50));
        let a = activity(port);
        assert_eq!(a.open, 0, "{a:?}");
        assert_eq!(a.peers.len(), 1, "{a:?}");
    }
}
