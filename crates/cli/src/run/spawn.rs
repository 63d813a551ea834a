//! The clone and the child's way to exec, in raw syscalls.
//!
//! Everything the child needs (C strings, pointer arrays, descriptors) is built by
//! [`ChildPlan::new`] before the clone: between `clone` and `execve` the child only
//! makes system calls (no allocation, no locks, no glibc wrappers that keep per-thread
//! state such as setuid's cross-thread broadcast). `clone` is called vfork-style
//! (CLONE_VM | CLONE_VFORK, own stack), with CLONE_PIDFD so the parent gets a pidfd it
//! can poll and signal without pid-reuse races.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::cgroup::Cgroups;

/// Inputs of the plan, borrowed from the caller.
pub struct PlanInput<'a> {
    pub rootfs: &'a Path,
    pub tmpfs: &'a [std::path::PathBuf],
    pub exe: &'a CString,
    pub argv: &'a [String],
    pub env: &'a [String],
    pub workdir: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub hostname: &'a [u8],
    pub new_net: bool,
    pub listen_fds: Vec<RawFd>,
}

/// A device node of the container's /dev.
struct DevNode {
    /// `<rootfs>/dev/NAME`.
    path: CString,
    /// The host's node, bind-mounted when mknod is not allowed.
    host: &'static CStr,
    dev: libc::dev_t,
}

/// The character devices every container gets, as runc and crun give them (the OCI
/// runtime spec's default devices, without a console): name, major, minor.
const DEV_NODES: [(&CStr, u32, u32); 6] = [
    (c"/dev/null", 1, 3),
    (c"/dev/zero", 1, 5),
    (c"/dev/full", 1, 7),
    (c"/dev/random", 1, 8),
    (c"/dev/urandom", 1, 9),
    (c"/dev/tty", 5, 0),
];

/// The symlinks of /dev: name, target.
const DEV_LINKS: [(&str, &CStr); 4] = [
    ("fd", c"/proc/self/fd"),
    ("stdin", c"/proc/self/fd/0"),
    ("stdout", c"/proc/self/fd/1"),
    ("stderr", c"/proc/self/fd/2"),
];

/// The /proc entries a container must not see (the masked paths of runc's default
/// spec, those under /proc, plus /proc/interrupts from docker's defaults): host
/// memory (kcore), the kernel keyrings, timer and scheduler internals that leak host
/// activity, hardware tables. A file gets the container's /dev/null bound over it (it
/// reads empty), a directory an empty read-only tmpfs. Entries this kernel does not
/// have are skipped. runc's /sys entries (/sys/firmware, ...) need nothing: the
/// container has no sysfs.
const PROC_MASKED: [&CStr; 10] = [
    c"acpi",
    c"asound",
    c"interrupts",
    c"kcore",
    c"keys",
    c"latency_stats",
    c"sched_debug",
    c"scsi",
    c"timer_list",
    c"timer_stats",
];

/// The /proc entries a container sees but must not write (runc's default read-only
/// paths): kernel settings (sys: sysctls, among them core_pattern, which the kernel
/// runs as root on the host), sysrq-trigger, IRQ affinities, bus and file system
/// knobs. Root in the container owns these files and needs no capability to write
/// most of them (core_pattern and sysrq-trigger among them), so each is bind-mounted
/// onto itself and remounted read-only: a write fails with EROFS. Missing entries are
/// skipped.
const PROC_READONLY: [&CStr; 5] = [c"bus", c"fs", c"irq", c"sys", c"sysrq-trigger"];

