//! Small byte helpers shared by the modules. All of them are total: no input
//! can make them panic, which keeps panic (and thus formatting) code out of the
//! server binary.

/// The byte at `i`, or `None` past the end. Used instead of `buf[i]` so that no
/// bounds-check panic path is generated.
#[inline]
pub(crate) fn at(buf: &[u8], i: usize) -> Option<u8> {
    buf.get(i).copied()
}

/// `buf[start..end]`, or an empty slice when the range is out of bounds (callers
/// only pass ranges they have already checked; the fallback just avoids a panic
/// path).
#[inline]
pub(crate) fn sub(buf: &[u8], start: usize, end: usize) -> &[u8] {
    buf.get(start..end).unwrap_or(&[])
}

/// A 128-bit membership map (two words) of the ASCII bytes in `chars`.
const fn bitmap(chars: &[u8]) -> [u64; 2] {
    let mut m = [0u64; 2];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i] as usize;
        m[c >> 6] |= 1 << (c & 63);
        i += 1;
    }
    m
}

/// Is `b` (any byte; >= 128 is never in a map) in the map `m`?
#[inline(never)]
fn in_map(m: &[u64; 2], b: u8) -> bool {
    let word = match m.get(b as usize >> 6) {
        Some(w) => *w,
        None => 0,
    };
    (word >> (b & 63)) & 1 == 1
}

/// Bitmap of RFC 9110 5.6.2 `tchar` for bytes 0..128.
const TCHAR: [u64; 2] =
    bitmap(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

/// Is `b` a token character (RFC 9110 5.6.2)? Methods, header names and most
/// header-value keywords are tokens.
pub(crate) fn is_tchar(b: u8) -> bool {
    in_map(&TCHAR, b)
}

/// Is `b` a field-value byte: HTAB, SP, VCHAR or obs-text (RFC 9110 5.5)? No
/// NUL, no other control, no DEL.
pub(crate) fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Bitmap of the bytes allowed in a Host value or an absolute-form authority
/// (bytes 0..128): RFC 3986 reg-name / IP-literal / port characters,
/// excluding userinfo's `@` (RFC 9110 4.2.4 deprecates userinfo) and anything
/// that could smuggle a path.
const HOST: [u64; 2] =
    bitmap(b"-._~!$&'()*+,;=%:[]0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

/// Is `b` allowed in a Host value or an absolute-form authority?
pub(crate) fn is_host_byte(b: u8) -> bool {
    in_map(&HOST, b)
}

/// Index of the first byte at or after `i` for which `ok` is false (or
/// `s.len()`). One out-of-line loop for every "run of bytes of one class"
/// in the parser, taking the class as a function pointer.
#[inline(never)]
pub(crate) fn span(s: &[u8], mut i: usize, ok: fn(u8) -> bool) -> usize {
    while let Some(&b) = s.get(i) {
        if !ok(b) {
            break;
        }
        i += 1;
    }
    i
}

/// Strips optional whitespace (SP / HTAB, RFC 9110 5.6.3) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The non-empty, OWS-trimmed elements of a comma-separated list
/// (RFC 9110 5.6.1: recipients must ignore empty elements such as in `a,,b`).
/// Not quote-aware: only for lists of tokens. One hand-written iterator shared
/// by Connection, Transfer-Encoding, Accept-Encoding and Range: core's
/// `split().map().filter()` chain compiles to noticeably more code.
pub(crate) fn list(value: &[u8]) -> List<'_> {
    List(value)
}

/// Iterator of [`list`].
pub(crate) struct List<'a>(&'a [u8]);

impl<'a> Iterator for List<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.0.is_empty() {
                return None;
            }
            let (item, rest) = split_once(self.0, b',');
            self.0 = rest;
            let item = trim_ows(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// `s` split at the first `c`: (before, after). Without `c`: (s, empty).
#[inline(never)]
pub(crate) fn split_once(s: &[u8], c: u8) -> (&[u8], &[u8]) {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == c {
            return (sub(s, 0, i), sub(s, i + 1, s.len()));
        }
        i += 1;
    }
    (s, &[])
}

