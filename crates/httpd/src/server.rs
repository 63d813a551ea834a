//! Start-up (root, listener, limits, privileges, workers) and the event loop.
//!
//! The loop is single-threaded epoll. The listener and the signalfd are level-triggered;
//! connections are edge-triggered for IN|OUT|RDHUP, registered once and never modified:
//! each event runs `drive`, which makes all the progress it can (read, parse, respond,
//! send, next pipelined request) until a syscall says EAGAIN, so the next edge always
//! comes. Deadlines are checked once per second of the monotonic clock: epoll_wait uses a
//! 1 s timeout while connections exist.

use crate::config::{self, err_line, Config, UNSET};
use crate::log::{Clock, Log, Peer};
use crate::respond::{Ctx, Plan, SCRATCH};
use crate::seccomp;
use crate::num::{copy_fwd, sub};
use crate::sys::{self, Fd, Slots};
use mote_http::{parse_request, BodySkipper, Body, Header, Parsed, Version};

/// Response heads, redirects up to 2 KiB of Location and small bodies fit in this, plus
/// the configured extra headers.
const OUT_BASE: usize = 3072;
/// Request header fields per request (more → 431 from the parser).
const MAX_HEADERS: usize = 64;
/// Seconds a closing connection may keep sending us data we discard (lingering close:
/// an immediate close with unread input would reset the connection and destroy the
/// response in flight).
const LINGER: u64 = 2;

/// The canned answer when every slot is taken. Its last lines end the 500 of
/// `respond::Ctx::head` too ([`EMPTY_CLOSE`]): one copy of them in the binary.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// `Content-Length: 0`, `Connection: close` and the empty line.
pub const EMPTY_CLOSE: &[u8] = BUSY.split_at(BUSY.len() - 40).1;

const TOK_LISTEN: u64 = 0;
const TOK_SIGNAL: u64 = 1;

#[derive(Clone, Copy, PartialEq)]
enum St {
    Free,
    Read,
    Skip,
    Send,
    Linger,
}

pub struct Conn {
    fd: Fd,
    st: St,
    peer: Peer,
    deadline: u64,
    in_len: usize,
    /// Head of the request being answered (kept in the buffer for the log line).
    head_len: usize,
    /// Start and end of the method and the target in the head (buffers are < 4 GiB).
    method: (u32, u32),
    target: (u32, u32),
    v10: bool,
    out_pos: usize,
    /// The response being sent: `p.head` bytes of the output buffer, then `p.len` bytes
    /// of `p.file` (counted down as they go out).
    p: Plan,
    /// The body being discarded (meaningful in `Skip` only).
    skip: BodySkipper,
    skipped: u64,
}

impl Conn {
    #[inline(never)]
    fn new(fd: Fd, peer: Peer) -> Self {
        Conn {
            fd,
            st: St::Read,
            peer,
            deadline: 0,
            in_len: 0,
            head_len: 0,
            method: (0, 0),
            target: (0, 0),
            v10: false,
            out_pos: 0,
            p: Plan::new(),
            skip: BodySkipper::new(Body::None),
            skipped: 0,
        }
    }
}

/// Everything `drive` needs besides the connection and its buffers.
pub struct Env<'a> {
    pub cfg: &'a Config,
    pub root: Fd,
    pub clock: Clock,
    /// Scratch space for building one response (`respond::SCRATCH`).
    pub scratch: &'a mut [u8],
    pub log: Log<'a>,
    /// Regular files kept open for up to a second (`files::Cache`). Borrowed, not owned:
    /// measured smaller (56 bytes) than the cache inside `Env`.
    pub files: &'a mut crate::files::Cache,
    pub stopping: bool,
    /// Open connections.
    active: usize,
}

/// A start-up failure: one line with `what`, `detail` and the errno; exit code 1.
fn fail(what: &[u8], detail: &[u8], e: isize) -> i32 {
    let mut b = [0u8; 20];
    err_line(&[what, detail, b" (errno ", crate::num::dec(e.unsigned_abs() as u64, &mut b), b")"]);
    1
}