/// The child's whole program, prepared.
pub struct ChildPlan {
    rootfs: CString,
    /// `<rootfs>/proc`, where a fresh proc goes (the image, or the cache, has the directory).
    proc_target: CString,
    /// `<rootfs>/dev`, `<rootfs>/dev/shm`, the nodes and symlinks of /dev.
    dev: CString,
    dev_shm: CString,
    dev_nodes: Vec<DevNode>,
    dev_links: Vec<(CString, &'static CStr)>,
    tmpfs: Vec<CString>,
    exe: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    workdir: CString,
    uid: u32,
    gid: u32,
    hostname: Vec<u8>,
    new_net: bool,
    listen_fds: Vec<RawFd>,
    last_cap: u32,
}

// SAFETY: the raw pointers point into the CStrings owned by the same struct, which are
// never mutated after construction.
unsafe impl Send for ChildPlan {}
unsafe impl Sync for ChildPlan {}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("path {} contains a NUL byte", p.display()))
}

impl ChildPlan {
    pub fn new(i: PlanInput) -> Result<ChildPlan> {
        let argv: Vec<CString> = i.argv.iter().map(|a| CString::new(a.as_str())).collect::<Result<_, _>>()?;
        let env: Vec<CString> = i.env.iter().map(|a| CString::new(a.as_str())).collect::<Result<_, _>>()?;
        let mut argv_ptrs: Vec<_> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<_> = env.iter().map(|c| c.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(63);
        Ok(ChildPlan {
            rootfs: cstr(i.rootfs)?,
            proc_target: cstr(&i.rootfs.join("proc"))?,
            dev: cstr(&i.rootfs.join("dev"))?,
            dev_shm: cstr(&i.rootfs.join("dev/shm"))?,
            dev_nodes: DEV_NODES
                .iter()
                .map(|&(host, major, minor)| {
                    let rel = Path::new(std::ffi::OsStr::from_bytes(host.to_bytes())).strip_prefix("/").expect("absolute");
                    Ok(DevNode { path: cstr(&i.rootfs.join(rel))?, host, dev: libc::makedev(major, minor) })
                })
                .collect::<Result<_>>()?,
            dev_links: DEV_LINKS
                .iter()
                .map(|&(name, target)| Ok((cstr(&i.rootfs.join("dev").join(name))?, target)))
                .collect::<Result<_>>()?,
            tmpfs: i.tmpfs.iter().map(|p| cstr(p)).collect::<Result<_>>()?,
            exe: i.exe.clone(),
            _argv: argv,
            argv_ptrs,
            _env: env,
            env_ptrs,
            workdir: CString::new(i.workdir)?,
            uid: i.uid,
            gid: i.gid,
            hostname: i.hostname.to_vec(),
            new_net: i.new_net,
            listen_fds: i.listen_fds,
            last_cap,
        })
    }
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The exit status, when it exited.
    pub status: Option<i32>,
    /// The signal that killed it, when it was killed.
    pub signal: Option<i32>,
    /// The memory cgroup recorded an OOM kill.
    pub oom_killed: bool,
}

impl Exit {
    /// The shell's convention: the status, or 128 + the signal number.
    pub fn code(&self) -> i32 {
        match (self.status, self.signal) {
            (Some(s), _) => s,
            (None, Some(sig)) => 128 + sig,
            _ => 255,
        }
    }
}

/// A started container. Dropping it kills (SIGKILL) and reaps the container and
/// removes its cgroups; use [`Running::stop`] for a graceful end.
///
/// The container dies with mote (parent-death signal): start it from a thread that
/// lives as long as the container should (the kernel ties the signal to the thread
/// that called clone, not to the process).
pub struct Running {
    pid: i32,
    pidfd: OwnedFd,
    cgroups: Cgroups,
    stop_signal: i32,
    exit: Option<Exit>,
    /// Closed when mote exits: see the life line in `spawn`.
    _life: OwnedFd,
}

/// Steps of the child, reported to the parent when one fails.
const STEPS: &[&str] = &[
    "join the cgroups",
    "make mounts private",
    "bind-mount the root filesystem",
    "remount the root filesystem read-only",
    "mount /proc",
    "mount a tmpfs",
    "enter the root filesystem",
    "pivot_root",
    "detach the old root",
    "set the hostname",
    "bring up loopback",
    "pass the listening sockets",
    "change to the working directory",
    "drop the capability bounding set",
    "clear ambient capabilities",
    "drop supplementary groups",
    "set the group id",
    "set the user id",
    "clear capabilities",
    "set no_new_privs",
    "set the parent-death signal",
    "exec the entrypoint",
    "mount a tmpfs on /dev",
    "create a device node in /dev",
    "create a symlink in /dev",
    "mount /dev/shm",
    "remount /dev read-only",
    "mask a /proc entry",
    "make a /proc entry read-only",
];

const CLONE_PIDFD: libc::c_ulong = 0x1000;

/// Clones the container's first process and waits until it has exec'd (or failed).
pub fn spawn(plan: &ChildPlan, cgroups: Cgroups, stop_signal: i32) -> Result<Running> {
    // The error pipe: the child writes (step, errno) if a step fails; a successful
    // exec closes it (O_CLOEXEC). Kept at a high fd so the fds 3.. we hand out are free.
    let mut p = [0; 2];
    // SAFETY: pipe2 writes two fds into p.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: p holds two fresh fds we own.
    let (rd, wr0) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    // SAFETY: fcntl on a valid fd.
    let wr = unsafe { libc::fcntl(wr0.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100) };
    if wr < 0 {
        bail!("fcntl: {}", std::io::Error::last_os_error());
    }
    // SAFETY: wr is a fresh fd we own.
    let wr = unsafe { OwnedFd::from_raw_fd(wr) };
    drop(wr0);
    // The life line: mote keeps the write end for as long as the container runs; the
    // child, after setting its parent-death signal, checks the read end for a hang-up,
    // which closes the window where mote died before the signal was armed.
    let mut l = [0; 2];
    // SAFETY: pipe2 writes two fds into l.
    if unsafe { libc::pipe2(l.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: l holds two fresh fds we own.
    let (life_r, life_w) = unsafe { (OwnedFd::from_raw_fd(l[0]), OwnedFd::from_raw_fd(l[1])) };
    let cg_fds = cgroups.procs_fds();

    let mut flags = libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if plan.new_net {
        flags |= libc::CLONE_NEWNET;
    }
    let mut pidfd: libc::c_int = -1;
    // Block all signals across the clone: the child must not run mote's handlers.
    // SAFETY: plain signal-mask calls on valid sigset_t values.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // vfork-style clone: the child shares mote's memory (no page tables to copy, no
    // copy-on-write faults: mote is a 5 MB program) and runs on a stack of its own
    // while mote waits in the kernel until the child has exec'd or died
    // (CLONE_VFORK), exactly like posix_spawn. The child writes only to its stack.
    let ctx = ChildCtx { plan, cg_fds: &cg_fds, errfd: wr.as_raw_fd(), life_r: life_r.as_raw_fd(), life_w: life_w.as_raw_fd() };
    // SAFETY: an anonymous private mapping, unmapped below after the child has exec'd.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            CHILD_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        bail!("mmap of the child's stack: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `child_entry` only runs `child` (raw system calls, its own stack, never
    // returns); `ctx` outlives the child's use of it because CLONE_VFORK suspends us
    // until the child has exec'd or exited.
    let pid = unsafe {
        libc::clone(
            child_entry,
            (stack as *mut u8).add(CHILD_STACK).cast(),
            flags | libc::CLONE_VM | libc::CLONE_VFORK | CLONE_PIDFD as libc::c_int | libc::SIGCHLD,
            &ctx as *const ChildCtx as *mut libc::c_void,
            &mut pidfd as *mut libc::c_int,
        )
    };
    let clone_err = std::io::Error::last_os_error();
    // SAFETY: the child no longer uses its stack (it exec'd or exited: CLONE_VFORK).
    unsafe { libc::munmap(stack, CHILD_STACK) };
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        bail!("clone failed: {clone_err} (mote run needs root, or CAP_SYS_ADMIN, for its namespaces)");
    }
    drop(wr);
    drop(life_r);
    super::set_forward_target(pid as i32);
    // SAFETY: CLONE_PIDFD stored a new fd we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let mut running = Running { pid: pid as i32, pidfd, cgroups, stop_signal, exit: None, _life: life_w };

    let mut msg = [0u8; 8];
    let mut got = 0;
    while got < msg.len() {
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(rd.as_raw_fd(), msg[got..].as_mut_ptr().cast(), msg.len() - got) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    if got == 0 {
        return Ok(running);
    }
    let step = u32::from_ne_bytes(msg[..4].try_into().unwrap()) as usize;
    let errno = i32::from_ne_bytes(msg[4..].try_into().unwrap());
    let _ = running.wait();
    let what = STEPS.get(step).copied().unwrap_or("start");
    let err = std::io::Error::from_raw_os_error(errno);
    let hint = match (step, errno) {
        (21, libc::ENOENT) => " (is the entrypoint a static binary? a dynamic one needs its interpreter in the image)",
        (21, libc::EACCES) => " (is it executable, and readable by the container's user?)",
        (12, _) => " (does the directory exist in the image?)",
        _ => "",
    };
    bail!("the container could not {what}: {err}{hint}")
}

/// The child's stack: `child` needs a few hundred bytes; generous for safety.
const CHILD_STACK: usize = 256 << 10;

struct ChildCtx<'a> {
    plan: &'a ChildPlan,
    cg_fds: &'a [RawFd],
    errfd: RawFd,
    life_r: RawFd,
    life_w: RawFd,
}

extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildCtx on the parent's stack, alive while we run.
    let c = unsafe { &*(arg as *const ChildCtx) };
    // SAFETY: see `child`.
    unsafe { child(c.plan, c.cg_fds, c.errfd, c.life_r, c.life_w) }
}

/// Reports the failed `step` (with errno) to the parent through `errfd` and exits.
///
/// # Safety
/// Only for the cloned child: it ends the process with `_exit`.
unsafe fn fail(errfd: RawFd, step: u32) -> ! {
    let errno = *libc::__errno_location();
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&step.to_ne_bytes());
    msg[4..].copy_from_slice(&errno.to_ne_bytes());
    libc::write(errfd, msg.as_ptr().cast(), 8);
    libc::_exit(127);
}

