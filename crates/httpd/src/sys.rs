//! The only module with `unsafe`: process entry, the mem* symbols the compiler needs,
//! the few raw syscalls rustix does not offer outside its unstable runtime module
//! (signal mask, signalfd, clone-as-fork, clock_gettime, exit_group), raw-fd
//! borrowing and the one `mmap` that holds every connection slot.
//!
//! Everything else goes through rustix's safe wrappers over `BorrowedFd`s made here.

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use rustix::fd::BorrowedFd;

/// A raw file descriptor owned by whoever stored it (a connection slot, the server).
pub type Fd = i32;

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

static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicPtr<*const u8> = AtomicPtr::new(core::ptr::null_mut());
static ENVP: AtomicPtr<*const u8> = AtomicPtr::new(core::ptr::null_mut());

extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: the System V ABI initial stack is `argc, argv[0..argc], NULL, envp..., NULL`;
    // it stays mapped and unchanged for the life of the process.
    unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *mut *const u8;
        ARGC.store(argc, Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
        ENVP.store(argv.add(argc + 1), Ordering::Relaxed);
    }
    exit(crate::main())
}

/// Bytes of a NUL-terminated string on the initial stack (without the NUL).
fn c_bytes(p: *const u8) -> &'static [u8] {
    let mut n = 0;
    // SAFETY: `p` is an argv/envp string from the initial stack: NUL-terminated and
    // mapped for the life of the process.
    unsafe {
        while *p.add(n) != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(p, n)
    }
}

/// Command-line argument `i` (0 is the program name).
pub fn arg(i: usize) -> Option<&'static [u8]> {
    if i >= ARGC.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: i < argc, so argv[i] is a valid non-null pointer.
    let p = unsafe { *ARGV.load(Ordering::Relaxed).add(i) };
    Some(c_bytes(p))
}

/// Value of environment variable `name`.
pub fn env(name: &[u8]) -> Option<&'static [u8]> {
    let mut e = ENVP.load(Ordering::Relaxed);
    if e.is_null() {
        return None;
    }
    loop {
        // SAFETY: envp is a NULL-terminated array of valid C strings; we stop at NULL.
        let p = unsafe { *e };
        if p.is_null() {
            return None;
        }
        let kv = c_bytes(p);
        if let Some(v) = kv.strip_prefix(name).and_then(|r| r.strip_prefix(b"=")) {
            return Some(v);
        }
        // SAFETY: p was not the terminating NULL, so e + 1 is still within the array.
        e = unsafe { e.add(1) };
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
/// Standard C `strlen` contract (rustix uses it on C strings).
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
// Raw syscalls that rustix only has in its unstable runtime module
// ---------------------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const CLONE: usize = 56;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const SIGNALFD4: usize = 289;
}
#[cfg(target_arch = "aarch64")]
mod nr {
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const CLONE: usize = 220;
    pub const CLOCK_GETTIME: usize = 113;
    pub const EXIT_GROUP: usize = 94;
    pub const SIGNALFD4: usize = 74;
}

/// # Safety
/// The syscall `n` with these arguments must not violate memory safety.
#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let r: isize;
    // SAFETY: caller contract; the kernel clobbers rcx and r11 only.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n as isize => r, in("rdi") a, in("rsi") b,
            in("rdx") c, in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    r
}

/// # Safety
/// The syscall `n` with these arguments must not violate memory safety.
#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let r: isize;
    // SAFETY: caller contract.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a as isize => r, in("x1") b,
            in("x2") c, in("x3") d, options(nostack))
    };
    r
}

/// Ends the process with `code`.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes an integer and never returns.
    unsafe { syscall4(nr::EXIT_GROUP, code as usize, 0, 0, 0) };
    loop {}
}

/// `CLOCK_REALTIME` or `CLOCK_MONOTONIC` seconds.
pub fn clock_secs(monotonic: bool) -> u64 {
    let mut ts = [0u64; 2];
    // SAFETY: ts is a writable `struct timespec` (two 64-bit words on both targets).
    unsafe { syscall4(nr::CLOCK_GETTIME, monotonic as usize, ts.as_mut_ptr() as usize, 0, 0) };
    ts[0]
}

