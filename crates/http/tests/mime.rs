//! Content types by extension.

use mote_http::mime::{from_path, table, DEFAULT};

#[test]
fn common_types() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"/index.html", b"text/html; charset=utf-8"),
        (b"/INDEX.HTM", b"text/html; charset=utf-8"),
        (b"/a/style.Css", b"text/css; charset=utf-8"),
        (b"/app.js", b"text/javascript; charset=utf-8"),
        (b"/m.mjs", b"text/javascript; charset=utf-8"),
        (b"/d.json", b"application/json; charset=utf-8"),
        (b"/i.svg", b"image/svg+xml; charset=utf-8"),
        (b"/x.png", b"image/png"),
        (b"/x.JPG", b"image/jpeg"),
        (b"/x.jpeg", b"image/jpeg"),
        (b"/f.woff2", b"font/woff2"),
        (b"/f.woff", b"font/woff"),
        (b"/m.wasm", b"application/wasm"),
        (b"/r.txt", b"text/plain; charset=utf-8"),
        (b"/a.tar.gz", b"application/gzip"),
        (b"/v.webm", b"video/webm"),
        (b"/b.bin", b"application/octet-stream"),
        (b"/c.yml", b"application/yaml; charset=utf-8"),
        (b"/s.7z", b"application/x-7z-compressed"),
    ];
    for (path, want) in cases {
        assert_eq!(
            from_path(path),
            *want,
            "{:?}",
            String::from_utf8_lossy(path)
        );
    }
}

#[test]
fn unknown_and_edge_cases() {
    for path in [
        &b"/"[..],
        b"",
        b"/README",
        b"/.bashrc",
        b"/a.html/",
        b"/a.",
        b"/a.unknownext",
        b"/dir.html/file",
        b"/a.h",
        b"/a.htmlx",
        b"/a.xhtm",
        b"/a. html",
        b"/a.html ",
    ] {
        assert_eq!(
            from_path(path),
            DEFAULT,
            "{:?}",
            String::from_utf8_lossy(path)
        );
    }
    assert_eq!(from_path(b"noslash.css"), b"text/css; charset=utf-8");
}

#[test]
fn trimmed_types_are_octet_stream() {
    // Removed from the table to save bytes in mote-httpd (see docs/CONTRACT-http.md):
    // downloads that browsers save either way, and the obsolete AppCache manifest.
    for ext in
        "doc docx xls xlsx ppt pptx rtf epub jar apk deb rpm dmg iso exe bin manifest appcache"
            .split_whitespace()
    {
        let path = format!("/f.{ext}");
        assert_eq!(from_path(path.as_bytes()), DEFAULT, "{ext}");
    }
}

#[test]
fn table_is_well_formed() {
    let entries: Vec<_> = table().collect();
    assert!(entries.len() >= 60, "only {} types", entries.len());
    for (i, (ext, ty)) in entries.iter().enumerate() {
        assert!(
            !ext.is_empty()
                && ext
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert!(ty.contains(&b'/') && !ty.contains(&b'\n'));
        assert!(
            entries[..i].iter().all(|(e, _)| e != ext),
            "duplicate {ext:?}"
        );
        // Every entry is reachable through from_path.
        let mut path = b"/f.".to_vec();
        path.extend_from_slice(ext);
        assert_eq!(from_path(&path), *ty);
        let text = ty.starts_with(b"text/");
        if text {
            assert!(
                ty.ends_with(b"; charset=utf-8"),
                "{:?}",
                String::from_utf8_lossy(ty)
            );
        }
    }
    let required = "html htm css js mjs json xml txt csv md svg png jpg jpeg gif webp avif ico bmp \
        tif tiff woff woff2 ttf otf eot wasm pdf zip gz tar br zst mp3 mp4 webm ogg oga ogv wav flac \
        m4a mov avi mkv aac opus map webmanifest ics vcf 7z rar atom rss yaml yml toml wat";
    for ext in required.split_whitespace() {
        assert!(
            entries.iter().any(|(e, _)| *e == ext.as_bytes()),
            "missing {ext}"
        );
    }
}

/// mote-httpd recognizes a `charset=utf-8` type (worth precompressing) by its last byte
/// alone: no other type may end in `8`.
#[test]
fn only_utf8_types_end_in_8() {
    for (ext, ty) in table().chain([(&b""[..], DEFAULT)]) {
        assert_eq!(
            ty.last() == Some(&b'8'),
            ty.ends_with(b"; charset=utf-8"),
            "{:?}",
            String::from_utf8_lossy(ext)
        );
    }
}
