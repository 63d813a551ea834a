//! Accept-Encoding negotiation among pre-compressed variants.

use mote_http::encoding::{negotiate, Encoding};
use Encoding::{Br, Gzip, Zstd};

const ALL: u8 = 0b111;

fn mask(encs: &[Encoding]) -> u8 {
    encs.iter().fold(0, |m, e| m | e.bit())
}

#[test]
fn tokens_and_exts() {
    assert_eq!(
        (Br.token(), Br.ext(), Br.bit()),
        (&b"br"[..], &b".br"[..], 1)
    );
    assert_eq!(
        (Zstd.token(), Zstd.ext(), Zstd.bit()),
        (&b"zstd"[..], &b".zst"[..], 2)
    );
    assert_eq!(
        (Gzip.token(), Gzip.ext(), Gzip.bit()),
        (&b"gzip"[..], &b".gz"[..], 4)
    );
}

#[test]
fn negotiation() {
    let cases: &[(&[u8], u8, Option<Encoding>)] = &[
        (b"", ALL, None),
        (b"identity", ALL, None),
        (b"gzip, deflate, br, zstd", ALL, Some(Br)),
        (b"gzip, deflate, br, zstd", mask(&[Zstd, Gzip]), Some(Zstd)),
        (b"gzip, deflate, br, zstd", mask(&[Gzip]), Some(Gzip)),
        (b"gzip, deflate, br, zstd", 0, None),
        (b"gzip, deflate", mask(&[Br]), None),
        (b"GZIP", ALL, Some(Gzip)),
        (b"x-gzip", ALL, Some(Gzip)),
        (b"X-Gzip;q=0.5, br;q=0.4", ALL, Some(Gzip)),
        (b"br;q=0.5, gzip;q=0.8", ALL, Some(Gzip)),
        (b"br;q=0.5, gzip;q=0.8", mask(&[Br]), Some(Br)),
        (b"br;q=1.0, gzip;q=1", ALL, Some(Br)),
        (b"gzip;q=1.000, zstd;q=0.999", ALL, Some(Gzip)),
        (b"br ; q=0.9 , gzip", ALL, Some(Gzip)),
        (b"br;Q=0.9, gzip;q=0.8", ALL, Some(Br)),
        // q=0 excludes, in every spelling.
        (b"br;q=0, gzip", ALL, Some(Gzip)),
        (b"br;q=0.0, gzip;q=0.000", ALL, None),
        (b"br;q=0., gzip", ALL, Some(Gzip)),
        // Invalid q: the coding is not acceptable.
        (b"br;q=2, gzip;q=0.1", ALL, Some(Gzip)),
        (b"br;q=1.001, gzip;q=0.1", ALL, Some(Gzip)),
        (b"br;q=0.0001, gzip;q=0.1", ALL, Some(Gzip)),
        (b"br;q=-1, gzip;q=0.1", ALL, Some(Gzip)),
        (b"br;q=, gzip;q=0.1", ALL, Some(Gzip)),
        (b"br;q=.5, gzip;q=0.1", ALL, Some(Gzip)),
        (b"br;level=5, gzip;q=0.1", ALL, Some(Gzip)),
        (b"br;q=0.5;x=1, gzip;q=0.1", ALL, Some(Gzip)),
        // `*` covers codings not listed.
        (b"*", ALL, Some(Br)),
        (b"*;q=0.5, gzip", ALL, Some(Gzip)),
        (b"*;q=0.5, gzip;q=0.4", ALL, Some(Br)),
        (b"*, br;q=0", ALL, Some(Zstd)),
        (b"*;q=0", ALL, None),
        (b"*;q=0, gzip", ALL, Some(Gzip)),
        (b"gzip;q=0, *", ALL, Some(Br)),
        (b"gzip;q=0, *", mask(&[Gzip]), None),
        // First mention wins.
        (b"gzip;q=0, gzip", ALL, None),
        (b"gzip, x-gzip;q=0", ALL, Some(Gzip)),
        // Whitespace and empty elements.
        (b" ,  br  ,, ", ALL, Some(Br)),
        (b"brotli, gz, zst", ALL, None),
    ];
    for (value, avail, want) in cases {
        assert_eq!(
            negotiate(value, *avail),
            *want,
            "{:?} {avail:#b}",
            String::from_utf8_lossy(value)
        );
    }
}
