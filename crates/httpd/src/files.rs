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
    // Components of rel without its NUL and trailing slashes; "." and empty ones skipped
    // (normalize left no ".." behind, but refuse one anyway).
    let mut rel = rel.strip_suffix(b"\0").unwrap_or(rel);
    while let [r @ .., b'/'] = rel {
        rel = r;
    }
    let mut cur = root;
    let mut name = [0u8; 256];
    let mut rest = rel;
    loop {
        let cut = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let (part, tail) = rest.split_at(cut);
        rest = tail.get(1..).unwrap_or(&[]);
        let last = tail.is_empty();
        if (part.is_empty() || part == b".") && !last {
            continue;
        }
        let n = part.len();
        let r = match name.get_mut(..n + 1) {
            Some(dst) if part != b".." => {
                dst[..n].copy_from_slice(part);
                dst[n] = 0;
                let flags = if last { file_flags() } else { OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC };
                match CStr::from_bytes_with_nul(dst) {
                    Ok(c) => rustix::fs::openat(sys::borrow(cur), c, flags | OFlags::NOFOLLOW, Mode::empty()).map(sys::into_raw),
                    Err(_) => Err(Errno::INVAL),
                }
            }
            _ => Err(Errno::ACCESS),
        };
        if cur != root {
            sys::close(cur);
        }
        match r {
            Ok(fd) if !last => cur = fd,
            r => return r,
        }
    }
}