/// Opens --root (O_PATH): the descriptor or -errno. Out of line so that its 4 KiB path
/// buffer is off the stack again before the event loop runs (less stack ever touched).
#[inline(never)]
fn open_root(root: &[u8]) -> isize {
    let mut pb = [0u8; 4097];
    let mut w = crate::num::W::new(&mut pb);
    w.put(root).byte(0);
    sys::openat(-100 /* AT_FDCWD */, w.done(), sys::O_PATH | sys::O_DIRECTORY | sys::O_CLOEXEC)
}

pub fn run(cfg: &Config) -> i32 {
    let r = open_root(cfg.root);
    if r < 0 {
        return fail(b"cannot open --root directory ", cfg.root, r);
    }
    let root = r as Fd;
    let lfd = listener(cfg);
    if lfd < 0 {
        return fail(b"cannot listen on --listen address", b"", lfd);
    }
    let lfd = lfd as Fd;
    // Room for a socket and a file per connection.
    sys::raise_nofile(cfg.n[config::MAX_CONNS] * 2 + 32);
    let e = drop_privileges(cfg);
    if e < 0 {
        return fail(b"cannot drop privileges to --uid/--gid", b"", e);
    }
    // After a verified drop the effective uid is --uid: no geteuid then, nor with
    // --allow-root.
    let uid = cfg.n[config::UID];
    if !cfg.on(config::ALLOW_ROOT) && (if uid == UNSET { sys::euid() as u64 } else { uid }) == 0 {
        err_line(&[b"refusing to run as root: give --uid/--gid, or --allow-root"]);
        return 2;
    }
    let sfd = sys::signal_fd();
    if sfd < 0 {
        return fail(b"cannot set up signal handling", b"", sfd);
    }
    let sfd = sfd as Fd;
    if cfg.n[config::WORKERS] > 1 {
        return supervise(cfg, root, lfd, sfd);
    }
    serve(cfg, root, lfd, sfd, false)
}

/// The listening socket (or -errno).
fn listener(cfg: &Config) -> isize {
    // getpid only when LISTEN_FDS is set (both were read with the rest of the environment).
    if cfg.n[config::LISTEN_FDS] >= 1 && cfg.n[config::LISTEN_PID] == sys::getpid() as u64 {
        let r = sys::set_nonblock(3);
        return if r < 0 { r } else { 3 };
    }
    let fd = sys::tcp_socket(cfg.v6);
    if fd < 0 {
        return fd;
    }
    let f = fd as Fd;
    if cfg.n[config::WORKERS] > 1 {
        sys::sockopt_on(f, sys::SOL_SOCKET, sys::SO_REUSEPORT);
    }
    let sa = sys::sockaddr(cfg.v6, &cfg.addr, cfg.port);
    for r in [sys::sockopt_on(f, sys::SOL_SOCKET, sys::SO_REUSEADDR), sys::bind(f, &sa, cfg.v6), sys::listen(f, 1024)] {
        if r < 0 {
            return r;
        }
    }
    fd
}

/// setgroups(0), setgid, setuid, each verified: 0 or -errno.
fn drop_privileges(cfg: &Config) -> isize {
    let (uid, gid) = (cfg.n[config::UID], cfg.n[config::GID]);
    if uid == UNSET && gid == UNSET {
        return 0;
    }
    let r = sys::clear_groups();
    if r < 0 {
        return r;
    }
    // gid first: after setuid we could no longer change it.
    for (group, id) in [(true, gid), (false, uid)] {
        if id == UNSET {
            continue;
        }
        let r = sys::set_id(group, id);
        if r < 0 {
            return r;
        }
        // Real, effective and saved id (getresuid/getresgid): one syscall, all three.
        if sys::ids(group) != [id as u32; 3] {
            return -sys::EPERM;
        }
    }
    0
}

/// Drains the signalfd: whether SIGTERM or SIGINT was among the signals (SIGCHLD only
/// wakes the loop).
fn term_requested(sfd: Fd) -> bool {
    let mut term = false;
    loop {
        match sys::read_signal(sfd) {
            0 => return term,
            sig => term |= sig == sys::SIGTERM || sig == sys::SIGINT,
        }
    }
}

