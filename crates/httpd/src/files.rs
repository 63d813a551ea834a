//! Opening files strictly beneath the root directory.
//!
//! `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel refuses any
//! resolution that leaves the root (`..`, absolute symlinks, symlinks pointing outside)
//! and /proc magic links. Symlinks that stay inside the root work. If the kernel has no
//! openat2 (ENOSYS, Linux < 5.6), each component is opened with `openat(O_NOFOLLOW)`
//! instead: then no symlink is followed at all. The path has already been normalized by
//! mote_http::path::normalize, so it holds no `.` or `..` segments.

use crate::sys::{self, Fd};
use core::sync::atomic::{AtomicBool, Ordering};

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `rel` (relative, NUL-terminated, no dot segments) beneath `root`: the fd, or
/// -errno.
pub fn open(root: Fd, rel: &[u8]) -> isize {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let r = sys::openat2_beneath(root, rel, sys::O_FILE);
        if r != -sys::ENOSYS {
            return r;
        }
        NO_OPENAT2.store(true, Ordering::Relaxed);
    }
    open_fallback(root, rel)
}

#[inline(never)]
fn open_fallback(root: Fd, rel: &[u8]) -> isize {
    // Components of rel without its NUL and trailing slashes; "." and empty ones skipped
    // (normalize left no ".." behind, but refuse one anyway).
    let mut rel = rel.strip_suffix(b"\0").unwrap_or(rel);
    while let [r @ .., b'/'] = rel {
        rel = r;
    }
    let mut cur = root;
    let mut name = [0u8; 256];
    let count = rel.split(|&b| b == b'/').count();
    for (i, part) in rel.split(|&b| b == b'/').enumerate() {
        let last = i + 1 == count;
        if (part.is_empty() || part == b".") && !last {
            continue;
        }
        let n = part.len();
        let r = match name.get_mut(..n + 1) {
            Some(dst) if part != b".." => {
                for (d, s) in dst.iter_mut().zip(part.iter().chain(&[0])) {
                    *d = *s;
                }
                let flags = if last { sys::O_FILE } else { sys::O_PATH | sys::O_DIRECTORY | sys::O_CLOEXEC };
                sys::openat(cur, dst, flags | sys::O_NOFOLLOW)
            }
            _ => -sys::EACCES,
        };
        if cur != root {
            sys::close(cur);
        }
        if r < 0 || last {
            return r;
        }
        cur = r as Fd;
    }
    -sys::EACCES
}
