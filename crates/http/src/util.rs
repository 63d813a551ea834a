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

/// Bitmap of RFC 9110 5.6.2 `tchar` for bytes 0..128, as two 64-bit words.
const TCHAR: [u64; 2] = {
    let mut m = [0u64; 2];
    let chars = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i] as usize;
        m[c >> 6] |= 1 << (c & 63);
        i += 1;
    }
    m
};

/// Is `b` a token character (RFC 9110 5.6.2)? Methods, header names and most
/// header-value keywords are tokens.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    let word = if b < 64 {
        TCHAR[0]
    } else if b < 128 {
        TCHAR[1]
    } else {
        0
    };
    (word >> (b & 63)) & 1 == 1
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
/// Not quote-aware: only for lists of tokens.
pub(crate) fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

/// ASCII case-insensitive equality. A plain loop: core's
/// `eq_ignore_ascii_case` is unrolled and several times larger, and the
/// strings compared here are short header names and tokens.
#[allow(clippy::manual_ignore_case_cmp)] // deliberately not the std version, see above
pub(crate) fn eq_ic(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_ascii_lowercase() == y.to_ascii_lowercase())
}

/// Whether `s` contains byte `c`. A plain loop: `<[u8]>::contains` pulls in
/// a word-at-a-time memchr, which is larger and no faster on short inputs.
#[allow(clippy::manual_contains)] // deliberately not `contains`, see above
pub(crate) fn has(s: &[u8], c: u8) -> bool {
    s.iter().any(|&b| b == c)
}

/// Parses `1*DIGIT` into a u64. `None` for an empty string, any non-digit byte,
/// or a value that does not fit in 64 bits.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// Largest number of decimal digits of a u64 (18446744073709551615).
pub(crate) const U64_DIGITS: usize = 20;

/// Formats `v` in decimal into the tail of `buf` and returns the digits.
pub(crate) fn fmt_u64(mut v: u64, buf: &mut [u8; U64_DIGITS]) -> &[u8] {
    let mut n = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
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
    }
}