/// The container's /dev, as runc and crun make it, built before pivot_root while the
/// host's nodes are still reachable: a small tmpfs (nosuid, noexec, mode 755) over the
/// image's (read-only, usually empty) /dev, holding
/// - the six character devices of [`DEV_NODES`], mode 0666. They are made with mknod,
///   which needs no host path and adds no mount per node; where mknod is refused
///   (EPERM: a user namespace, a devices cgroup, mote inside another container) the
///   host's node is bind-mounted onto an empty file instead, which works everywhere
///   mount does, and that bind is remounted read-only (nosuid, noexec) like the tmpfs
///   around it: the device still reads and writes, but the host's inode cannot be
///   chmod-ed or touched from the container (its root may own it);
/// - the symlinks fd, stdin, stdout and stderr into /proc/self/fd;
/// - /dev/shm, a tmpfs of its own (nosuid, nodev, noexec, mode 1777, 64 MiB, the size
///   docker gives).
///
/// Then /dev is remounted read-only: nothing can add nodes or files to it, while the
/// nodes themselves stay readable and writable (a device's writes do not go to the
/// file system) and /dev/shm, a mount of its own, stays writable. No host device but
/// these six is reachable.
///
/// # Safety
/// Only for the cloned child, in its own mount namespace, before pivot_root: it makes
/// system calls only (no allocation, no locks), on paths prepared in the plan.
unsafe fn make_dev(plan: &ChildPlan, errfd: RawFd) {
    macro_rules! check {
        ($e:expr, $step:expr) => {
            if ($e) < 0 {
                fail(errfd, $step);
            }
        };
    }
    let null = std::ptr::null::<libc::c_char>();
    let dev = plan.dev.as_ptr();
    // 64 KiB: it holds only inodes (nodes, short symlinks, a directory), no data.
    check!(
        libc::mount(c"tmpfs".as_ptr(), dev, c"tmpfs".as_ptr(), libc::MS_NOSUID | libc::MS_NOEXEC, c"mode=755,size=64k".as_ptr().cast()),
        22
    );
    // Modes exactly as given (0666 nodes, 1777 shm), whatever mote's umask.
    let umask = libc::umask(0);
    for n in &plan.dev_nodes {
        if libc::mknod(n.path.as_ptr(), libc::S_IFCHR | 0o666, n.dev) == 0 {
            continue;
        }
        if *libc::__errno_location() != libc::EPERM {
            fail(errfd, 23);
        }
        let fd = libc::open(n.path.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC, 0o666);
        check!(fd, 23);
        libc::close(fd);
        check!(libc::mount(n.host.as_ptr(), n.path.as_ptr(), null, libc::MS_BIND, std::ptr::null()), 23);
        check!(
            libc::mount(
                null,
                n.path.as_ptr(),
                null,
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC,
                std::ptr::null()
            ),
            23
        );
    }
    for (path, target) in &plan.dev_links {
        check!(libc::symlink(target.as_ptr(), path.as_ptr()), 24);
    }
    check!(libc::mkdir(plan.dev_shm.as_ptr(), 0o1777), 25);
    check!(
        libc::mount(
            c"shm".as_ptr(),
            plan.dev_shm.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=1777,size=64m".as_ptr().cast()
        ),
        25
    );
    libc::umask(umask);
    check!(
        libc::mount(null, dev, null, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC, std::ptr::null()),
        26
    );
}