/// Sends `sig` to every live worker.
fn signal_all(pids: &[i32], sig: u32) {
    for &p in pids.iter().filter(|p| **p > 0) {
        sys::kill(p, sig);
    }
}

/// --workers N: N forked processes share the listener (EPOLLEXCLUSIVE wakes one). The
/// parent forwards SIGTERM/SIGINT, reaps children and restarts one that dies while not
/// stopping.
#[inline(never)] // measured smaller than inlined into its one caller
fn supervise(cfg: &Config, root: Fd, lfd: Fd, sfd: Fd) -> i32 {
    let mut pids = [0i32; 256];
    let n = (cfg.n[config::WORKERS] as usize).min(pids.len());
    let mut stopping = false;
    let mut deadline = 0;
    // The supervisor's filter allows its own loop and a new worker's start; each worker
    // then adds the serving loop's (filters stack: the worker gets the intersection).
    if sandbox(cfg, seccomp::ALLOW.len()) < 0 {
        return 1;
    }
    loop {
        if !stopping {
            for p in pids.iter_mut().take(n).filter(|p| **p == 0) {
                match sys::fork() {
                    0 => return serve(cfg, root, lfd, sfd, true),
                    pid if pid > 0 => *p = pid as i32,
                    _ => {}
                }
            }
        }
        // Sleep until a signal (SIGCHLD included) or for a second, then take the rest.
        let sig = sys::wait_signal();
        if (sig == sys::SIGTERM || sig == sys::SIGINT || term_requested(sfd)) && !stopping {
            stopping = true;
            deadline = sys::clock_secs(true) + cfg.n[config::GRACE] + 1;
            sys::close(lfd);
            signal_all(&pids, sys::SIGTERM);
        }
        loop {
            let pid = sys::reap();
            if pid <= 0 {
                break;
            }
            for p in pids.iter_mut().filter(|p| **p as isize == pid) {
                *p = 0;
            }
        }
        if stopping {
            if pids.iter().all(|&p| p == 0) {
                return 0;
            }
            if sys::clock_secs(true) > deadline {
                signal_all(&pids, sys::SIGKILL);
                return 0;
            }
        }
    }
}

/// Installs the seccomp filter for the first `n` syscalls of `seccomp::ALLOW` unless
/// --no-seccomp: 0, or -errno after printing. Fails closed: a kernel (or an emulator like
/// qemu-user) that cannot filter makes the start fail, naming --no-seccomp.
fn sandbox(cfg: &Config, n: usize) -> isize {
    if cfg.on(config::NO_SECCOMP) {
        return 0;
    }
    let r = sys::sandbox(n);
    if r < 0 {
        fail(b"cannot install the seccomp filter (--no-seccomp runs without)", b"", r);
    }
    r
}

fn listen_flags(shared: bool) -> u32 {
    if shared { sys::EPOLLIN | sys::EPOLLEXCLUSIVE } else { sys::EPOLLIN }
}

