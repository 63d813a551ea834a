//! The only module with `unsafe`: process entry, the mem* symbols the compiler needs,
//! argv/envp, the raw syscalls behind thin safe wrappers, and the one `mmap` that holds
//! every connection slot.

// ---------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------

/// The kernel starts us here with the stack pointer at `argc`.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn _start() -> ! {
    // SAFETY: entry from the kernel; we pass the initial stack pointer to `start` with the
    // stack aligned as the C ABI expects and never return.
    core::arch::naked_asm!("xor ebp, ebp", "mov rdi, rsp", "and rsp, -16", "call {}", "ud2", sym start)
}

/// The kernel starts us here with the stack pointer at `argc`.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn _start() -> ! {
    // SAFETY: entry from the kernel (sp is 16-byte aligned there); we pass the initial
    // stack pointer to `start` and never return.
    core::arch::naked_asm!("mov x29, xzr", "mov x30, xzr", "mov x0, sp", "bl {}", "brk #0", sym start)
}

extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: the System V ABI initial stack is `argc, argv[0..argc], NULL, envp..., NULL`;
    // it stays mapped and unchanged for the life of the process. With argc == 0 (a
    // caller's execve with an empty argv) argv[0] is already the NULL.
    let (args, env) = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        (Strs(argv.add(argc.min(1))), Strs(argv.add(argc + 1)))
    };
    exit(crate::main(args, env))
}

/// The strings of a NULL-terminated array on the initial stack: the arguments after the
/// program name, or the environment (`NAME=value`). Passed down from the entry point
/// rather than kept in statics: nothing at start-up writes to the data segment.
pub struct Strs(*const *const u8);

impl Iterator for Strs {
    type Item = &'static [u8];
    fn next(&mut self) -> Option<&'static [u8]> {
        // SAFETY: `self.0` points into a NULL-terminated array of NUL-terminated strings
        // (see `start`); it is advanced only past non-NULL entries, so it never passes
        // the terminating NULL, and the strings stay mapped for the life of the process.
        unsafe {
            let p = *self.0;
            if p.is_null() {
                return None;
            }
            self.0 = self.0.add(1);
            let mut n = 0;
            while *p.add(n) != 0 {
                n += 1;
            }
            Some(core::slice::from_raw_parts(p, n))
        }
    }
}

// ---------------------------------------------------------------------------------------
// mem* symbols (compiler_builtins does not export them on this target)
// ---------------------------------------------------------------------------------------

/// # Safety
/// Standard C `memcpy` contract.
#[no_mangle]
pub unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees d and s are valid for n bytes and do not overlap.
    unsafe { copy_fwd(d, s, n) };
    d
}

/// # Safety
/// Standard C `memmove` contract.
#[no_mangle]
pub unsafe extern "C" fn memmove(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    if (d as usize).wrapping_sub(s as usize) >= n {
        // SAFETY: d is below s or the ranges are disjoint: a forward copy is correct.
        unsafe { copy_fwd(d, s, n) };
    } else {
        // SAFETY: d overlaps s from above: copy from the end, byte by byte; the
        // caller guarantees both ranges are valid.
        unsafe { copy_back(d, s, n) };
    }
    d
}

/// Copies `s` to the start of `d` (as many bytes as both hold). `W::put` uses it rather
/// than `copy_from_slice`, whose `memcpy` call went through a GOT entry: that entry was
/// the only initialized data of the program.
#[inline(always)]
pub fn copy(d: &mut [u8], s: &[u8]) {
    // SAFETY: both are valid for the shorter length and cannot overlap (`d` is unique).
    unsafe { copy_fwd(d.as_mut_ptr(), s.as_ptr(), d.len().min(s.len())) }
}

#[cfg(target_arch = "x86_64")]
unsafe fn copy_fwd(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: caller contract; `rep movsb` copies rcx bytes from rsi to rdi upwards (DF=0).
    unsafe {
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") d => _, inout("rsi") s => _,
            options(nostack, preserves_flags))
    }
}

#[cfg(target_arch = "x86_64")]
unsafe fn copy_back(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: caller contract; with DF=1 `rep movsb` copies downwards from the last byte;
    // DF is cleared again as the ABI requires.
    unsafe {
        core::arch::asm!("std", "rep movsb", "cld", inout("rcx") n => _,
            inout("rdi") d.wrapping_add(n).wrapping_sub(1) => _,
            inout("rsi") s.wrapping_add(n).wrapping_sub(1) => _, options(nostack))
    }
}

