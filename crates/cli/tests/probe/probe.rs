//! probe: a static test program packed as an image; it reports what it sees from
//! inside a container. Built by the tests with
//! `rustc -C target-feature=+crt-static -C panic=abort -O probe.rs` (std only, no
//! crates, so it needs no network and no extra target).
//!
//! Modes (argv[1]):
//!   report [PATH...]  key=value lines: pid, ids, capabilities, no_new_privs,
//!                     hostname, /proc pids, kill(-1,0), writability of /, /dev
//!                     (names, nodes, links, writability, mount options), and for
//!                     each PATH whether it exists
//!   exit N            exit with status N
//!   segv              crash on a null pointer write
//!   alloc MB          allocate and touch MB MiB, print "allocated MB"
//!   forkbomb N        fork N sleeping children; print "forked K errno E"
//!   childalloc MB     fork a child that allocates MB MiB; wait for it; print
//!                     "child status S, parent survived" (S: the raw wait status)
//!   signal            print "ready", wait for SIGTERM/SIGINT/SIGHUP, print
//!                     "got N", exit 100+N
//!   sleep S           sleep S seconds
//!   ls DIR            print the names in DIR, sorted, one per line
//!   cat FILE          print FILE
//!   proc [PATH...]    key=value lines on /proc: for each PATH, read:PATH (what
//!                     reading it gives: absent, "file N bytes", "dir a,b,c" or
//!                     errnoN) and write:PATH (opening it for writing, without
//!                     writing: absent, ok or errnoN); mount:POINT for each mount
//!                     under /proc (FSTYPE MOUNT_OPTIONS)
//!   serve             socket-activated HTTP: accept on fd 3 (LISTEN_FDS=1,
//!                     LISTEN_PID=getpid()), answer every request 200 "probe <pid>",
//!                     on SIGTERM finish the current request and exit 0
use std::io::{Read, Write};
use std::os::raw::{c_int, c_ulong, c_void};
use std::sync::atomic::{AtomicI32, Ordering};

extern "C" {
    fn getpid() -> c_int;
    fn getuid() -> u32;
    fn getgid() -> u32;
    fn getgroups(size: c_int, list: *mut u32) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn fork() -> c_int;
    fn prctl(op: c_int, a: c_ulong, b: c_ulong, c: c_ulong, d: c_ulong) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn gethostname(name: *mut u8, len: usize) -> c_int;
    fn accept4(fd: c_int, addr: *mut c_void, len: *mut u32, flags: c_int) -> c_int;
    fn poll(fds: *mut PollFd, n: c_ulong, timeout: c_int) -> c_int;
    fn __errno_location() -> *mut c_int;
    fn sleep(s: u32) -> u32;
    fn _exit(code: c_int) -> !;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

const PR_GET_NO_NEW_PRIVS: c_int = 39;
const SIGHUP: c_int = 1;
const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;

static GOT: AtomicI32 = AtomicI32::new(0);
extern "C" fn on_signal(sig: c_int) {
    GOT.store(sig, Ordering::SeqCst);
}

fn errno() -> i32 {
    unsafe { *__errno_location() }
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "absent".into())
}

fn report(paths: &[String]) {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k}={v}\n"));
    kv("pid", unsafe { getpid() }.to_string());
    kv("uid", unsafe { getuid() }.to_string());
    kv("gid", unsafe { getgid() }.to_string());
    let mut groups = [0u32; 64];
    let n = unsafe { getgroups(64, groups.as_mut_ptr()) };
    kv("groups", groups[..n.max(0) as usize].iter().map(|g| g.to_string()).collect::<Vec<_>>().join(","));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for (k, f) in [("capinh", "CapInh:"), ("capprm", "CapPrm:"), ("capeff", "CapEff:"), ("capbnd", "CapBnd:"), ("capamb", "CapAmb:"), ("status_nnp", "NoNewPrivs:")] {
        kv(k, status_field(&status, f));
    }
    kv("no_new_privs", unsafe { prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) }.to_string());
    let mut h = [0u8; 65];
    unsafe { gethostname(h.as_mut_ptr(), 64) };
    kv("hostname", String::from_utf8_lossy(&h[..h.iter().position(|&b| b == 0).unwrap_or(64)]).into_owned());
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect())
        .unwrap_or_default();
    pids.sort();
    kv("proc_pids", pids.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(","));
    let r = unsafe { kill(-1, 0) };
    kv("kill_all", if r == 0 { "ok".into() } else { format!("errno{}", errno()) });
    kv("root_write", match std::fs::write("/probe-write-test", b"x") {
        Ok(()) => "ok".into(),
        Err(e) => format!("errno{}", e.raw_os_error().unwrap_or(0)),
    });
    kv("cwd", std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default());
    let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}:{v}")).collect();
    env.sort();
    kv("env", env.join(";"));
    kv("args", std::env::args().collect::<Vec<_>>().join(" "));
    let ifs: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
        .collect();
    kv("interfaces", ifs.join(","));
    // Open descriptors, without the one reading the directory.
    let mut fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter(|e| !std::fs::read_link(e.path()).map(|t| t.to_string_lossy().ends_with("/fd")).unwrap_or(true))
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    kv("fds", fds.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(","));
    dev_report(&mut kv);
    for p in paths {
        kv(&format!("exists:{p}"), std::fs::symlink_metadata(p).is_ok().to_string());
    }
    print!("{out}");
}

