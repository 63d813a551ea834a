//! Number parsing and formatting without core::fmt, and a small bounded writer.

/// Appends bytes into a fixed buffer. Overflow is sticky: `ok()` is false afterwards and
/// nothing past the capacity is ever written.
pub struct W<'a> {
    pub buf: &'a mut [u8],
    pub len: usize,
    pub full: bool,
}

impl<'a> W<'a> {
    // Out of line (measured): a call is smaller than the three stores at each site.
    #[inline(never)]
    pub fn new(buf: &'a mut [u8]) -> Self {
        W { buf, len: 0, full: false }
    }

    #[inline(never)]
    pub fn put(&mut self, s: &[u8]) -> &mut Self {
        match self.buf.get_mut(self.len..self.len + s.len()) {
            Some(d) if !self.full => {
                crate::sys::copy(d, s);
                self.len += s.len();
            }
            _ => self.full = true,
        }
        self
    }

    #[inline(never)]
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.put(&[b])
    }

    #[inline(never)]
    pub fn dec(&mut self, v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let s = dec(v, &mut tmp);
        self.put(s)
    }

    pub fn hex(&mut self, v: u64, digits: u32) -> &mut Self {
        let mut i = digits;
        while i > 0 {
            i -= 1;
            self.byte(HEX[((v >> (i * 4)) & 15) as usize]);
        }
        self
    }

    #[inline(never)]
    pub fn done(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

pub const HEX: &[u8; 16] = b"0123456789abcdef";

/// Decimal digits of `v`, written at the end of `tmp`.
pub fn dec(mut v: u64, tmp: &mut [u8; 20]) -> &[u8] {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    tmp.get(i..).unwrap_or(&[])
}

/// Parses an unsigned decimal without sign, blanks or overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

/// `s[a..b]` with `b` clamped to the length; empty when `a` is past that (`a` is clamped
/// to `b`, measured smaller than checking the range `a..b`). Inlined: once out of line,
/// but measured again (size pass 4) the calls cost more than the checks (inlining saved
/// 16 bytes on x86_64 and 320 on aarch64).
pub fn sub(s: &[u8], a: usize, b: usize) -> &[u8] {
    let b = b.min(s.len());
    s.get(a.min(b)..b).unwrap_or(&[])
}

/// The mutable `sub` (the same clamping), inlined too (measured in size pass 4: 32 bytes
/// smaller on x86_64, 96 on aarch64).
pub fn sub_mut(s: &mut [u8], a: usize, b: usize) -> &mut [u8] {
    let b = b.min(s.len());
    s.get_mut(a.min(b)..b).unwrap_or(&mut [])
}

/// Index of the first `b` in `s`, or `s.len()`: a plain loop (core's `contains` on bytes
/// brings a word-at-a-time search, useless on these short inputs). Once out of line;
/// measured again (size pass 4) the inlined loops are smaller than the calls on x86_64
/// (56 bytes) and equal on aarch64.
pub fn find(s: &[u8], b: u8) -> usize {
    s.iter().position(|&x| x == b).unwrap_or(s.len())
}

/// Whether `s` contains `b`.
pub fn has(s: &[u8], b: u8) -> bool {
    find(s, b) < s.len()
}

/// Copies `buf[from..end]` to `buf[to..]` byte by byte, front to back: right for
/// `to <= from` (moving data down) and for ranges that do not overlap. Bytes outside
/// `buf` are left alone. Unlike `copy_within` it has no panic path.
#[inline(never)]
pub fn copy_fwd(buf: &mut [u8], to: usize, from: usize, end: usize) {
    let mut i = 0;
    while from + i < end {
        match buf.get(from + i) {
            Some(&b) => {
                if let Some(d) = buf.get_mut(to + i) {
                    *d = b;
                }
            }
            None => break,
        }
        i += 1;
    }
}