fn serve(cfg: &Config, root: Fd, mut lfd: Fd, sfd: Fd, shared: bool) -> i32 {
    let ep = sys::epoll_create();
    if ep < 0 {
        return 1;
    }
    let ep = ep as Fd;
    let buf_size = cfg.n[config::BUF_SIZE] as usize;
    let out_size = OUT_BASE + cfg.extra_len;
    // Each slot is [output | input], page-aligned: a response head (from the start of
    // the output buffer) and a short request (after it) then share one page, where
    // [input | output] always touched two.
    let stride = (buf_size + out_size + 4095) & !4095;
    let Some(mut slots) = Slots::<Conn>::new(cfg.n[config::MAX_CONNS] as usize, stride) else {
        err_line(&[b"cannot map memory for --max-conns connection slots"]);
        return 1;
    };
    if sys::epoll_add(ep, lfd, TOK_LISTEN, listen_flags(shared)) < 0 || sys::epoll_add(ep, sfd, TOK_SIGNAL, sys::EPOLLIN) < 0 {
        return 1;
    }
    // The scratch space and the log buffer live outside the stack, so they cost no
    // memory until written, and nothing is zeroed per request.
    let Some((scratch, logbuf)) = sys::map_bytes(SCRATCH + 16384).and_then(|m| m.split_at_mut_checked(SCRATCH)) else { return 1 };
    // Everything is open and mapped: from here on only the serving loop's syscalls.
    if sandbox(cfg, seccomp::SERVE) < 0 {
        return 1;
    }
    let mut env = Env {
        cfg,
        root,
        clock: Clock::new(),
        scratch,
        log: Log::new(cfg.log, logbuf),
        // A const block: zeroed with one memset in place (a runtime `Cache::new()` built
        // the array entry by entry on the stack and copied it).
        files: &mut const { crate::files::Cache::new() },
        stopping: false,
        active: 0,
    };
    let mut paused_until = 0u64; // listener removed from epoll (EMFILE) until then
    let mut grace_end = 0u64;
    let mut last_sweep = env.clock.mono;
    // A const block: one memset (an array expression at run time was a store loop).
    let mut evbuf = const { [sys::Event { events: 0, data: 0 }; 64] };
    loop {
        // Not idle while the file cache holds files of this second: a turn a second later
        // closes them (a removed file's space is not held by an idle server).
        let idle = env.files.expire(env.clock.mono) && env.active == 0 && !env.stopping && paused_until == 0;
        let n = sys::epoll_wait(ep, &mut evbuf, if idle { -1 } else { 1000 });
        env.clock.tick();
        let active_before = env.active;
        for ev in evbuf.iter().take(n) {
            match { ev.data } {
                TOK_LISTEN => {
                    if env.stopping {
                        continue;
                    }
                    // Accept a batch; when slots run out answer 503 and close; on EMFILE
                    // stop polling the listener for a second instead of spinning.
                    for _ in 0..64 {
                        let mut sa: sys::SockAddr = [0; 28];
                        let fd = match sys::accept(lfd, &mut sa) {
                            fd if fd >= 0 => fd as Fd,
                            e if matches!(-e, sys::EMFILE | sys::ENFILE | sys::ENOBUFS | sys::ENOMEM) => {
                                err_line(&[b"accept: out of descriptors or memory; not accepting for 1 s"]);
                                sys::epoll_del(ep, lfd);
                                paused_until = env.clock.mono + 1;
                                break;
                            }
                            e if matches!(-e, sys::EINTR | sys::ECONNABORTED) => continue,
                            _ => break,
                        };
                        let conn = Conn::new(fd, peer_of(&sa));
                        // The first free slot, else a new one. Size trade: a scan instead of
                        // a free list (no link field, no bookkeeping on close); it only
                        // runs per accept, over the slots ever used.
                        let (all, _) = slots.parts();
                        let idx = match all.iter_mut().enumerate().find(|(_, c)| c.st == St::Free) {
                            Some((i, c)) => {
                                *c = conn;
                                Some(i)
                            }
                            None => slots.push(conn),
                        };
                        let Some(i) = idx else {
                            sys::send(fd, BUSY, 0);
                            sys::close(fd);
                            continue;
                        };
                        sys::sockopt_on(fd, sys::IPPROTO_TCP, sys::TCP_NODELAY);
                        let (all, _) = slots.parts();
                        let Some(c) = all.get_mut(i) else { continue };
                        arm(c, &env, config::HEADER_TIMEOUT);
                        env.active += 1;
                        let evs = sys::EPOLLIN | sys::EPOLLOUT | sys::EPOLLRDHUP | sys::EPOLLET;
                        if sys::epoll_add(ep, fd, i as u64 + 2, evs) < 0 {
                            close_conn(c, &mut env);
                        }
                    }
                }
                TOK_SIGNAL => {
                    if term_requested(sfd) && !env.stopping {
                        env.stopping = true;
                        grace_end = env.clock.mono + cfg.n[config::GRACE];
                        sys::epoll_del(ep, lfd);
                        sys::close(lfd);
                        lfd = -1;
                        // Idle keep-alive connections (served before: a status
                        // is set; nothing read since) go now; the rest after their current
                        // response (`stopping` makes it the last). A connection
                        // not served yet stays: it may have been accepted in
                        // this very batch with its request still in the socket
                        // (a socket-activated handover).
                        let (all, _) = slots.parts();
                        for c in all.iter_mut() {
                            if c.st == St::Read && c.in_len == 0 && c.p.status != 0 {
                                close_conn(c, &mut env);
                            }
                        }
                    }
                }
                tok => {
                    let i = (tok - 2) as usize;
                    let Some((c, inb, outb)) = slot(&mut slots, i, stride, out_size, buf_size) else { continue };
                    // 2: never stop at a short read (EOF, reset or error may be queued).
                    drive(c, inb, outb, &mut env, (ev.events & (sys::EPOLLRDHUP | sys::EPOLLHUP | sys::EPOLLERR) != 0) as u8 * 2);
                }
            }
        }
        let now = env.clock.mono;
        if now != last_sweep {
            last_sweep = now;
            for i in 0..slots.len() {
                let Some((c, inb, outb)) = slot(&mut slots, i, stride, out_size, buf_size) else { continue };
                // Whole seconds: a deadline set at t expires in (timeout, timeout + 1] s.
                if c.st == St::Free || c.deadline >= now {
                    continue;
                }
                if c.st == St::Read && c.in_len > 0 {
                    // Slow or stalled request head: answer 408 (logged without a request
                    // line: head_len is 0 while reading a head) and close like after any
                    // error, unless the send must wait.
                    start_error(c, outb, &mut env, 408);
                    drive(c, inb, outb, &mut env, 2);
                } else {
                    close_conn(c, &mut env);
                }
            }
        }
        env.log.flush();
        // Accept again after the pause, or as soon as a connection closed.
        if paused_until != 0 && (now >= paused_until || env.active < active_before) && !env.stopping {
            paused_until = 0;
            sys::epoll_add(ep, lfd, TOK_LISTEN, listen_flags(shared));
        }
        if env.stopping && (env.active == 0 || now > grace_end) {
            return 0;
        }
    }
}