fn io_result<T>(r: std::io::Result<T>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("errno{}", e.raw_os_error().unwrap_or(0)),
    }
}

/// What /dev looks like: dev_list (names, sorted), dev:NAME (c MAJOR:MINOR MODE for
/// nodes, -> TARGET for symlinks, d MODE for directories), what reading and writing the
/// nodes does, whether /dev and /dev/shm take new files, and the mount options of both.
fn dev_report(kv: &mut impl FnMut(&str, String)) {
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut names: Vec<String> = std::fs::read_dir("/dev")
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    kv("dev_list", names.join(","));
    for n in &names {
        let p = format!("/dev/{n}");
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        let t = m.file_type();
        let v = if t.is_symlink() {
            format!("-> {}", std::fs::read_link(&p).map(|l| l.display().to_string()).unwrap_or_default())
        } else if t.is_char_device() {
            let r = m.rdev();
            let (major, minor) = (((r >> 8) & 0xfff) | ((r >> 32) & !0xfff), (r & 0xff) | ((r >> 12) & !0xff));
            format!("c {major}:{minor} {:o}", m.mode() & 0o7777)
        } else if t.is_dir() {
            format!("d {:o}", m.mode() & 0o7777)
        } else {
            format!("other {:o}", m.mode())
        };
        kv(&format!("dev:{n}"), v);
    }
    // As a shell's `> /dev/null` opens it.
    kv("dev_null_write", io_result(
        OpenOptions::new().write(true).create(true).truncate(true).open("/dev/null").and_then(|mut f| f.write_all(b"discarded")),
        |_| "ok".into(),
    ));
    kv("dev_null_read", io_result(std::fs::read("/dev/null"), |b| format!("{} bytes", b.len())));
    kv("dev_zero_read", io_result(
        File::open("/dev/zero").and_then(|mut f| {
            let mut b = [1u8; 64];
            f.read_exact(&mut b).map(|_| b)
        }),
        |b| if b.iter().all(|&x| x == 0) { "zeros".into() } else { "not zeros".into() },
    ));
    kv("dev_full_write", io_result(OpenOptions::new().write(true).open("/dev/full").and_then(|mut f| f.write_all(b"x")), |_| "ok".into()));
    kv("dev_urandom_read", io_result(
        File::open("/dev/urandom").and_then(|mut f| {
            let mut a = [0u8; 32];
            let mut b = [0u8; 32];
            f.read_exact(&mut a)?;
            f.read_exact(&mut b)?;
            Ok((a, b))
        }),
        |(a, b)| if a != b && a.iter().any(|&x| x != 0) { "32 random bytes".into() } else { "not random".into() },
    ));
    kv("dev_write", io_result(std::fs::write("/dev/probe-file", b"x"), |_| "ok".into()));
    kv("dev_shm_write", io_result(
        std::fs::write("/dev/shm/probe-file", b"x").and_then(|_| std::fs::read("/dev/shm/probe-file")),
        |b| format!("ok {} bytes", b.len()),
    ));
    // mountinfo: ... MOUNT_POINT MOUNT_OPTIONS [optional...] - FSTYPE SOURCE SUPER_OPTIONS
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for (key, point) in [("dev_mount", "/dev"), ("dev_shm_mount", "/dev/shm"), ("proc_mount", "/proc")] {
        let line = info.lines().rev().find(|l| l.split(' ').nth(4) == Some(point));
        let v = line
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let dash = f.iter().position(|&x| x == "-").unwrap_or(f.len() - 1);
                format!("{} {} {}", f.get(dash + 1).unwrap_or(&"?"), f[5], f.get(dash + 3).unwrap_or(&"?"))
            })
            .unwrap_or_else(|| "none".into());
        kv(key, v);
    }
}