#[cfg(target_arch = "aarch64")]
unsafe fn copy_fwd(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: caller contract; a byte loop in asm (a Rust loop could be turned back into
    // a call to memcpy by the optimizer).
    unsafe {
        core::arch::asm!("cbz {n}, 2f", "1:", "ldrb {t:w}, [{s}], #1", "strb {t:w}, [{d}], #1",
            "subs {n}, {n}, #1", "b.ne 1b", "2:",
            n = inout(reg) n => _, s = inout(reg) s => _, d = inout(reg) d => _, t = out(reg) _,
            options(nostack))
    }
}

#[cfg(target_arch = "aarch64")]
unsafe fn copy_back(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: caller contract; copies downwards from the last byte.
    unsafe {
        core::arch::asm!("cbz {n}, 2f", "1:", "subs {n}, {n}, #1", "ldrb {t:w}, [{s}, {n}]",
            "strb {t:w}, [{d}, {n}]", "b.ne 1b", "2:",
            n = inout(reg) n => _, s = in(reg) s, d = in(reg) d, t = out(reg) _, options(nostack))
    }
}

/// # Safety
/// Standard C `memset` contract.
#[no_mangle]
pub unsafe extern "C" fn memset(d: *mut u8, c: i32, n: usize) -> *mut u8 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees d is valid for n bytes; `rep stosb` stores al n times.
    unsafe {
        core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") d => _, in("al") c as u8,
            options(nostack, preserves_flags))
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller guarantees d is valid for n bytes.
    unsafe {
        core::arch::asm!("cbz {n}, 2f", "1:", "strb {c:w}, [{d}], #1", "subs {n}, {n}, #1",
            "b.ne 1b", "2:", n = inout(reg) n => _, d = inout(reg) d => _, c = in(reg) c,
            options(nostack))
    }
    d
}

/// # Safety
/// Standard C `memcmp` contract.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller guarantees both ranges are valid for n bytes; i < n.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// # Safety
/// Standard C `strlen` contract (the optimizer turns `c_bytes`'s loop into a call).
#[no_mangle]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees s is NUL-terminated.
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}

/// # Safety
/// Standard C `bcmp` contract.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

// ---------------------------------------------------------------------------------------
// Syscalls
//
// One raw `syscall` instruction (`sc`) and a thin typed wrapper per call we make. Size
// trade: rustix's wrappers are safe and typed, but every call site inlined its
// `Result<OwnedFd, Errno>` conversions, `&CStr`/`Arg` path handling and `Stat` copies,
// which cost several KB here. The wrappers below return the kernel's value unchanged:
// `>= 0` is success, `-errno` a failure (see `E*`). Pointer arguments come only from
// references and slices, so every wrapper is safe to call.
// ---------------------------------------------------------------------------------------

use crate::seccomp::nr;

// errno values (the same on x86_64 and aarch64), returned negated.
pub const EPERM: isize = 1;
pub const EINTR: isize = 4;
pub const EAGAIN: isize = 11;
pub const ENOMEM: isize = 12;
pub const EACCES: isize = 13;
pub const ENFILE: isize = 23;
pub const EMFILE: isize = 24;
pub const ENAMETOOLONG: isize = 36;
pub const ENOSYS: isize = 38;
pub const ECONNABORTED: isize = 103;
pub const ENOBUFS: isize = 105;

/// # Safety
/// The syscall `n` with these arguments must not violate memory safety.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sc(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    let r: isize;
    // SAFETY: caller contract; the kernel clobbers rcx and r11 only.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n as isize => r, in("rdi") a, in("rsi") b,
            in("rdx") c, in("r10") d, in("r8") e, in("r9") f, lateout("rcx") _, lateout("r11") _,
            options(nostack))
    };
    r
}

/// `sc` with three arguments: no registers to zero for the unused ones.
///
/// # Safety
/// As for `sc`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sc3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let r: isize;
    // SAFETY: caller contract; the kernel clobbers rcx and r11 only.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n as isize => r, in("rdi") a, in("rsi") b,
            in("rdx") c, lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    r
}

