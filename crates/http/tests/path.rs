//! Path normalization: decoding, dot segments, and every refusal.

use mote_http::path::{has_hidden_segment, normalize, PathError};

fn norm(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = vec![0u8; raw.len()];
    normalize(raw, &mut out).map(|p| p.to_vec())
}

#[test]
fn normalizes() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"/", b"/"),
        (b"/a", b"/a"),
        (b"/a/", b"/a/"),
        (b"/a/b/c.txt", b"/a/b/c.txt"),
        (b"//a///b//", b"/a/b/"),
        (b"/./a/./b/.", b"/a/b/"),
        (b"/a/b/..", b"/a/"),
        (b"/a/b/../", b"/a/"),
        (b"/a/b/../c", b"/a/c"),
        (b"/a/../b/../c", b"/c"),
        (b"/a/..", b"/"),
        (b"/a/b/../../c", b"/c"),
        (b"/a/.../b", b"/a/.../b"),
        (b"/a/..b/c", b"/a/..b/c"),
        (b"/a/b../c", b"/a/b../c"),
        (b"/.hidden", b"/.hidden"),
        (b"/%61%62%63", b"/abc"),
        (b"/a%20b", b"/a b"),
        (b"/%2e/a", b"/a"),
        (b"/a/%2e%2e/b", b"/b"),
        (b"/a/%2E%2e", b"/"),
        (b"/a/.%2e/b", b"/b"),
        (b"/%3f%23%25", b"/?#%"),
        (b"/caf%C3%A9", "/caf\u{e9}".as_bytes()),
        (b"/caf\xc3\xa9", "/caf\u{e9}".as_bytes()),
        (b"/%ff", b"/\xff"),
    ];
    for (raw, want) in cases {
        assert_eq!(
            norm(raw).as_deref(),
            Ok(*want),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn refuses() {
    let cases: &[(&[u8], PathError)] = &[
        (b"", PathError::Forbidden),
        (b"a/b", PathError::Forbidden),
        (b"*", PathError::Forbidden),
        (b"/a%2fb", PathError::Forbidden),
        (b"/a%2Fb", PathError::Forbidden),
        (b"/a\\b", PathError::Forbidden),
        (b"/a%5cb", PathError::Forbidden),
        (b"/a%5C..%5Cb", PathError::Forbidden),
        (b"/a%00b", PathError::Forbidden),
        (b"/a\x00b", PathError::Forbidden),
        (b"/a%0d%0ab", PathError::Forbidden),
        (b"/a%09", PathError::Forbidden),
        (b"/a%1f", PathError::Forbidden),
        (b"/a%7f", PathError::Forbidden),
        (b"/a\x7f", PathError::Forbidden),
        (b"/%", PathError::BadEncoding),
        (b"/%4", PathError::BadEncoding),
        (b"/%4g", PathError::BadEncoding),
        (b"/%g4", PathError::BadEncoding),
        (b"/a%%41", PathError::BadEncoding),
        (b"/%+1", PathError::BadEncoding),
        (b"/..", PathError::Escapes),
        (b"/../", PathError::Escapes),
        (b"/../etc/passwd", PathError::Escapes),
        (b"/a/../..", PathError::Escapes),
        (b"/a/../../b", PathError::Escapes),
        (b"/./..", PathError::Escapes),
        (b"//..", PathError::Escapes),
        (b"/%2e%2e/etc", PathError::Escapes),
        (b"/a/%2e%2e/%2E%2E/x", PathError::Escapes),
    ];
    for (raw, want) in cases {
        assert_eq!(norm(raw), Err(*want), "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn output_buffer_bounds() {
    let mut empty = [];
    assert_eq!(normalize(b"/", &mut empty), Err(PathError::TooLong));
    let mut small = [0u8; 3];
    assert_eq!(normalize(b"/abc", &mut small), Err(PathError::TooLong));
    assert_eq!(normalize(b"/a/", &mut small), Ok(&b"/a/"[..]));
    // Decoding shrinks, so an output as long as the decoded result suffices.
    assert_eq!(normalize(b"/%61%62", &mut small), Ok(&b"/ab"[..]));
    // Dot segments are decoded before they are removed, so they need room too;
    // raw.len() is always enough.
    assert_eq!(normalize(b"/a/b/../c", &mut [0u8; 9]), Ok(&b"/a/c"[..]));
    assert_eq!(
        normalize(b"/a/b/../c", &mut [0u8; 5]),
        Err(PathError::TooLong)
    );
}

#[test]
fn hidden_segments() {
    assert!(has_hidden_segment(b"/.git/config"));
    assert!(has_hidden_segment(b"/a/.env"));
    assert!(has_hidden_segment(b"/a/b/.htaccess"));
    assert!(has_hidden_segment(b".x"));
    assert!(!has_hidden_segment(b"/"));
    assert!(!has_hidden_segment(b"/a.b/c.d"));
    assert!(!has_hidden_segment(b"/a/b./c"));
    assert!(!has_hidden_segment(b""));
}