/// Masks [`PROC_MASKED`] and makes [`PROC_READONLY`] read-only in the fresh /proc,
/// after [`make_dev`] (the file masks are binds of its /dev/null) and before
/// pivot_root. Per entry: a stat and one mount for a masked one, two mounts for a
/// read-only one, all by names relative to /proc (one chdir, which spares each call
/// the walk of the long cache path of the root filesystem: 95 -> 80 µs). Measured:
/// about 80 µs in the child for the 8 entries a Firecracker 6.18 kernel has, and
/// about 0.15 ms more per `mote run` end to end (the mounts are also torn down at
/// exit). The container can undo none of them (no CAP_SYS_ADMIN). The caller changes
/// the working directory again before pivot_root.
///
/// A bind mount takes the flags of the mount it is made from: /dev/null lies on the
/// read-only, nosuid, noexec /dev tmpfs (or, where nodes are host binds, on its own
/// read-only bind), so each file mask is read-only with no remount. Writes to a
/// masked file still go to /dev/null (a device's writes do not go through the file
/// system, as with runc), but its inode cannot be chmod-ed or touched.
///
/// # Safety
/// Only for the cloned child, in its own mount namespace, after /proc and /dev are
/// mounted: it makes system calls only, on paths prepared in the plan.
unsafe fn mask_proc(plan: &ChildPlan, errfd: RawFd) {
    let null = std::ptr::null::<libc::c_char>();
    if libc::chdir(plan.proc_target.as_ptr()) < 0 {
        fail(errfd, 27);
    }
    for p in PROC_MASKED {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(p.as_ptr(), &mut st) < 0 {
            if *libc::__errno_location() == libc::ENOENT {
                continue;
            }
            fail(errfd, 27);
        }
        let r = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            libc::mount(
                c"tmpfs".as_ptr(),
                p.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"mode=555,size=4k".as_ptr().cast(),
            )
        } else {
            libc::mount(c"../dev/null".as_ptr(), p.as_ptr(), null, libc::MS_BIND, std::ptr::null())
        };
        if r < 0 {
            fail(errfd, 27);
        }
    }
    for p in PROC_READONLY {
        if libc::mount(p.as_ptr(), p.as_ptr(), null, libc::MS_BIND, std::ptr::null()) < 0 {
            if *libc::__errno_location() == libc::ENOENT {
                continue;
            }
            fail(errfd, 28);
        }
        let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if libc::mount(null, p.as_ptr(), null, flags, std::ptr::null()) < 0 {
            fail(errfd, 28);
        }
    }
}

