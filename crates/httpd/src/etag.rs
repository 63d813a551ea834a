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

use crate::num::{sub, sub_mut, W};
use crate::sys::{self, Fd, Stat};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

const WINDOW: usize = 4096;
const SLOTS: usize = 64;

/// The cache: per slot the 7 key words, then the fingerprint. A static in .bss rather
/// than a field on the serving loop's stack: its 4 KiB cost no memory until the first
/// file is tagged (relaxed atomics: one thread; they only make the static safe).
static CACHE: [[AtomicU64; 8]; SLOTS] = [const { [const { AtomicU64::new(0) }; 8] }; SLOTS];

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

/// `buf` is scratch space of at least 4 KiB (the server's shared scratch mapping, so
/// no 4 KiB stack buffer is zeroed per call).
fn fingerprint(fd: Fd, size: u64, buf: &mut [u8]) -> u64 {
    let buf = sub_mut(buf, 0, WINDOW);
    let w = WINDOW as u64;
    let mut h = 0x243F_6A88_85A3_08D3;
    let mut off = 0;
    loop {
        let n = sys::pread(fd, buf, off).max(0) as usize;
        h = hash(h, sub(buf, 0, n));
        // One window for files up to 4 KiB, else the second: the rest of a file up to
        // 8 KiB, or the last 4 KiB.
        if off > 0 || size <= w {
            return h;
        }
        off = if size > 2 * w { size - w } else { w };
    }
}

/// Writes the quoted tag, e.g. `"1f2e3d4c5b6a7988-br"`, and returns its length. `buf`
/// is scratch for the fingerprint (see `fingerprint`).
pub fn etag(fd: Fd, st: &Stat, suffix: &[u8], buf: &mut [u8], out: &mut [u8; 32]) -> usize {
    let (size, mtime) = (st.size(), st.mtime());
    let key = st.key();
    // SLOTS is a power of two: the mask keeps the index in range.
    let e = &CACHE[(mix(key[0], key[1]) >> 58) as usize & (SLOTS - 1)];
    let mut fp = e[7].load(Relaxed);
    if (0..7).any(|i| e[i].load(Relaxed) != key[i]) {
        fp = fingerprint(fd, size, buf);
        for i in 0..8 {
            e[i].store(if i < 7 { key[i] } else { fp }, Relaxed);
        }
    }
    let tag = mix(mix(mix(fp, size), mtime), 0x6d6f7465);
    let mut w = W::new(out);
    w.byte(b'"').hex(tag, 16);
    if let Some(ext) = suffix.get(1..) {
        w.byte(b'-').put(ext); // ".br" -> "-br"
    }
    w.byte(b'"');
    w.len
}