pub const SIGINT: u32 = 2;
pub const SIGPIPE: u32 = 13;
pub const SIGTERM: u32 = 15;
pub const SIGCHLD: u32 = 17;

/// Ignores SIGPIPE, blocks SIGINT, SIGTERM and SIGCHLD and returns a non-blocking
/// signalfd that reports them. Works for PID 1 too (no default handlers are needed).
pub fn signal_fd() -> Option<Fd> {
    let mask: u64 = (1 << (SIGINT - 1)) | (1 << (SIGTERM - 1)) | (1 << (SIGCHLD - 1));
    // struct kernel_sigaction { handler, flags, restorer, mask }: SIG_IGN is handler 1.
    let ign: [usize; 4] = [1, 0, 0, 0];
    // SAFETY: `ign` and `mask` are valid for reads of the sizes given; the old values
    // are not requested (NULL).
    let fd = unsafe {
        syscall4(nr::RT_SIGACTION, SIGPIPE as usize, ign.as_ptr() as usize, 0, 8);
        syscall4(nr::RT_SIGPROCMASK, 0 /* SIG_BLOCK */, &mask as *const u64 as usize, 0, 8);
        syscall4(nr::SIGNALFD4, usize::MAX /* -1: new fd */, &mask as *const u64 as usize, 8,
            0o4000 | 0o2000000 /* SFD_NONBLOCK | SFD_CLOEXEC */)
    };
    if fd < 0 { None } else { Some(fd as Fd) }
}

/// Reads one pending signal number from a signalfd.
pub fn read_signal(fd: Fd) -> Option<u32> {
    let mut info = [0u8; 128]; // struct signalfd_siginfo; ssi_signo is the first u32
    match rustix::io::read(borrow(fd), &mut info) {
        Ok(128) => Some(u32::from_le_bytes([info[0], info[1], info[2], info[3]])),
        _ => None,
    }
}

/// `fork()`: returns Some(0) in the child, Some(pid) in the parent.
pub fn fork() -> Option<i32> {
    // SAFETY: clone(SIGCHLD) without CLONE_VM gives the child a copy of the address
    // space, exactly like fork(); this process has a single thread and no locks.
    let r = unsafe { syscall4(nr::CLONE, SIGCHLD as usize, 0, 0, 0) };
    if r < 0 { None } else { Some(r as i32) }
}

// ---------------------------------------------------------------------------------------
// File descriptors
// ---------------------------------------------------------------------------------------

/// Borrows a raw descriptor for a rustix call.
pub fn borrow(fd: Fd) -> BorrowedFd<'static> {
    // SAFETY: every Fd in this program is opened by it and closed only through `close`
    // below, by the one owner that stored it, after which that owner forgets it; a
    // borrowed fd never outlives the call it is made for. A stale fd can at worst make
    // a syscall fail with EBADF, never touch memory.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of a rustix OwnedFd as a raw Fd.
pub fn into_raw(fd: rustix::fd::OwnedFd) -> Fd {
    use rustix::fd::IntoRawFd;
    fd.into_raw_fd()
}

/// Closes a descriptor owned by the caller.
pub fn close(fd: Fd) {
    if fd >= 0 {
        // SAFETY: the caller owns fd and forgets it after this call.
        unsafe { rustix::io::close(fd) }
    }
}

// ---------------------------------------------------------------------------------------
// Connection slots: one mmap sized at start-up
// ---------------------------------------------------------------------------------------

/// `len` zeroed bytes from an anonymous mapping, resident only once touched.
pub fn map_bytes(len: usize) -> Option<&'static mut [u8]> {
    // SAFETY: a fresh private anonymous mapping, handed out once for the rest of the process.
    unsafe {
        let p = rustix::mm::mmap_anonymous(
            core::ptr::null_mut(),
            len,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
        )
        .ok()?;
        Some(core::slice::from_raw_parts_mut(p as *mut u8, len))
    }
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
        let head = head.checked_add(63)? & !63;
        let bytes = cap.checked_mul(per_slot_bytes)?;
        let total = head.checked_add(bytes)?;
        // SAFETY: a fresh private anonymous mapping: no existing memory is affected.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                core::ptr::null_mut(),
                total.max(1),
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
            )
        }
        .ok()? as *mut u8;
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