/// The client address from accept's sockaddr; IPv4-mapped IPv6 becomes IPv4.
#[inline(never)] // measured smaller than inlined into its one caller
fn peer_of(sa: &sys::SockAddr) -> Peer {
    let mut p = Peer { v6: false, addr: [0; 16] };
    if sa[0] == 2 {
        p.addr[..4].copy_from_slice(&sa[4..8]);
    } else if sa[0] == 10 {
        if sa[8..20] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            p.addr[..4].copy_from_slice(&sa[20..24]);
        } else {
            p.v6 = true;
            p.addr.copy_from_slice(&sa[8..24]);
        }
    }
    p
}

/// Connection slot `i` with its input and output buffers.
#[inline(never)]
fn slot(slots: &mut Slots<Conn>, i: usize, stride: usize, out_size: usize, buf_size: usize) -> Option<(&mut Conn, &mut [u8], &mut [u8])> {
    let (all, bytes) = slots.parts();
    let (outb, inb) = bytes.get_mut(i * stride..(i + 1) * stride)?.split_at_mut_checked(out_size)?;
    Some((all.get_mut(i)?, inb.get_mut(..buf_size)?, outb))
}

/// Sets the connection's deadline to now + the timeout option `which`. Inlined (measured
/// in size pass 4: 16 bytes smaller on x86_64 than out of line).
fn arm(c: &mut Conn, env: &Env, which: usize) {
    c.deadline = env.clock.mono + env.cfg.n.get(which).copied().unwrap_or(0);
}

/// Closes the connection and frees its slot (once: a freed slot has no fd).
fn close_conn(c: &mut Conn, env: &mut Env) {
    if c.fd < 0 {
        return;
    }
    sys::close(c.fd);
    sys::close(c.p.file);
    c.fd = -1;
    c.p.file = -1;
    c.st = St::Free;
    env.active -= 1;
}

