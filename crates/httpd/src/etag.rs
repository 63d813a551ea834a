//! Entity tags that are equal on every replica of an image and change with the content.
//!
//! Design: images carry fixed mtimes, so (size, mtime) alone would survive a content
//! change, and inode numbers differ between replicas. The tag is therefore a 64-bit hash
//! of size, mtime (whole seconds) and a content fingerprint: the first and the last 4 KiB
//! of the file (files up to 8 KiB are hashed completely), read with pread when the file is
//! opened. A change inside the middle of a file larger than 8 KiB that keeps size and
//! mtime is not detected; any change of size, mtime, head or tail is.
//!
//! Fingerprints are cached per process in a small direct-mapped table keyed by
//! (device, inode, size, mtime, ctime with nanoseconds): every write to a file updates its
//! ctime, so a stale entry is never used, and a hot file costs no extra syscalls.
//! A variant (`.br`, `.zst`, `.gz`) gets its own tag plus a suffix (`"…-br"`).

use crate::num::W;
use crate::sys::{self, Fd, Stat};

const WINDOW: u64 = 4096;
const SLOTS: usize = 64;

#[derive(Clone, Copy, Default)]
struct Entry {
    key: [u64; 7],
    fp: u64,
}

pub struct Cache {
    e: [Entry; SLOTS],
}

impl Cache {
    pub const fn new() -> Self {
        Cache { e: [Entry { key: [0; 7], fp: 0 }; SLOTS] }
    }
}

fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

/// Hash of bytes, byte by byte (identical on every architecture).
fn hash(mut h: u64, s: &[u8]) -> u64 {
    for &b in s {
        h = mix(h, b as u64);
    }
    mix(h, s.len() as u64)
}

fn fingerprint(fd: Fd, size: u64) -> u64 {
    let mut buf = [0u8; WINDOW as usize];
    let mut h = 0x243F_6A88_85A3_08D3;
    let second = if size > 2 * WINDOW { size - WINDOW } else { WINDOW };
    for off in [0, second] {
        if off >= size && off > 0 {
            break;
        }
        let n = sys::pread(fd, &mut buf, off).max(0) as usize;
        h = hash(h, buf.get(..n).unwrap_or(&[]));
    }
    h
}

/// Writes the quoted tag, e.g. `"1f2e3d4c5b6a7988-br"`, and returns its length.
pub fn etag(cache: &mut Cache, fd: Fd, st: &Stat, suffix: &[u8], out: &mut [u8; 32]) -> usize {
    let (size, mtime) = (st.size(), st.mtime());
    let key = st.key();
    // SLOTS is a power of two: the mask keeps the index in range.
    let e = &mut cache.e[(mix(key[0], key[1]) >> 58) as usize & (SLOTS - 1)];
    if e.key != key {
        *e = Entry { key, fp: fingerprint(fd, size) };
    }
    let fp = e.fp;
    let tag = mix(mix(mix(fp, size), mtime), 0x6d6f7465);
    let mut w = W::new(out);
    w.byte(b'"').hex(tag, 16);
    if let Some(ext) = suffix.get(1..) {
        w.byte(b'-').put(ext); // ".br" -> "-br"
    }
    w.byte(b'"');
    w.len
}