/// Position of the first `c` in `s`. A plain loop, out of line: core's
/// `position` is inlined at every use.
#[inline(never)]
pub(crate) fn find(s: &[u8], c: u8) -> Option<usize> {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == c {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Index of `word` among the `sep`-separated words of `words` (exact match,
/// ASCII case-insensitive if `fold`). One small loop shared by the method,
/// day-name and MIME tables, which are stored as packed strings rather than
/// arrays of slices (16 bytes of pointer per entry on 64-bit targets).
#[inline(never)]
pub(crate) fn word_index(mut words: &[u8], sep: u8, word: &[u8], fold: bool) -> Option<usize> {
    let mut n = 0;
    loop {
        let (w, rest) = split_once(words, sep);
        if eq(w, word, fold) {
            return Some(n);
        }
        if rest.is_empty() {
            return None;
        }
        words = rest;
        n += 1;
    }
}

/// ASCII case-insensitive equality. Out of line (measured in size pass 4: 16 bytes
/// smaller on x86_64 than inlined).
#[inline(never)]
pub(crate) fn eq_ic(a: &[u8], b: &[u8]) -> bool {
    eq(a, b, true)
}

/// Equality, ASCII case-insensitive if `fold`. A plain loop: core's
/// `eq_ignore_ascii_case` is unrolled and several times larger, and the
/// strings compared here are short header names and tokens; one loop for both
/// kinds of comparison.
#[allow(clippy::manual_ignore_case_cmp)] // deliberately not the std version, see above
#[inline(never)]
pub(crate) fn eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    let low = |x: u8| if fold { x.to_ascii_lowercase() } else { x };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| low(x) == low(y))
}

/// Whether `s` contains byte `c`. A plain loop: `<[u8]>::contains` pulls in
/// a word-at-a-time memchr, which is larger and no faster on short inputs.
#[allow(clippy::manual_contains)] // deliberately not `contains`, see above
pub(crate) fn has(s: &[u8], c: u8) -> bool {
    find(s, c).is_some()
}

/// Parses `1*DIGIT` into a u64. `None` for an empty string, any non-digit byte,
/// or a value that does not fit in 64 bits.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    parse_dec(s, false)
}

/// The one decimal parser: `1*DIGIT`, `None` for an empty string or a
/// non-digit byte. A value past u64::MAX is `None`, or u64::MAX if `saturate`.
#[inline(never)]
pub(crate) fn parse_dec(s: &[u8], saturate: bool) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add(d as u64)) {
            Some(v) => v,
            None if saturate => u64::MAX,
            None => return None,
        };
    }
    Some(v)
}

/// Largest number of decimal digits of a u64 (18446744073709551615).
pub(crate) const U64_DIGITS: usize = 20;

/// Formats `v` in decimal into the tail of `buf` and returns the digits.
///
/// Without a 64-bit division (`/ 10` is a multiplication by the reciprocal):
/// 32-bit targets (riscv32imc, wasm32 on some engines) have no 64-bit
/// division instruction, and the library routine for it costs about 1 KiB.
#[inline(never)]
pub(crate) fn fmt_u64(mut v: u64, buf: &mut [u8; U64_DIGITS]) -> &[u8] {
    let mut n = 0;
    for slot in buf.iter_mut().rev() {
        // v / 10 as a multiplication by the reciprocal (exact for all u64).
        let q = ((v as u128 * 0xCCCC_CCCC_CCCC_CCCD) >> 67) as u64;
        *slot = b'0' + (v - q * 10) as u8;
        v = q;
        n += 1;
        if v == 0 {
            break;
        }
    }
    buf.get(U64_DIGITS - n..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    #[test]
    fn tchar_matches_rfc_set() {
        let set = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for b in 0..=255u8 {
            assert_eq!(is_tchar(b), set.contains(&b), "byte {b}");
        }
    }

    #[test]
    fn trim_and_list() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        let v: [&[u8]; 3] = [b"a", b"b c", b"d"];
        assert!(list(b" a ,, b c ,\td, ,").eq(v.iter().copied()));
        assert_eq!(list(b" , ,").count(), 0);
    }

    #[test]
    fn u64_parse_and_format() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+1"), None);
        assert_eq!(parse_u64(b"1 "), None);
        let mut b = [0; U64_DIGITS];
        assert_eq!(fmt_u64(0, &mut b), b"0");
        assert_eq!(fmt_u64(u64::MAX, &mut b), b"18446744073709551615");
        assert_eq!(fmt_u64(1234, &mut b), b"1234");
        // The reciprocal division, around every power of ten and at the top.
        let mut p: u64 = 1;
        for _ in 0..20 {
            for v in [p - 1, p, p + 1, p.wrapping_mul(7) / 3, u64::MAX - p] {
                let want = std::format!("{v}");
                assert_eq!(fmt_u64(v, &mut b), want.as_bytes(), "{v}");
            }
            p = p.saturating_mul(10);
        }
    }
}