/// Reads into `inb[in_len..]`: false on EAGAIN (wait for the next edge), else true:
/// bytes came, or EOF or an error made the connection `Free` (the caller's loop then
/// closes it).
///
/// `drained` (0, 1 or 2, one per `drive` call): a read shorter than the room emptied the
/// socket's receive queue, and any byte arriving after it raises a new edge (as nginx's
/// `ready = 0` on a short recv), so the next read in the same `drive` would only say
/// EAGAIN: it is not made (1), one syscall less per request. Starts at 2 (never
/// stops) when the event reported RDHUP/HUP/ERR: then EOF or an error may be queued
/// with no edge to come. (Urgent data also ends a read early: a client sending MSG_OOB
/// stalls only itself, until its timeout.)
fn fill(c: &mut Conn, inb: &mut [u8], drained: &mut u8) -> bool {
    if *drained == 1 {
        return false;
    }
    loop {
        let n = match inb.get_mut(c.in_len..) {
            Some(dst) => sys::read(c.fd, dst),
            None => 0,
        };
        match n {
            n if n > 0 => {
                c.in_len += n as usize;
                *drained |= (c.in_len < inb.len()) as u8;
            }
            n if n == -sys::EAGAIN => return false,
            n if n == -sys::EINTR => continue,
            _ => c.st = St::Free,
        }
        return true;
    }
}

/// Makes all possible progress on one connection; closes it (frees the slot) when it is
/// done.
#[inline(never)]
fn drive(c: &mut Conn, inb: &mut [u8], outb: &mut [u8], env: &mut Env, mut drained: u8) {
    loop {
        match c.st {
            St::Free => return close_conn(c, env),
            St::Send => {
                if c.out_pos < c.p.head {
                    let flags = if c.p.len > 0 { sys::MSG_MORE } else { 0 };
                    match sys::send(c.fd, sub(outb, c.out_pos, c.p.head), flags) {
                        n if n >= 0 => {
                            c.out_pos += n as usize;
                            arm(c, env, config::WRITE_TIMEOUT);
                        }
                        n if n == -sys::EAGAIN => return,
                        n if n == -sys::EINTR => {}
                        _ => return finish(c, inb, env, false),
                    }
                    continue;
                }
                if c.p.len > 0 {
                    let chunk = c.p.len.min(1 << 30) as usize;
                    match sys::sendfile(c.fd, c.p.file, &mut c.p.off, chunk) {
                        n if n > 0 => {
                            c.p.len -= (n as u64).min(c.p.len);
                            c.p.sent += n as u64;
                            arm(c, env, config::WRITE_TIMEOUT);
                        }
                        n if n == -sys::EAGAIN => return,
                        n if n == -sys::EINTR => {}
                        // 0: the file shrank, Content-Length can no longer be honoured.
                        _ => return finish(c, inb, env, false),
                    }
                    continue;
                }
                finish(c, inb, env, true);
            }
            St::Linger => {
                c.in_len = 0;
                if !fill(c, inb, &mut drained) {
                    return;
                }
            }
            St::Skip => {
                let body = sub(inb, c.head_len, c.in_len);
                let blen = body.len();
                match c.skip.feed(body) {
                    Ok((k, done)) => {
                        let k = k.min(blen);
                        copy_fwd(inb, c.head_len, c.head_len + k, c.in_len);
                        c.in_len -= k;
                        c.skipped += k as u64;
                        if c.skipped > env.cfg.n[config::MAX_BODY] {
                            start_error(c, outb, env, 413);
                        } else if done {
                            respond_to(c, inb, outb, env, true);
                        } else {
                            // No re-arm on progress: the whole body must arrive within
                            // --header-timeout of its start (a body trickled a byte at a
                            // time would otherwise hold the slot forever).
                            if !fill(c, inb, &mut drained) {
                                return;
                            }
                        }
                    }
                    Err(e) => start_error(c, outb, env, e.status),
                }
            }
            St::Read => {
                if c.in_len > 0 {
                    respond_to(c, inb, outb, env, false);
                    if c.st != St::Read {
                        continue;
                    }
                }
                let was_empty = c.in_len == 0;
                if !fill(c, inb, &mut drained) {
                    return;
                }
                if was_empty {
                    arm(c, env, config::HEADER_TIMEOUT);
                }
            }
        }
    }
}