/// # Safety
/// The syscall `n` with these arguments must not violate memory safety.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn sc(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    let r: isize;
    // SAFETY: caller contract.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a as isize => r, in("x1") b,
            in("x2") c, in("x3") d, in("x4") e, in("x5") f, options(nostack))
    };
    r
}

/// `sc` with three arguments.
///
/// # Safety
/// As for `sc`.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn sc3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let r: isize;
    // SAFETY: caller contract.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a as isize => r, in("x1") b,
            in("x2") c, options(nostack))
    };
    r
}

/// A syscall whose arguments are plain numbers (no pointers the kernel writes through
/// or reads from) and that reads at most three arguments (the others are not zeroed). Out of line: one call instead of the register setup at every site.
#[inline(never)]
fn num(n: usize, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: callers below pass only integers and descriptors, no addresses.
    unsafe { sc3(n, a, b, c) }
}

/// Ends the process with `code`.
pub fn exit(code: i32) -> ! {
    num(nr::EXIT_GROUP, code as usize, 0, 0);
    loop {}
}

/// `CLOCK_REALTIME` or `CLOCK_MONOTONIC` seconds. Out of line (measured): four call sites.
#[inline(never)]
pub fn clock_secs(monotonic: bool) -> u64 {
    let mut ts = [0u64; 2];
    // SAFETY: ts is a writable `struct timespec` (two 64-bit words on both targets).
    unsafe { sc3(nr::CLOCK_GETTIME, monotonic as usize, ts.as_mut_ptr() as usize, 0) };
    ts[0]
}

pub const SIGINT: u32 = 2;
pub const SIGKILL: u32 = 9;
pub const SIGPIPE: u32 = 13;
pub const SIGTERM: u32 = 15;
pub const SIGCHLD: u32 = 17;

/// The signals the server handles (a kernel sigset: bit n-1 for signal n).
static SIGNALS: u64 = (1 << (SIGINT - 1)) | (1 << (SIGTERM - 1)) | (1 << (SIGCHLD - 1));

/// Blocks SIGPIPE, SIGINT, SIGTERM and SIGCHLD and returns a non-blocking signalfd that
/// reports the last three. Works for PID 1 too (no default handlers are needed).
pub fn signal_fd() -> isize {
    // SIGPIPE is blocked with the others rather than ignored (one syscall less than an
    // rt_sigaction): a write to a closed pipe or socket then fails with EPIPE all the
    // same, and the pending SIGPIPE is never delivered (the signalfd does not report it).
    let block = SIGNALS | 1 << (SIGPIPE - 1);
    // SAFETY: `block` and `SIGNALS` are readable 8-byte sigsets; the old mask is not
    // requested (NULL).
    unsafe {
        sc(nr::RT_SIGPROCMASK, 0 /* SIG_BLOCK */, &block as *const u64 as usize, 0, 8, 0, 0);
        sc(nr::SIGNALFD4, usize::MAX /* -1: new fd */, &SIGNALS as *const u64 as usize, 8, 0o4000 | 0o2000000 /* NONBLOCK|CLOEXEC */, 0, 0)
    }
}

/// Waits up to a second for one of the blocked signals (SIGINT, SIGTERM, SIGCHLD) and
/// takes it: its number, or 0 after the timeout.
pub fn wait_signal() -> u32 {
    let ts: [u64; 2] = [1, 0];
    // SAFETY: `SIGNALS` and `ts` are readable of the sizes given; no siginfo wanted.
    let r = unsafe { sc(nr::RT_SIGTIMEDWAIT, &SIGNALS as *const u64 as usize, 0, ts.as_ptr() as usize, 8, 0, 0) };
    r.max(0) as u32
}

/// Reads one pending signal number from a signalfd (0: none).
pub fn read_signal(fd: Fd) -> u32 {
    let mut info = [0u32; 32]; // struct signalfd_siginfo; ssi_signo is the first u32
    if read(fd, as_bytes_mut(&mut info)) == 128 { info[0] } else { 0 }
}

/// `fork()`: 0 in the child, the child's pid in the parent, < 0 on failure.
pub fn fork() -> isize {
    // clone(SIGCHLD) without CLONE_VM gives the child a copy of the address space,
    // exactly like fork(); this process has a single thread and no locks.
    num(nr::CLONE, SIGCHLD as usize, 0, 0)
}