/// The child. Async-signal-safe calls only; never returns.
unsafe fn child(plan: &ChildPlan, cg_fds: &[RawFd], errfd: RawFd, life_r: RawFd, life_w: RawFd) -> ! {
    macro_rules! check {
        ($e:expr, $step:expr) => {
            if ($e) < 0 {
                fail(errfd, $step);
            }
        };
    }
    // Default dispositions for every signal: handlers are reset by execve anyway, but
    // ignored signals (Rust ignores SIGPIPE, shells ignore SIGINT/SIGHUP in background
    // jobs) would stay ignored in the container. About 10 µs.
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    // An empty mask: a blocked signal would stay blocked across execve (mote serve
    // blocks the signals it reads through a signalfd).
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());

    for &fd in cg_fds {
        check!(libc::write(fd, b"0".as_ptr().cast(), 1), 0);
    }
    let null = std::ptr::null::<libc::c_char>();
    check!(libc::mount(null, c"/".as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()), 1);
    let root = plan.rootfs.as_ptr();
    check!(libc::mount(root, root, null, libc::MS_BIND | libc::MS_REC, std::ptr::null()), 2);
    check!(
        libc::mount(
            null,
            root,
            null,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            std::ptr::null()
        ),
        3
    );
    check!(
        libc::mount(
            c"proc".as_ptr(),
            plan.proc_target.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null()
        ),
        4
    );
    // SAFETY (both): we are the child, in its own mount namespace, /proc is mounted;
    // mask_proc needs make_dev's /dev/null.
    make_dev(plan, errfd);
    mask_proc(plan, errfd);
    for t in &plan.tmpfs {
        check!(
            libc::mount(
                c"tmpfs".as_ptr(),
                t.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=1777,size=64m".as_ptr().cast()
            ),
            5
        );
    }
    check!(libc::chdir(root), 6);
    // pivot_root(".", "."): the old root ends up stacked on the new one and is
    // detached at once; no directory for it is needed in the (read-only) image.
    check!(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as i32, 7);
    check!(libc::umount2(c".".as_ptr(), libc::MNT_DETACH), 8);
    check!(libc::chdir(c"/".as_ptr()), 6);
    check!(libc::sethostname(plan.hostname.as_ptr().cast(), plan.hostname.len()), 9);
    if plan.new_net {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check!(s, 10);
        // struct ifreq: 16-byte name, then the flags (short) at offset 16.
        let mut ifr = [0u8; 40];
        ifr[..2].copy_from_slice(b"lo");
        check!(libc::ioctl(s, libc::SIOCGIFFLAGS, ifr.as_mut_ptr()), 10);
        let flags = i16::from_ne_bytes([ifr[16], ifr[17]]) | libc::IFF_UP as i16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        check!(libc::ioctl(s, libc::SIOCSIFFLAGS, ifr.as_mut_ptr()), 10);
        libc::close(s);
    }
    // Listening sockets to 3, 4, ...: first out of the way (high fds), then down.
    let mut high = [0 as RawFd; 16];
    let n = plan.listen_fds.len().min(high.len());
    for (h, &fd) in high.iter_mut().zip(&plan.listen_fds) {
        *h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 200);
        check!(*h, 11);
    }
    for (i, &h) in high.iter().enumerate().take(n) {
        check!(libc::dup2(h, 3 + i as RawFd), 11);
    }
    // Nothing else of mote's (or of whoever started mote: inherited descriptors may
    // well be directories of the host) may cross the exec.
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 4;
    check!(libc::syscall(libc::SYS_close_range, 3 + n as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) as i32, 11);
    check!(libc::chdir(plan.workdir.as_ptr()), 12);
    for cap in 0..=plan.last_cap {
        if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0 && *libc::__errno_location() != libc::EINVAL {
            fail(errfd, 13);
        }
    }
    check!(libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0), 14);
    // Raw syscalls: glibc's wrappers would try to broadcast to threads of the parent
    // that do not exist in this child.
    check!(libc::syscall(libc::SYS_setgroups, 0usize, 0usize) as i32, 15);
    check!(libc::syscall(libc::SYS_setresgid, plan.gid, plan.gid, plan.gid) as i32, 16);
    check!(libc::syscall(libc::SYS_setresuid, plan.uid, plan.uid, plan.uid) as i32, 17);
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let hdr = CapHeader { version: 0x2008_0522, pid: 0 };
    let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }, CapData { effective: 0, permitted: 0, inheritable: 0 }];
    check!(libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) as i32, 18);
    check!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 19);
    // After the uid change (which clears it), so the container dies with mote.
    check!(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0), 20);
    libc::close(life_w);
    let mut pfd = libc::pollfd { fd: life_r, events: libc::POLLIN, revents: 0 };
    if libc::poll(&mut pfd, 1, 0) != 0 {
        libc::_exit(137); // mote is gone already
    }
    libc::execve(plan.exe.as_ptr(), plan.argv_ptrs.as_ptr(), plan.env_ptrs.as_ptr());
    fail(errfd, 21)
}

