//! BodySkipper: Content-Length and chunked bodies, fed whole and byte by byte.

use mote_http::body::{MAX_CHUNK_LINE, MAX_TRAILER_LEN};
use mote_http::{Body, BodySkipper};

/// Feeds `input` in pieces of `step` bytes; returns (consumed, done) or the
/// error status.
fn skip(body: Body, input: &[u8], step: usize) -> Result<(usize, bool), u16> {
    let mut s = BodySkipper::new(body);
    let mut used = 0;
    for piece in input.chunks(step.max(1)) {
        let (n, done) = s.feed(piece).map_err(|e| e.status)?;
        assert!(n <= piece.len());
        used += n;
        if done {
            assert!(s.is_done());
            return Ok((used, true));
        }
        assert_eq!(n, piece.len(), "an unfinished body consumes all input");
    }
    Ok((used, false))
}

fn every_step(body: Body, input: &[u8]) -> Result<(usize, bool), u16> {
    let whole = skip(body, input, input.len());
    for step in 1..input.len() {
        assert_eq!(skip(body, input, step), whole, "step {step}");
    }
    whole
}

#[test]
fn length_bodies() {
    assert_eq!(every_step(Body::Length(5), b"helloGET"), Ok((5, true)));
    assert_eq!(every_step(Body::Length(5), b"hel"), Ok((3, false)));
    let mut s = BodySkipper::new(Body::Length(0));
    assert_eq!(s.feed(b""), Ok((0, true)));
    let mut s = BodySkipper::new(Body::Length(0));
    assert_eq!(s.feed(b"GET"), Ok((0, true)));
    let mut s = BodySkipper::new(Body::None);
    assert_eq!(s.feed(b"GET"), Ok((0, true)));
    let mut s = BodySkipper::new(Body::Length(u64::MAX));
    assert_eq!(s.feed(&[0; 1000]), Ok((1000, false)));
}

#[test]
fn chunked_bodies() {
    let ok: &[(&[u8], usize)] = &[
        (b"0\r\n\r\n", 5),
        (b"5\r\nhello\r\n0\r\n\r\nNEXT", 15),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 26),
        (b"A\r\n0123456789\r\n0\r\n\r\n", 20),
        (b"a\r\n0123456789\r\n0\r\n\r\n", 20),
        (b"0005\r\nhello\r\n000\r\n\r\n", 20),
        (b"5;ext=1\r\nhello\r\n0;last\r\n\r\n", 26),
        (b"5 ; ext = \"q\"\r\nhello\r\n0\r\n\r\n", 27),
        (b"5\t;e\r\nhello\r\n0\r\n\r\n", 18),
        (b"1;a;b=c;d = e ;f=\"q\\\"x\\\\\" ;g\r\nx\r\n0\r\n\r\n", 38),
        (b"1;a=\"\"\r\nx\r\n0\r\n\r\n", 16),
        (b"1 ; a\t=\t\"\t\xff\"\r\nx\r\n0\r\n\r\n", 22),
        (b"0\r\nTrailer: x\r\nOther: y\r\n\r\n", 27),
        (b"0\r\nX:\r\n\r\n", 9),
    ];
    for (input, used) in ok {
        assert_eq!(
            every_step(Body::Chunked, input),
            Ok((*used, true)),
            "{:?}",
            input
        );
    }
}

#[test]
fn chunked_incomplete() {
    let whole = b"5\r\nhello\r\n0\r\nT: x\r\n\r\n";
    for cut in 0..whole.len() {
        assert_eq!(
            skip(Body::Chunked, &whole[..cut], 1),
            Ok((cut, false)),
            "cut {cut}"
        );
    }
}

#[test]
fn chunked_rejections() {
    let bad: &[&[u8]] = &[
        b"\r\n",                     // no size
        b";x\r\n",                   // extension without size
        b" 5\r\nhello\r\n0\r\n\r\n", // leading whitespace
        b"g\r\n",                    // not hex
        b"-1\r\n",
        b"0x5\r\nhello\r\n",
        b"5\nhello\r\n0\r\n\r\n",    // bare LF after size
        b"5\rhello",                 // bare CR after size
        b"5 x\r\nhello\r\n",         // junk after size
        b"5 \r\nhello\r\n",          // BWS not followed by a chunk extension
        b"5\r\nhelloX\r\n0\r\n\r\n", // data longer than size
        b"5\r\nhello\n0\r\n\r\n",    // bare LF after data
        b"5\r\nhello\r0\r\n\r\n",
        b"5;a\x00\r\nhello\r\n",     // NUL in extension
        b"5;\r\nhello\r\n0\r\n\r\n", // extension without a name
        b"5; \r\nhello\r\n",         // extension name missing after BWS
        b"5;=x\r\nhello\r\n",
        b"5;a=\r\nhello\r\n",         // missing value
        b"5;a=b c\r\nhello\r\n",      // junk after a value
        b"5;a b\r\nhello\r\n",        // junk after a name
        b"5;a=\"x\r\nhello\r\n",      // unterminated quoted-string
        b"5;a=\"x\"y\r\nhello\r\n",   // junk after a quoted-string
        b"5;a=\"\x01\"\r\nhello\r\n", // control in quoted-string
        b"5;a(b\r\nhello\r\n",        // non-token name
        b"5;a=b\"c\r\nhello\r\n",
        b"5;a\nb\r\n",                   // bare LF in extension
        b"0\r\nX: y\n\r\n",              // bare LF ending trailer
        b"0\r\nX: a\x01\r\n\r\n",        // control in trailer
        b"0\r\n\n",                      // bare LF final
        b"0\r\n\rX",                     // bare CR final
        b"0\r\nX: y\r\n folded\r\n\r\n", // obs-fold in trailer
        b"10000000000000000\r\n",        // 2^64: overflow
        b"fffffffffffffffff\r\n",
    ];
    for input in bad {
        for step in 1..=input.len() {
            assert_eq!(
                skip(Body::Chunked, input, step),
                Err(400),
                "{:?} step {step}",
                input
            );
        }
    }
    // The largest size that fits is accepted.
    assert_eq!(
        skip(Body::Chunked, b"ffffffffffffffff\r\nab", 100),
        Ok((20, false))
    );
}

#[test]
fn errors_are_final() {
    let mut s = BodySkipper::new(Body::Chunked);
    assert!(s.feed(b"z").is_err());
    assert!(s.feed(b"0\r\n\r\n").is_err());
    assert!(s.feed(b"").is_err());
}

#[test]
fn line_limits() {
    let mut line = b"5;".to_vec();
    line.resize(MAX_CHUNK_LINE as usize - 1, b'x');
    line.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    assert_eq!(skip(Body::Chunked, &line, 7), Ok((line.len(), true)));
    let mut long = b"5;".to_vec();
    long.resize(MAX_CHUNK_LINE as usize, b'x');
    long.extend_from_slice(b"\r\n");
    assert_eq!(skip(Body::Chunked, &long, 7), Err(400));
    let mut zeros = vec![b'0'; MAX_CHUNK_LINE as usize + 1];
    zeros.extend_from_slice(b"\r\n");
    assert_eq!(skip(Body::Chunked, &zeros, 3), Err(400));

    let mut trailer = b"0\r\n".to_vec();
    while trailer.len() < 3 + MAX_TRAILER_LEN as usize {
        trailer.extend_from_slice(b"X: yyyyyyy\r\n");
    }
    trailer.extend_from_slice(b"\r\n");
    assert_eq!(skip(Body::Chunked, &trailer, 100), Err(400));
}