/// Reaps one exited child without waiting: its pid, or <= 0.
pub fn reap() -> isize {
    // SAFETY: no status or rusage pointers (NULL: the fourth argument must be set too).
    unsafe { sc(nr::WAIT4, usize::MAX /* -1: any child */, 0, 1 /* WNOHANG */, 0, 0, 0) }
}

pub fn kill(pid: i32, sig: u32) {
    num(nr::KILL, pid as usize, sig as usize, 0);
}

pub fn getpid() -> isize {
    num(nr::GETPID, 0, 0, 0)
}

/// Real, effective and saved ids: [uid, euid, suid] or [gid, egid, sgid] (-1 each on error).
pub fn ids(group: bool) -> [u32; 3] {
    let mut r = [u32::MAX; 3];
    let p = r.as_mut_ptr() as usize;
    // SAFETY: getresuid/getresgid write three u32s at the three addresses given.
    unsafe { sc3(if group { nr::GETRESGID } else { nr::GETRESUID }, p, p + 4, p + 8) };
    r
}

pub fn euid() -> isize {
    num(nr::GETEUID, 0, 0, 0)
}

/// setgid(id) or setuid(id). The raw syscalls act on the calling thread only, which is
/// the whole process here (one thread).
pub fn set_id(group: bool, id: u64) -> isize {
    num(if group { nr::SETGID } else { nr::SETUID }, id as usize, 0, 0)
}

/// Drops all supplementary groups.
pub fn clear_groups() -> isize {
    num(nr::SETGROUPS, 0, 0, 0)
}

/// PR_SET_NO_NEW_PRIVS, then the seccomp filter allowing the first `n` syscalls of
/// `seccomp::ALLOW` for the rest of the process and its children: 0 or -errno.
pub fn sandbox(n: usize) -> isize {
    let mut p = [0u64; crate::seccomp::LEN];
    let len = crate::seccomp::program(n, &mut p);
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    let prog: [usize; 2] = [len, p.as_ptr() as usize];
    // SAFETY: prctl takes only integers here (args 3..5 must be 0); `prog` is a readable
    // sock_fprog whose filter points at `len` instructions in `p`, which the kernel copies.
    unsafe {
        let r = sc(nr::PRCTL, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0, 0);
        if r < 0 {
            return r;
        }
        sc3(nr::SECCOMP, 1 /* SECCOMP_SET_MODE_FILTER */, 0, prog.as_ptr() as usize)
    }
}

/// Raises the soft RLIMIT_NOFILE to `want`, capped by the hard limit.
pub fn raise_nofile(want: u64) {
    let mut lim = [0u64; 2];
    // SAFETY: lim is a writable `struct rlimit64` (cur, max); no new limit given.
    unsafe { sc(nr::PRLIMIT64, 0, 7 /* RLIMIT_NOFILE */, 0, lim.as_mut_ptr() as usize, 0, 0) };
    if lim[0] < want {
        lim[0] = want.min(lim[1]);
        // SAFETY: lim is a readable `struct rlimit64`; the old value is not requested.
        unsafe { sc3(nr::PRLIMIT64, 0, 7, lim.as_ptr() as usize) };
    }
}

fn as_bytes_mut(w: &mut [u32; 32]) -> &mut [u8] {
    // SAFETY: any byte pattern is a valid u32; same memory, same lifetime, 128 bytes.
    unsafe { core::slice::from_raw_parts_mut(w.as_mut_ptr() as *mut u8, 128) }
}

// ---------------------------------------------------------------------------------------
// File descriptors and I/O
// ---------------------------------------------------------------------------------------

/// A raw file descriptor owned by whoever stored it (a connection slot, the server).
/// Every Fd is opened by this program and closed only through `close`, by the one owner
/// that stored it, after which that owner forgets it. A stale fd can at worst make a
/// syscall fail with EBADF, never touch memory.
pub type Fd = i32;

/// Closes a descriptor owned by the caller.
pub fn close(fd: Fd) {
    if fd >= 0 {
        num(nr::CLOSE, fd as usize, 0, 0);
    }
}

pub fn read(fd: Fd, buf: &mut [u8]) -> isize {
    // SAFETY: buf is writable for buf.len() bytes.
    unsafe { sc3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) }
}

pub fn pread(fd: Fd, buf: &mut [u8], off: u64) -> isize {
    // SAFETY: buf is writable for buf.len() bytes.
    unsafe { sc(nr::PREAD64, fd as usize, buf.as_mut_ptr() as usize, buf.len(), off as usize, 0, 0) }
}