impl Running {
    /// The container's pid 1, as seen from mote.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The pidfd (readable once the container has exited).
    pub fn pidfd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    /// The cgroup directories of this container (empty without limits).
    #[allow(dead_code)] // library API (mote up)
    pub fn cgroup_dirs(&self) -> Vec<std::path::PathBuf> {
        self.cgroups.dirs()
    }

    /// Sends `sig` to the container's pid 1 (through the pidfd).
    pub fn signal(&self, sig: i32) -> Result<()> {
        if self.exit.is_some() {
            return Ok(());
        }
        // SAFETY: pidfd_send_signal on our pidfd with no siginfo.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, self.pidfd.as_raw_fd(), sig, 0usize, 0u32) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                bail!("cannot signal the container: {e}");
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` (None: forever) for the container to exit.
    pub fn wait_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<Exit>> {
        if let Some(e) = &self.exit {
            return Ok(Some(e.clone()));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let ms = match deadline {
                None => -1,
                Some(d) => d.saturating_duration_since(Instant::now()).as_millis().min(i32::MAX as u128) as i32,
            };
            let mut pfd = libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: poll on one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                bail!("poll: {}", std::io::Error::last_os_error());
            }
            if r == 0 {
                return Ok(None);
            }
            return self.reap().map(Some);
        }
    }

    /// Waits for the container to exit, then removes its cgroups.
    pub fn wait(&mut self) -> Result<Exit> {
        Ok(self.wait_timeout(None)?.expect("no timeout"))
    }

    fn reap(&mut self) -> Result<Exit> {
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                bail!("waitpid({}): {e}", self.pid);
            }
        }
        let mut exit = Exit { status: None, signal: None, oom_killed: false };
        if libc::WIFEXITED(status) {
            exit.status = Some(libc::WEXITSTATUS(status));
        } else if libc::WIFSIGNALED(status) {
            exit.signal = Some(libc::WTERMSIG(status));
        }
        exit.oom_killed = self.cgroups.oom_kills().unwrap_or(0) > 0;
        self.cgroups.remove();
        self.exit = Some(exit.clone());
        Ok(exit)
    }

    /// Sends the image's stop signal (SIGTERM unless the image says otherwise), waits
    /// up to `grace`, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) -> Result<Exit> {
        self.signal(self.stop_signal)?;
        if let Some(e) = self.wait_timeout(Some(grace))? {
            return Ok(e);
        }
        self.signal(libc::SIGKILL)?;
        self.wait()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.signal(libc::SIGKILL);
            let _ = self.wait();
        }
    }
}