/// The `proc` mode: see the top of the file. Opening for writing is the whole write
/// test: a read-only mount refuses the open, and nothing is written when it is not
/// refused (so a failed mask cannot trigger a sysrq or change a sysctl).
fn proc_report(paths: &[String]) {
    use std::fs::OpenOptions;
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k}={v}\n"));
    for p in paths {
        let absent = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        let read = match std::fs::metadata(p) {
            Err(e) if absent(&e) => "absent".into(),
            Ok(m) if m.is_dir() => io_result(std::fs::read_dir(p), |rd| {
                let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                names.sort();
                format!("dir {}", names.join(","))
            }),
            // At most 1 MiB: an unmasked /proc/kcore would read for ever.
            _ => io_result(
                std::fs::File::open(p).and_then(|f| {
                    let mut b = Vec::new();
                    f.take(1 << 20).read_to_end(&mut b).map(|_| b)
                }),
                |b| format!("file {} bytes", b.len()),
            ),
        };
        kv(&format!("read:{p}"), read);
        let write = match OpenOptions::new().write(true).open(p) {
            Err(e) if absent(&e) => "absent".into(),
            r => io_result(r, |_| "ok".into()),
        };
        kv(&format!("write:{p}"), write);
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in info.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if f.len() < 6 || !f[4].starts_with("/proc/") {
            continue;
        }
        let dash = f.iter().position(|&x| x == "-").unwrap_or(f.len() - 1);
        kv(&format!("mount:{}", f[4]), format!("{} {}", f.get(dash + 1).unwrap_or(&"?"), f[5]));
    }
    print!("{out}");
}

fn serve() {
    let pid = unsafe { getpid() };
    let fds = std::env::var("LISTEN_FDS").unwrap_or_default();
    let lpid = std::env::var("LISTEN_PID").unwrap_or_default();
    if fds != "1" || lpid != pid.to_string() {
        eprintln!("probe: not socket-activated (LISTEN_FDS={fds:?} LISTEN_PID={lpid:?}, pid {pid})");
        std::process::exit(3);
    }
    unsafe { signal(SIGTERM, on_signal as *const () as usize) };
    while GOT.load(Ordering::SeqCst) == 0 {
        let mut p = PollFd { fd: 3, events: 1, revents: 0 };
        if unsafe { poll(&mut p, 1, 50) } <= 0 {
            continue;
        }
        let c = unsafe { accept4(3, std::ptr::null_mut(), std::ptr::null_mut(), 0o2000000) };
        if c < 0 {
            continue;
        }
        use std::os::fd::FromRawFd;
        let mut s = unsafe { std::net::TcpStream::from_raw_fd(c) };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = format!("probe {pid}\n");
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    }
    std::process::exit(0);
}

/// Allocates and touches `mb` MiB (one vector per MiB), as a memory hog.
fn hog(mb: usize) -> Vec<Vec<u8>> {
    (0..mb).map(|_| vec![1u8; 1 << 20]).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("report");
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    match mode {
        "report" => report(&args[2..]),
        "exit" => std::process::exit(num(2) as i32),
        "segv" => unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u8>(), 1) },
        "alloc" => {
            let v = hog(num(2) as usize);
            let sum: usize = v.iter().map(|c| c[4096] as usize).sum();
            println!("allocated {sum}");
        }
        "childalloc" => {
            let mb = num(2) as usize;
            let p = unsafe { fork() };
            if p == 0 {
                let v = hog(mb);
                unsafe { _exit((v.len() % 2) as c_int) };
            }
            let mut status = 0;
            unsafe { waitpid(p, &mut status, 0) };
            println!("child status {status}, parent survived");
        }
        "forkbomb" => {
            let n = num(2);
            let mut forked = 0;
            let mut err = 0;
            for _ in 0..n {
                let p = unsafe { fork() };
                if p == 0 {
                    unsafe {
                        sleep(5);
                        _exit(0)
                    };
                }
                if p < 0 {
                    err = errno();
                    break;
                }
                forked += 1;
            }
            println!("forked {forked} errno {err}");
            // pid 1 exits: the kernel kills the children.
        }
        "signal" => {
            for s in [SIGTERM, SIGINT, SIGHUP] {
                unsafe { signal(s, on_signal as *const () as usize) };
            }
            println!("ready");
            let _ = std::io::stdout().flush();
            // A short sleep, not pause(): a signal landing between the check and
            // pause() would be a lost wake-up.
            while GOT.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let g = GOT.load(Ordering::SeqCst);
            println!("got {g}");
            std::process::exit(100 + g);
        }
        "sleep" => {
            unsafe { sleep(num(2) as u32) };
        }
        "ls" => {
            let mut names: Vec<String> = std::fs::read_dir(&args[2])
                .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_else(|e| vec![format!("error {e}")]);
            names.sort();
            for n in names {
                println!("{n}");
            }
        }
        "cat" => match std::fs::read_to_string(&args[2]) {
            Ok(s) => print!("{s}"),
            Err(e) => {
                println!("error {e}");
                std::process::exit(1)
            }
        },
        "serve" => serve(),
        "proc" => proc_report(&args[2..]),
        other => {
            eprintln!("probe: unknown mode {other:?}");
            std::process::exit(2);
        }
    }
}