pub fn write(fd: Fd, buf: &[u8]) -> isize {
    // SAFETY: buf is readable for buf.len() bytes.
    unsafe { sc3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) }
}

pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_MORE: u32 = 0x8000;

/// send(2) with MSG_NOSIGNAL plus `flags`.
pub fn send(fd: Fd, buf: &[u8], flags: u32) -> isize {
    // SAFETY: buf is readable for buf.len() bytes; no destination address.
    unsafe { sc(nr::SENDTO, fd as usize, buf.as_ptr() as usize, buf.len(), (flags | MSG_NOSIGNAL) as usize, 0, 0) }
}

pub fn sendfile(out: Fd, file: Fd, off: &mut u64, count: usize) -> isize {
    // SAFETY: off is a writable loff_t the kernel advances.
    unsafe { sc(nr::SENDFILE, out as usize, file as usize, off as *mut u64 as usize, count, 0, 0) }
}

/// shutdown(fd, SHUT_WR)
pub fn shutdown_write(fd: Fd) {
    num(nr::SHUTDOWN, fd as usize, 1, 0);
}

/// Sets O_NONBLOCK on a descriptor we were given (socket activation).
pub fn set_nonblock(fd: Fd) -> isize {
    let fl = num(nr::FCNTL, fd as usize, 3 /* F_GETFL */, 0);
    if fl < 0 {
        return fl;
    }
    num(nr::FCNTL, fd as usize, 4 /* F_SETFL */, fl as usize | 0o4000)
}

// open(2) flags; O_DIRECTORY and O_NOFOLLOW differ between the two architectures.
pub const O_CLOEXEC: usize = 0o2000000;
pub const O_PATH: usize = 0o10000000;
#[cfg(target_arch = "x86_64")]
pub const O_DIRECTORY: usize = 0o200000;
#[cfg(target_arch = "x86_64")]
pub const O_NOFOLLOW: usize = 0o400000;
#[cfg(target_arch = "aarch64")]
pub const O_DIRECTORY: usize = 0o40000;
#[cfg(target_arch = "aarch64")]
pub const O_NOFOLLOW: usize = 0o100000;
/// Regular files: O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY.
pub const O_FILE: usize = O_CLOEXEC | 0o4000 | 0o400;

/// A NUL-terminated path: `path` must end with its only NUL byte (checked; a path
/// without one is refused with -EINVAL rather than read past its end).
fn c_path(path: &[u8]) -> Option<usize> {
    match path.iter().position(|&b| b == 0) {
        Some(i) if i + 1 == path.len() => Some(path.as_ptr() as usize),
        _ => None,
    }
}

/// openat(dir, path, flags), `path` NUL-terminated.
pub fn openat(dir: Fd, path: &[u8], flags: usize) -> isize {
    let Some(p) = c_path(path) else { return -22 };
    // SAFETY: p is a NUL-terminated string inside `path`.
    unsafe { sc3(nr::OPENAT, dir as usize, p, flags) }
}

/// openat2(dir, path, {flags, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS}).
pub fn openat2_beneath(dir: Fd, path: &[u8], flags: usize) -> isize {
    let Some(p) = c_path(path) else { return -22 };
    let how: [u64; 3] = [flags as u64, 0, 0x08 | 0x02];
    // SAFETY: p is a NUL-terminated string inside `path`; how is a readable open_how.
    unsafe { sc(nr::OPENAT2, dir as usize, p, how.as_ptr() as usize, 24, 0, 0) }
}

/// The fields of `struct stat` we use. The kernel struct is read as 64-bit words: x86_64
/// and aarch64 agree on every word used here except the one holding st_mode.
#[derive(Clone, Copy)]
pub struct Stat {
    w: [u64; 18],
}

