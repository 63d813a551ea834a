//! Syscall numbers per architecture and the seccomp-BPF allowlist built from them.
//!
//! No `unsafe` here: `sys::sandbox` installs the program. This file is also compiled into
//! `tests/sandbox.rs`, which installs the same program in a forked test child and checks
//! that listed syscalls work and others kill the process.
//!
//! The action for a syscall not on the list is SECCOMP_RET_KILL_PROCESS, not
//! ERRNO(EPERM): this server makes no syscall it has not been written to make (every one
//! is a raw call in `sys.rs`), so an unlisted one means a bug or a compromise. Killing the
//! whole process (SIGSYS, recorded by the audit log / dmesg with the syscall number, and
//! a core dump where enabled) stops it there; an error return would let compromised code
//! probe on and would turn a bug into a silent malfunction. For PID 1 in a container the
//! exit makes the runtime restart it or report the failure.

#[cfg(target_arch = "x86_64")]
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const FSTAT: usize = 5;
    pub const MMAP: usize = 9;
    #[allow(dead_code)] // not called (SIGPIPE is blocked, not ignored); kept for tests/sandbox.rs's >= 40 check
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGTIMEDWAIT: usize = 128;
    pub const PREAD64: usize = 17;
    pub const GETPID: usize = 39;
    pub const SENDFILE: usize = 40;
    pub const SOCKET: usize = 41;
    pub const SENDTO: usize = 44;
    pub const SHUTDOWN: usize = 48;
    pub const BIND: usize = 49;
    pub const LISTEN: usize = 50;
    pub const SETSOCKOPT: usize = 54;
    pub const CLONE: usize = 56;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const FCNTL: usize = 72;
    pub const GETRESUID: usize = 118;
    pub const GETRESGID: usize = 120;
    pub const SETUID: usize = 105;
    pub const SETGID: usize = 106;
    pub const GETEUID: usize = 107;
    pub const SETGROUPS: usize = 116;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const EPOLL_CTL: usize = 233;
    pub const OPENAT: usize = 257;
    pub const EPOLL_PWAIT: usize = 281;
    pub const ACCEPT4: usize = 288;
    pub const SIGNALFD4: usize = 289;
    pub const EPOLL_CREATE1: usize = 291;
    pub const PRLIMIT64: usize = 302;
    pub const OPENAT2: usize = 437;
    pub const PRCTL: usize = 157;
    pub const SECCOMP: usize = 317;
    pub const RESTART_SYSCALL: usize = 219;
    /// `struct seccomp_data.arch` for this architecture.
    pub const AUDIT_ARCH: u32 = 0xC000_003E;
}
#[cfg(target_arch = "aarch64")]
pub mod nr {
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const CLOSE: usize = 57;
    pub const FSTAT: usize = 80;
    pub const MMAP: usize = 222;
    #[allow(dead_code)] // not called (SIGPIPE is blocked, not ignored); kept for tests/sandbox.rs's >= 40 check
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const RT_SIGTIMEDWAIT: usize = 137;
    pub const PREAD64: usize = 67;
    pub const GETPID: usize = 172;
    pub const SENDFILE: usize = 71;
    pub const SOCKET: usize = 198;
    pub const SENDTO: usize = 206;
    pub const SHUTDOWN: usize = 210;
    pub const BIND: usize = 200;
    pub const LISTEN: usize = 201;
    pub const SETSOCKOPT: usize = 208;
    pub const CLONE: usize = 220;
    pub const WAIT4: usize = 260;
    pub const KILL: usize = 129;
    pub const FCNTL: usize = 25;
    pub const GETRESUID: usize = 148;
    pub const GETRESGID: usize = 150;
    pub const SETUID: usize = 146;
    pub const SETGID: usize = 144;
    pub const GETEUID: usize = 175;
    pub const SETGROUPS: usize = 159;
    pub const CLOCK_GETTIME: usize = 113;
    pub const EXIT_GROUP: usize = 94;
    pub const EPOLL_CTL: usize = 21;
    pub const OPENAT: usize = 56;
    pub const EPOLL_PWAIT: usize = 22;
    pub const ACCEPT4: usize = 242;
    pub const SIGNALFD4: usize = 74;
    pub const EPOLL_CREATE1: usize = 20;
    pub const PRLIMIT64: usize = 261;
    pub const OPENAT2: usize = 437;
    pub const PRCTL: usize = 167;
    pub const SECCOMP: usize = 277;
    pub const RESTART_SYSCALL: usize = 128;
    /// `struct seccomp_data.arch` for this architecture.
    pub const AUDIT_ARCH: u32 = 0xC000_00B7;
}

