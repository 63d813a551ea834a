//! Range header decisions for single byte ranges.

use mote_http::range::{decide, RangeDecision};
use RangeDecision::{Full, Partial, Unsatisfiable};

#[test]
fn decisions() {
    let p = |start, end| Partial { start, end };
    let cases: &[(&[u8], u64, RangeDecision)] = &[
        (b"bytes=0-99", 1000, p(0, 99)),
        (b"bytes=0-0", 1000, p(0, 0)),
        (b"bytes=100-", 1000, p(100, 999)),
        (b"bytes=-100", 1000, p(900, 999)),
        (b"bytes=-1", 1000, p(999, 999)),
        (b"bytes=-1000", 1000, p(0, 999)),
        (b"bytes=-5000", 1000, p(0, 999)),
        (b"bytes=500-5000", 1000, p(500, 999)),
        (b"bytes=999-999", 1000, p(999, 999)),
        (b"bytes=0-18446744073709551615", 10, p(0, 9)),
        (b"bytes=0-99999999999999999999999", 10, p(0, 9)),
        (b"bytes=-99999999999999999999999", 10, p(0, 9)),
        (b"Bytes=1-2", 10, p(1, 2)),
        (b"BYTES=1-2", 10, p(1, 2)),
        (b" bytes=1-2 ", 10, p(1, 2)),
        (b"bytes = 1-2", 10, p(1, 2)),
        (b"bytes= 1-2 ,", 10, p(1, 2)),
        (b"bytes=,1-2", 10, p(1, 2)),
        // Unsatisfiable.
        (b"bytes=1000-", 1000, Unsatisfiable),
        (b"bytes=1000-2000", 1000, Unsatisfiable),
        (b"bytes=99999999999999999999999-", 1000, Unsatisfiable),
        (b"bytes=-0", 1000, Unsatisfiable),
        (b"bytes=-000", 1000, Unsatisfiable),
        // Ignored: syntax errors, other units, several ranges.
        (b"bytes=5-4", 1000, Full),
        (b"bytes=abc", 1000, Full),
        (b"bytes=-", 1000, Full),
        (b"bytes=1-2-3", 1000, Full),
        (b"bytes=1 -2", 1000, Full),
        (b"bytes=+1-2", 1000, Full),
        (b"bytes=0x1-2", 1000, Full),
        (b"bytes=", 1000, Full),
        (b"bytes", 1000, Full),
        (b"bytes 0-1", 1000, Full),
        (b"", 1000, Full),
        (b"=0-1", 1000, Full),
        (b"items=0-1", 1000, Full),
        (b"bytesx=0-1", 1000, Full),
        (b"bytes=0-1,2-3", 1000, Full),
        (b"bytes=0-1, 5-", 1000, Full),
        (b"bytes=0-1,x", 1000, Full),
        // Empty representation: always the (empty) full response.
        (b"bytes=0-0", 0, Full),
        (b"bytes=-5", 0, Full),
        (b"bytes=0-", 0, Full),
        (b"bytes=-0", 0, Full),
    ];
    for (value, len, want) in cases {
        assert_eq!(
            decide(value, *len),
            *want,
            "{:?} len {len}",
            String::from_utf8_lossy(value)
        );
    }
}