impl Stat {
    pub const fn new() -> Self {
        Stat { w: [0; 18] }
    }
    #[cfg(target_arch = "x86_64")]
    pub fn mode(&self) -> u32 {
        self.w[3] as u32
    }
    #[cfg(target_arch = "aarch64")]
    pub fn mode(&self) -> u32 {
        self.w[2] as u32
    }
    pub fn is_file(&self) -> bool {
        self.mode() & 0o170000 == 0o100000
    }
    pub fn is_dir(&self) -> bool {
        self.mode() & 0o170000 == 0o040000
    }
    /// Size and mtime seconds, negative values clamped to 0.
    pub fn size(&self) -> u64 {
        (self.w[6] as i64).max(0) as u64
    }
    pub fn mtime(&self) -> u64 {
        (self.w[11] as i64).max(0) as u64
    }
    /// What identifies a version of a file: dev, ino, size, mtime (s, ns), ctime (s, ns).
    pub fn key(&self) -> [u64; 7] {
        let w = &self.w;
        [w[0], w[1], w[6], w[11], w[12], w[13], w[14]]
    }
}

pub fn fstat(fd: Fd, st: &mut Stat) -> isize {
    // SAFETY: Stat holds 144 writable bytes, the size of `struct stat` on x86_64 (128 on
    // aarch64).
    unsafe { sc3(nr::FSTAT, fd as usize, st.w.as_mut_ptr() as usize, 0) }
}

// ---------------------------------------------------------------------------------------
// Sockets and epoll
// ---------------------------------------------------------------------------------------

pub const SOCK_NONBLOCK_CLOEXEC: usize = 0o4000 | 0o2000000;

/// socket(AF_INET or AF_INET6, SOCK_STREAM | NONBLOCK | CLOEXEC, 0)
pub fn tcp_socket(v6: bool) -> isize {
    num(nr::SOCKET, if v6 { 10 } else { 2 }, 1 | SOCK_NONBLOCK_CLOEXEC, 0)
}

/// setsockopt(fd, level, name, &1). Out of line (measured): three call sites.
#[inline(never)]
pub fn sockopt_on(fd: Fd, level: usize, name: usize) -> isize {
    let one: i32 = 1;
    // SAFETY: `one` is a readable int of the size given.
    unsafe { sc(nr::SETSOCKOPT, fd as usize, level, name, &one as *const i32 as usize, 4, 0) }
}
pub const SOL_SOCKET: usize = 1;
pub const SO_REUSEADDR: usize = 2;
pub const SO_REUSEPORT: usize = 15;
pub const IPPROTO_TCP: usize = 6;
pub const TCP_NODELAY: usize = 1;

/// `struct sockaddr_in`/`sockaddr_in6` bytes (28 bytes fit both).
pub type SockAddr = [u8; 28];

/// A socket address for `bind`: IPv4 uses the first 4 bytes of `addr`.
pub fn sockaddr(v6: bool, addr: &[u8; 16], port: u16) -> SockAddr {
    let mut sa = [0u8; 28];
    sa[0] = if v6 { 10 } else { 2 }; // sa_family, little-endian on both targets
    sa[2..4].copy_from_slice(&port.to_be_bytes());
    if v6 {
        sa[8..24].copy_from_slice(addr);
    } else {
        sa[4..8].copy_from_slice(&addr[..4]);
    }
    sa
}

pub fn bind(fd: Fd, sa: &SockAddr, v6: bool) -> isize {
    // SAFETY: sa is readable for the length given (16 for sockaddr_in, 28 for _in6).
    unsafe { sc3(nr::BIND, fd as usize, sa.as_ptr() as usize, if v6 { 28 } else { 16 }) }
}

pub fn listen(fd: Fd, backlog: usize) -> isize {
    num(nr::LISTEN, fd as usize, backlog, 0)
}

/// accept4 with NONBLOCK | CLOEXEC; the peer address lands in `sa`.
pub fn accept(fd: Fd, sa: &mut SockAddr) -> isize {
    let mut len: u32 = 28;
    // SAFETY: sa is writable for `len` bytes; len is a writable socklen_t.
    unsafe {
        sc(nr::ACCEPT4, fd as usize, sa.as_mut_ptr() as usize, &mut len as *mut u32 as usize,
            SOCK_NONBLOCK_CLOEXEC, 0, 0)
    }
}

/// `struct epoll_event`: packed on x86_64, naturally aligned on aarch64.
#[cfg_attr(target_arch = "x86_64", repr(C, packed))]
#[cfg_attr(not(target_arch = "x86_64"), repr(C))]
#[derive(Clone, Copy)]
pub struct Event {
    pub events: u32,
    pub data: u64,
}

pub const EPOLLIN: u32 = 1;
pub const EPOLLOUT: u32 = 4;
pub const EPOLLERR: u32 = 8;
pub const EPOLLHUP: u32 = 0x10;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLET: u32 = 1 << 31;

