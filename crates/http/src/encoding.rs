//! Choosing a pre-compressed variant from `Accept-Encoding` (RFC 9110 12.5.3).

use crate::util::{list, split_once, sub, trim_ows, word_index};

/// A content coding a static server may have a pre-compressed file for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// Brotli, `file.br`.
    Br = 0,
    /// Zstandard, `file.zst`.
    Zstd = 1,
    /// gzip, `file.gz`.
    Gzip = 2,
}

/// Preference among equally weighted codings: smallest output first.
const PREFERENCE: [Encoding; 3] = [Encoding::Br, Encoding::Zstd, Encoding::Gzip];

impl Encoding {
    /// The Content-Encoding token.
    pub fn token(self) -> &'static [u8] {
        // Cut out of one string: a `match` on self compiled to a jump table.
        piece(b"brzstdgzip", [0, 2, 6, 10], self)
    }

    /// The file-name suffix of the pre-compressed variant.
    pub fn ext(self) -> &'static [u8] {
        piece(b".br.zst.gz", [0, 3, 7, 10], self)
    }

    /// The bit of this coding in `negotiate`'s `available` mask.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The piece of `s` for `e`, between `bounds[e]` and `bounds[e + 1]`.
fn piece(s: &'static [u8], bounds: [u8; 4], e: Encoding) -> &'static [u8] {
    let i = e as usize;
    match (bounds.get(i), bounds.get(i + 1)) {
        (Some(&a), Some(&b)) => sub(s, a as usize, b as usize),
        _ => &[],
    }
}

/// Weight of a qvalue in thousandths: `q=1` is 1000, `q=0.5` is 500.
/// `None` for anything not matching RFC 9110 12.4.2
/// (`0[.ddd]` or `1[.000]`), which the caller treats as "not acceptable".
fn qvalue(s: &[u8]) -> Option<u16> {
    let (int, frac) = match s {
        [d, b'.', frac @ ..] if frac.len() <= 3 => (*d, frac),
        [d] => (*d, &[][..]),
        _ => return None,
    };
    // Three fractional digits, missing ones counting as 0.
    let mut thousandths = 0u16;
    for i in 0..3 {
        let d = frac.get(i).map_or(0, |d| d.wrapping_sub(b'0'));
        if d > 9 {
            return None;
        }
        thousandths = thousandths * 10 + d as u16;
    }
    match int {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Weight of one `coding [OWS ";" OWS "q=" qvalue]` element: 1000 without a
/// weight, 0 for an invalid weight or any other parameter.
fn weight(params: &[u8]) -> u16 {
    match trim_ows(params) {
        [] => 1000,
        [b'q' | b'Q', b'=', q @ ..] => qvalue(q).unwrap_or(0),
        _ => 0,
    }
}

/// Picks the coding to send from `accept_encoding` (the header value; pass
/// `b""` when the header is absent, which selects no coding) among the
/// variants present in `available` (a mask of [`Encoding::bit`]s).
///
/// Each coding's weight is its own `q` (the first mention wins; `x-gzip`
/// counts as `gzip`), or else the weight of `*`, or else 0. Weight 0 means
/// "not acceptable" and so does an invalid weight. The highest weight wins;
/// ties go to br, then zstd, then gzip. `identity` needs no variant and is
/// not considered: `None` means "send the file as it is".
pub fn negotiate(accept_encoding: &[u8], available: u8) -> Option<Encoding> {
    /// Not mentioned (a real weight is at most 1000).
    const UNSET: u16 = u16::MAX;
    // Weights of br, zstd, gzip (PREFERENCE order) and `*`.
    let mut weights = [UNSET; 4];
    for element in list(accept_encoding) {
        let (name, params) = split_once(element, b';');
        let name = trim_ows(name);
        // `*` is slot 3; x-gzip (word 4) is gzip.
        let index = match word_index(b"br zstd gzip * x-gzip", b' ', name, true) {
            Some(4) => 2,
            Some(i) => i,
            None => continue,
        };
        if let Some(slot) = weights.get_mut(index) {
            if *slot == UNSET {
                *slot = weight(params);
            }
        }
    }
    let star = weights[3];
    let mut best = None;
    let mut best_weight = 0;
    for (enc, mut w) in PREFERENCE.iter().zip(weights) {
        if w == UNSET {
            w = star;
        }
        if w != UNSET && w > best_weight && available & enc.bit() != 0 {
            best = Some(*enc);
            best_weight = w;
        }
    }
    best
}