/// Parses the buffered head and starts the response (or a body skip). Stays in Read for
/// an incomplete head. `skipped` means the body was already discarded.
fn respond_to(c: &mut Conn, inb: &mut [u8], outb: &mut [u8], env: &mut Env, skipped: bool) {
    let full = c.in_len == inb.len();
    let data = sub(inb, 0, if skipped { c.head_len } else { c.in_len });
    let mut hdrs = [Header::default(); MAX_HEADERS];
    let req = match parse_request(data, &mut hdrs) {
        Ok(Parsed::Complete(r)) => r,
        Ok(Parsed::Partial) if !full => return,
        r => {
            // No usable request line: the log shows "-" (head_len 0).
            let s = match r {
                Err(e) => e.status,
                _ => mote_http::status_for_full_buffer(data),
            };
            c.head_len = 0;
            return start_error(c, outb, env, s);
        }
    };
    let base = data.as_ptr() as usize;
    c.head_len = req.head_len;
    let span = |s: &[u8]| ((s.as_ptr() as usize - base) as u32, (s.as_ptr() as usize - base + s.len()) as u32);
    c.method = span(req.method_raw);
    c.target = span(req.target);
    c.v10 = req.version == Version::Http10;
    c.p.close = !req.keep_alive || env.stopping;
    if !skipped && req.body != Body::None {
        if matches!(req.body, Body::Length(n) if n > env.cfg.n[config::MAX_BODY]) {
            return start_error(c, outb, env, 413);
        }
        if req.header(b"expect").is_some() {
            // The client waits for 100-continue: answer now and close rather than
            // read a body we would discard.
            c.p.close = true;
        } else {
            c.skip = BodySkipper::new(req.body);
            c.skipped = 0;
            c.st = St::Skip;
            arm(c, env, config::HEADER_TIMEOUT);
            return;
        }
    }
    ctx(c, outb, env).respond(&req);
    start(c, env);
}

fn ctx<'a, 'e>(c: &'a mut Conn, out: &'a mut [u8], env: &'a mut Env<'e>) -> Ctx<'a, 'e> {
    Ctx { env, out, p: &mut c.p, head_only: false, v10: c.v10 }
}

/// Answers `status` and closes.
#[inline(never)]
fn start_error(c: &mut Conn, outb: &mut [u8], env: &mut Env, status: u16) {
    c.p.close = true;
    ctx(c, outb, env).page(status, b"", b"");
    start(c, env);
}

fn start(c: &mut Conn, env: &Env) {
    c.out_pos = 0;
    c.st = St::Send;
    arm(c, env, config::WRITE_TIMEOUT);
}

/// A response ended (`ok`) or failed: log it, then go on with the next request, linger
/// or close.
fn finish(c: &mut Conn, inb: &mut [u8], env: &mut Env, ok: bool) {
    let head = sub(inb, 0, c.head_len);
    let (method, target): (&[u8], &[u8]) = if c.head_len == 0 {
        (b"-", b"")
    } else {
        (sub(head, c.method.0 as usize, c.method.1 as usize), sub(head, c.target.0 as usize, c.target.1 as usize))
    };
    let version: &[u8] = if c.v10 { b"HTTP/1.0" } else { b"HTTP/1.1" };
    env.log.line(&env.clock, &c.peer, method, target, version, c.p.status, c.p.sent);
    sys::close(c.p.file);
    c.p.file = -1;
    let rest = c.in_len.saturating_sub(c.head_len);
    copy_fwd(inb, 0, c.head_len, c.in_len);
    c.in_len = rest;
    c.head_len = 0;
    if !ok {
        c.st = St::Free;
    } else if !c.p.close && !env.stopping {
        c.st = St::Read;
        arm(c, env, if rest > 0 { config::HEADER_TIMEOUT } else { config::IDLE_TIMEOUT });
    } else if c.p.status >= 400 || rest > 0 {
        sys::shutdown_write(c.fd);
        c.st = St::Linger;
        c.deadline = env.clock.mono + LINGER;
    } else {
        c.st = St::Free;
    }
}