pub fn epoll_create() -> isize {
    num(nr::EPOLL_CREATE1, O_CLOEXEC, 0, 0)
}

/// EPOLL_CTL_ADD with `events` and `data`.
pub fn epoll_add(ep: Fd, fd: Fd, data: u64, events: u32) -> isize {
    let ev = Event { events, data };
    // SAFETY: ev is a readable epoll_event.
    unsafe { sc(nr::EPOLL_CTL, ep as usize, 1, fd as usize, &ev as *const Event as usize, 0, 0) }
}

/// EPOLL_CTL_DEL
pub fn epoll_del(ep: Fd, fd: Fd) {
    num(nr::EPOLL_CTL, ep as usize, 2, fd as usize);
}

/// epoll_pwait without a signal mask; `timeout_ms` < 0 waits for ever. Returns the
/// number of events (0 on error or timeout).
pub fn epoll_wait(ep: Fd, evs: &mut [Event], timeout_ms: i32) -> usize {
    // SAFETY: evs is writable for evs.len() events.
    let n = unsafe { sc(nr::EPOLL_PWAIT, ep as usize, evs.as_mut_ptr() as usize, evs.len(), timeout_ms as isize as usize, 0, 8) };
    n.max(0) as usize
}

// ---------------------------------------------------------------------------------------
// Memory: one mmap sized at start-up
// ---------------------------------------------------------------------------------------

/// `len` zeroed bytes from an anonymous mapping, resident only once touched.
fn mmap(len: usize) -> Option<*mut u8> {
    // SAFETY: a fresh private anonymous mapping at an address the kernel picks: no
    // existing memory is affected.
    let p = unsafe {
        sc(nr::MMAP, 0, len.max(1), 3 /* PROT_READ|WRITE */,
            0x02 | 0x20 | 0x4000 /* MAP_PRIVATE|ANONYMOUS|NORESERVE */, usize::MAX, 0)
    };
    if (p as usize) > usize::MAX - 4095 { None } else { Some(p as *mut u8) }
}

/// `len` zeroed bytes from an anonymous mapping, resident only once touched.
pub fn map_bytes(len: usize) -> Option<&'static mut [u8]> {
    let p = mmap(len)?;
    // SAFETY: the mapping is `len` zeroed bytes, handed out once for the rest of the process.
    Some(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// `cap` slots of `T` followed by `cap * per_slot_bytes` bytes, all from one anonymous
/// mmap. Slots are written on first use only (`push`), so untouched slots and buffers cost
/// no resident memory.
pub struct Slots<T: 'static> {
    ptr: *mut T,
    cap: usize,
    len: usize,
    bytes: &'static mut [u8],
}

impl<T> Slots<T> {
    pub fn new(cap: usize, per_slot_bytes: usize) -> Option<Self> {
        let head = cap.checked_mul(core::mem::size_of::<T>())?;
        // The byte area starts on a page (the server aligns its per-slot strides too).
        let head = head.checked_add(4095)? & !4095;
        let bytes = cap.checked_mul(per_slot_bytes)?;
        let p = mmap(head.checked_add(bytes)?)?;
        // SAFETY: [head, total) lies inside the mapping, is zero-filled (a valid [u8]) and
        // is handed out exactly once, for the rest of the process.
        let bytes = unsafe { core::slice::from_raw_parts_mut(p.add(head), bytes) };
        Some(Slots { ptr: p as *mut T, cap, len: 0, bytes })
    }

    /// The initialized slots and the byte area.
    pub fn parts(&mut self) -> (&mut [T], &mut [u8]) {
        // SAFETY: the first `len` slots were written by `push`; ptr is page aligned; the
        // slots and the byte area do not overlap.
        (unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }, &mut *self.bytes)
    }

    /// Slots initialized so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Initializes the next slot; returns its index or None when all are in use.
    pub fn push(&mut self, v: T) -> Option<usize> {
        if self.len == self.cap {
            return None;
        }
        // SAFETY: len < cap, so the slot lies inside the mapping and is suitably aligned.
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += 1;
        Some(self.len - 1)
    }
}

/// Unoptimized builds (the copy cargo builds for `cargo test`) keep core's references to
/// the unwinding personality routine although panics abort; nothing ever calls it.
#[cfg(debug_assertions)]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