/// The syscalls of the serving loop (the single process, or a worker), after start-up:
/// sockets, files, epoll, the signalfd (read), the clock, the log (write) and exit.
/// `openat` is the fallback for kernels without `openat2` (Linux < 5.6);
/// `restart_syscall` is how the kernel resumes some interrupted calls after SIGSTOP/CONT.
/// Then, from `SERVE` on, what the `--workers` supervisor needs besides: fork (clone),
/// reaping, forwarding signals, its sleep, and a new worker's own start (epoll, mmap,
/// then this filter again, narrowed to the first `SERVE` entries: filters stack, so a
/// worker ends up with the serving list only).
pub const ALLOW: [u16; 25] = [
    nr::READ as u16,
    nr::WRITE as u16,
    nr::CLOSE as u16,
    nr::FSTAT as u16,
    nr::PREAD64 as u16,
    nr::SENDTO as u16,
    nr::SENDFILE as u16,
    nr::SHUTDOWN as u16,
    nr::SETSOCKOPT as u16,
    nr::OPENAT2 as u16,
    nr::OPENAT as u16,
    nr::EPOLL_CTL as u16,
    nr::EPOLL_PWAIT as u16,
    nr::ACCEPT4 as u16,
    nr::CLOCK_GETTIME as u16,
    nr::EXIT_GROUP as u16,
    nr::RESTART_SYSCALL as u16,
    // --workers supervisor only:
    nr::CLONE as u16,
    nr::WAIT4 as u16,
    nr::KILL as u16,
    nr::RT_SIGTIMEDWAIT as u16,
    nr::EPOLL_CREATE1 as u16,
    nr::MMAP as u16,
    nr::PRCTL as u16,
    nr::SECCOMP as u16,
];
/// The first `SERVE` entries of `ALLOW` are the serving loop's.
pub const SERVE: usize = 17;
/// Instructions of the longest program: 4 checks before the list, 2 returns after it.
pub const LEN: usize = ALLOW.len() + 6;

/// One BPF instruction as the kernel's `struct sock_filter` { code: u16, jt: u8, jf: u8,
/// k: u32 }, little-endian on both targets.
const fn ins(code: u16, jt: usize, jf: usize, k: u32) -> u64 {
    code as u64 | (jt as u64 & 0xff) << 16 | (jf as u64 & 0xff) << 24 | (k as u64) << 32
}

/// Builds the filter that allows the first `n` syscalls of `ALLOW` into `p`; returns its
/// length in instructions. One loop over the slots instead of a const table per role
/// (31 instructions are 248 bytes of .rodata each):
///
/// ```text
/// 0      ld   [4]                    seccomp_data.arch
/// 1      jeq  AUDIT_ARCH, 0, kill    another ABI (e.g. i386 int 0x80 on x86_64): kill
/// 2      ld   [0]                    seccomp_data.nr
/// 3      jge  0x40000000, kill       x32 ABI numbers on x86_64 (none exist on aarch64)
/// 4+i    jeq  ALLOW[i], allow, 0     for i < n
/// n+4    ret  KILL_PROCESS
/// n+5    ret  ALLOW
/// ```
pub fn program(n: usize, p: &mut [u64; LEN]) -> usize {
    const LD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    let n = n.min(ALLOW.len());
    p[0] = ins(LD, 0, 0, 4);
    p[1] = ins(JEQ, 0, n + 2, nr::AUDIT_ARCH);
    p[2] = ins(LD, 0, 0, 0);
    p[3] = ins(JGE, n, 0, 0x4000_0000);
    for (i, (s, &k)) in p[4..].iter_mut().zip(&ALLOW[..n]).enumerate() {
        *s = ins(JEQ, n - i, 0, k as u32);
    }
    p[n + 4] = ins(RET, 0, 0, 0x8000_0000); // SECCOMP_RET_KILL_PROCESS
    p[n + 5] = ins(RET, 0, 0, 0x7fff_0000); // SECCOMP_RET_ALLOW
    n + 6
}
