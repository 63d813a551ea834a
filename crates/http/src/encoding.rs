//! Choosing a pre-compressed variant from `Accept-Encoding` (RFC 9110 12.5.3).

use crate::util::{eq_ic, list, trim_ows};

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
        match self {
            Encoding::Br => b"br",
            Encoding::Zstd => b"zstd",
            Encoding::Gzip => b"gzip",
        }
    }

    /// The file-name suffix of the pre-compressed variant.
    pub fn ext(self) -> &'static [u8] {
        match self {
            Encoding::Br => b".br",
            Encoding::Zstd => b".zst",
            Encoding::Gzip => b".gz",
        }
    }

    /// The bit of this coding in `negotiate`'s `available` mask.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Weight of a qvalue in thousandths: `q=1` is 1000, `q=0.5` is 500.
/// `None` for anything not matching RFC 9110 12.4.2
/// (`0[.ddd]` or `1[.000]`), which the caller treats as "not acceptable".
fn qvalue(s: &[u8]) -> Option<u16> {
    let (int, frac) = match s {
        [d, b'.', frac @ ..] => (*d, frac),
        [d] => (*d, &[][..]),
        _ => return None,
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        let d = frac.get(i).map_or(0, |d| d - b'0');
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
    let params = trim_ows(params);
    if params.is_empty() {
        return 1000;
    }
    match params {
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
    // Weights per coding in PREFERENCE order; None = not mentioned.
    let mut weights: [Option<u16>; 3] = [None; 3];
    let mut star: Option<u16> = None;
    for element in list(accept_encoding) {
        let mut parts = element.splitn(2, |&b| b == b';');
        let name = trim_ows(parts.next().unwrap_or(&[]));
        let w = weight(parts.next().unwrap_or(&[]));
        let slot = if eq_ic(name, b"br") {
            weights.get_mut(0)
        } else if eq_ic(name, b"zstd") {
            weights.get_mut(1)
        } else if eq_ic(name, b"gzip") || eq_ic(name, b"x-gzip") {
            weights.get_mut(2)
        } else if name == b"*" {
            Some(&mut star)
        } else {
            None
        };
        if let Some(slot) = slot {
            slot.get_or_insert(w);
        }
    }
    let mut best: Option<(Encoding, u16)> = None;
    for (enc, w) in PREFERENCE.iter().zip(weights) {
        let w = w.or(star).unwrap_or(0);
        if available & enc.bit() != 0 && w > 0 && best.is_none_or(|(_, b)| w > b) {
            best = Some((*enc, w));
        }
    }
    best.map(|(e, _)| e)
}
