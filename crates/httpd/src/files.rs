//! Opening files strictly beneath the root directory.
//!
//! `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel refuses any
//! resolution that leaves the root (`..`, absolute symlinks, symlinks pointing outside)
//! and /proc magic links. Symlinks that stay inside the root work. If the kernel has no
//! openat2 (ENOSYS, Linux < 5.6), each component is opened with `openat(O_NOFOLLOW)`
//! instead: then no symlink is followed at all. The path has already been normalized by
//! mote_http::path::normalize, so it holds no `.` or `..` segments.

use crate::sys::{self, Fd};
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

fn file_flags() -> OFlags {
    OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY
}

/// Opens `rel` (relative, NUL-terminated, no dot segments) beneath `root`.
pub fn open(root: Fd, rel: &[u8]) -> Result<Fd, Errno> {
    let path = CStr::from_bytes_with_nul(rel).map_err(|_| Errno::INVAL)?;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match rustix::fs::openat2(
            sys::borrow(root),
            path,
            file_flags(),
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            r => return r.map(sys::into_raw),
        }
    }
    open_fallback(root, rel)
}

fn open_fallback(root: Fd, rel: &[u8]) -> Result<Fd, Errno> {
    let rel = rel.strip_suffix(b"\0").unwrap_or(rel);
    let mut cur = root;
    let mut parts = rel.split(|&b| b == b'/').filter(|p| !p.is_empty()).peekable();
    let mut name = [0u8; 256];
    loop {
        let Some(part) = parts.next() else { break Err(Errno::INVAL) };
        if part == b".." || part.len() >= name.len() {
            break Err(Errno::ACCESS);
        }
        let mut w = crate::num::W::new(&mut name);
        w.put(part).byte(0);
        let Ok(c) = CStr::from_bytes_with_nul(w.done()) else { break Err(Errno::INVAL) };
        let last = parts.peek().is_none();
        let flags = if last { file_flags() } else { OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC };
        let r = rustix::fs::openat(sys::borrow(cur), c, flags | OFlags::NOFOLLOW, Mode::empty()).map(sys::into_raw);
        if cur != root {
            sys::close(cur);
        }
        match r {
            Ok(fd) if last => break Ok(fd),
            Ok(fd) => cur = fd,
            Err(e) => break Err(e),
        }
    }
}
