//! Serving files: statuses, headers, keep-alive, pipelining, ranges, conditionals,
//! variants, traversal, limits, logs. Real binary, real sockets, raw requests and curl.

mod common;
use common::*;
use std::io::Write;
use std::time::Duration;

fn site() -> TempDir {
    let d = TempDir::new("site");
    d.write("index.html", b"<h1>home</h1>\n");
    d.write("hello.txt", b"hello world\n");
    d.write("data.bin", &pattern(100_000));
    d.write("docs/index.html", b"docs index\n");
    d.write("empty/.keep", b"");
    d.write("app.js", b"console.log('identity');\n");
    d.write("app.js.br", b"BROTLI-BYTES");
    d.write("app.js.gz", b"GZIP-BYTES");
    d.write("style.css", b"body{}\n");
    d.write("style.css.zst", b"ZSTD-BYTES");
    d.write(".secret", b"hidden\n");
    d.write(".git/config", b"hidden\n");
    d.write("zero.txt", b"");
    d
}

#[test]
fn get_head_and_content_headers() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    let r = s.get("/hello.txt", &[]);
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"hello world\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("12"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("etag").unwrap().starts_with('"'));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    assert!(r.header("date").is_some());
    assert_eq!(r.header("connection"), Some("close"));

    let h = s.req("HEAD", "/hello.txt", &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("12"));
    assert_eq!(h.header("etag"), r.header("etag"));
    // HEAD has no body: the raw bytes end right after the head.
    let raw = s.raw(b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(raw.ends_with(b"\r\n\r\n"), "{:?}", String::from_utf8_lossy(&raw));

    let big = s.get("/data.bin", &[]);
    assert_eq!(big.body, pattern(100_000));
    assert_eq!(big.header("content-type"), Some("application/octet-stream"));

    let z = s.get("/zero.txt", &[]);
    assert_eq!((z.status, z.body.len()), (200, 0));
    assert_eq!(z.header("content-length"), Some("0"));
}

#[test]
fn directories_index_redirect_and_no_listing() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    assert_eq!(s.get("/", &[]).body, b"<h1>home</h1>\n");
    let r = s.get("/docs/", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"docs index\n"[..]));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = s.get("/docs?x=1&y=2", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/docs/?x=1&y=2"));
    let r = s.get("/docs", &[]);
    assert_eq!(r.header("location"), Some("/docs/"));
    // A directory without index.html: no listing.
    let r = s.get("/empty/", &[]);
    assert!(r.status == 404 || r.status == 403, "{}", r.head);
    assert!(!String::from_utf8_lossy(&r.body).contains(".keep"));
    // No scheme-relative open redirect from a path starting with //.
    let r = s.get("//docs", &[]);
    if r.status == 301 {
        assert!(!r.header("location").unwrap().starts_with("//"), "{}", r.head);
    }
}

#[test]
fn methods_options_405_501() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    let r = s.req("OPTIONS", "/hello.txt", &[]);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    let r = s.req("OPTIONS", "*", &[]);
    assert_eq!(r.status, 204, "{}", r.head);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    for m in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
        let r = s.req(m, "/hello.txt", &[]);
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    let r = s.req("BREW", "/hello.txt", &[]);
    assert_eq!(r.status, 501);
}

#[test]
fn protocol_errors_400_414_431_505() {
    let d = site();
    let s = Server::start(d.path(), &["--buf-size", "1024"]);
    let st = |raw: &[u8]| parse_response(&s.raw(raw), false).map(|r| r.0.status);
    assert_eq!(st(b"GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n"), Some(505));
    assert_eq!(st(b"GET /hello.txt HTTP/1.1\r\n\r\n"), Some(400), "missing Host");
    assert_eq!(st(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), Some(400));
    assert_eq!(st(b"GET /hello.txt\r\n\r\n"), Some(400));
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(2000));
    assert_eq!(st(long.as_bytes()), Some(414));
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(2000));
    assert_eq!(st(big.as_bytes()), Some(431));
    // After an error the connection is closed with Connection: close.
    let raw = s.raw(b"GET / HTTP/9.9\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let all = parse_all(&raw, false);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].header("connection"), Some("close"));
}

#[test]
fn keep_alive_and_pipelining_in_order() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    let mut c = s.connect();
    // Two sequential requests on one connection.
    for _ in 0..2 {
        c.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while parse_response(&got, false).is_none() {
            let n = std::io::Read::read(&mut c, &mut b).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&b[..n]);
        }
        let (r, _) = parse_response(&got, false).unwrap();
        assert_eq!(r.body, b"hello world\n");
        assert_eq!(r.header("connection"), None);
    }
    // Pipelined: many requests in one write, responses strictly in order.
    let mut batch = Vec::new();
    let paths = ["/hello.txt", "/", "/nope", "/docs/", "/data.bin", "/hello.txt"];
    for (i, p) in paths.iter().enumerate() {
        let m = if i == 3 { "HEAD" } else { "GET" };
        batch.extend_from_slice(format!("{m} {p} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    c.write_all(&batch).unwrap();
    let raw = read_to_close(&mut c);
    let mut rest = &raw[..];
    let mut got = Vec::new();
    for i in 0..7 {
        let (r, n) = parse_response(rest, i == 3).expect("response");
        got.push((r.status, r.body.len()));
        rest = &rest[n..];
    }
    assert!(rest.is_empty());
    assert_eq!(got, vec![(200, 12), (200, 14), (404, 14), (200, 0), (200, 100_000), (200, 12), (200, 12)]);
}

#[test]
fn http10_with_and_without_keep_alive() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    // Without keep-alive: the server closes after the response.
    let raw = s.raw(b"GET /hello.txt HTTP/1.0\r\n\r\n");
    let (r, n) = parse_response(&raw, false).unwrap();
    assert_eq!((r.status, n), (200, raw.len()));
    assert_eq!(r.body, b"hello world\n");
    // With keep-alive: two responses on one connection, the second closes.
    let raw = s.raw(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    let all = parse_all(&raw, false);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].header("connection"), Some("keep-alive"));
    assert_eq!(all[1].body, b"<h1>home</h1>\n");
}

#[test]
fn ranges_206_416_and_if_range() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    let r = s.get("/data.bin", &["Range: bytes=10-19"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &pattern(100_000)[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100000"));
    let r = s.get("/data.bin", &["Range: bytes=-5"]);
    assert_eq!((r.status, r.body.as_slice()), (206, &pattern(100_000)[99_995..]));
    let r = s.get("/data.bin", &["Range: bytes=99990-"]);
    assert_eq!(r.body.len(), 10);
    let r = s.get("/data.bin", &["Range: bytes=200000-"]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */100000"));
    let etag = s.get("/data.bin", &[]).header("etag").unwrap().to_string();
    let r = s.get("/data.bin", &["Range: bytes=0-9", &format!("If-Range: {etag}")]);
    assert_eq!((r.status, r.body.len()), (206, 10));
    let r = s.get("/data.bin", &["Range: bytes=0-9", "If-Range: \"other\""]);
    assert_eq!((r.status, r.body.len()), (200, 100_000));
    // curl agrees.
    let out = curl().args(["-r", "5-9", &format!("http://127.0.0.1:{}/hello.txt", s.port)]).output().unwrap();
    assert_eq!(out.stdout, b" worl");
}

#[test]
fn conditionals_304_412() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    let r = s.get("/hello.txt", &[]);
    let etag = r.header("etag").unwrap().to_string();
    let lm = r.header("last-modified").unwrap().to_string();
    let r = s.get("/hello.txt", &[&format!("If-None-Match: {etag}")]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = s.get("/hello.txt", &[&format!("If-Modified-Since: {lm}")]);
    assert_eq!(r.status, 304);
    let r = s.get("/hello.txt", &["If-None-Match: \"nope\""]);
    assert_eq!(r.status, 200);
    let r = s.get("/hello.txt", &["If-Match: \"nope\""]);
    assert_eq!(r.status, 412);
    let r = s.get("/hello.txt", &[&format!("If-Match: {etag}")]);
    assert_eq!(r.status, 200);
    let r = s.get("/hello.txt", &["If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT"]);
    assert_eq!(r.status, 412);
    // A 304 on a keep-alive connection has no body: the next response follows directly.
    let raw = s.raw(format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let all = parse_all(&raw, false);
    assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), vec![304, 200]);
}

#[test]
fn etag_same_on_replicas_and_changes_with_content() {
    let a = TempDir::new("replica-a");
    let b = TempDir::new("replica-b");
    let mut data = pattern(50_000);
    let mtime = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for d in [&a, &b] {
        let p = d.write("f.bin", &data);
        std::fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    }
    // Replica b: different inode, same content and mtime.
    let sa = Server::start(a.path(), &[]);
    let sb = Server::start(b.path(), &[]);
    let ta = sa.get("/f.bin", &[]).header("etag").unwrap().to_string();
    let tb = sb.get("/f.bin", &[]).header("etag").unwrap().to_string();
    assert_eq!(ta, tb);
    // One byte changed (in the last 4 KiB), same size and mtime: a different tag.
    data[49_000] ^= 1;
    let p = b.write("f.bin", &data);
    std::fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    let tb2 = sb.get("/f.bin", &[]).header("etag").unwrap().to_string();
    assert_ne!(ta, tb2);
    // A byte changed in the first 4 KiB of a small file as well.
    for (d, byte) in [(&a, b'x'), (&b, b'y')] {
        let p = d.write("s.txt", &[b'a', byte, b'c']);
        std::fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    }
    assert_ne!(sa.get("/s.txt", &[]).header("etag"), sb.get("/s.txt", &[]).header("etag"));
}

#[test]
fn precompressed_variants() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    let r = s.get("/app.js", &["Accept-Encoding: gzip, br"]);
    assert_eq!(r.body, b"BROTLI-BYTES");
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8").or(r.header("content-type")));
    let br_tag = r.header("etag").unwrap().to_string();
    let r = s.get("/app.js", &["Accept-Encoding: gzip"]);
    assert_eq!((r.body.as_slice(), r.header("content-encoding")), (&b"GZIP-BYTES"[..], Some("gzip")));
    let gz_tag = r.header("etag").unwrap().to_string();
    let r = s.get("/app.js", &["Accept-Encoding: br;q=0, gzip;q=0"]);
    assert_eq!(r.body, b"console.log('identity');\n");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let id_tag = r.header("etag").unwrap().to_string();
    let r = s.get("/app.js", &[]);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(br_tag != gz_tag && gz_tag != id_tag && br_tag != id_tag);
    // zstd only exists for style.css; a br preference falls back to what exists.
    let r = s.get("/style.css", &["Accept-Encoding: br, zstd"]);
    assert_eq!((r.body.as_slice(), r.header("content-encoding")), (&b"ZSTD-BYTES"[..], Some("zstd")));
    // Conditional on the variant's tag.
    let r = s.get("/app.js", &["Accept-Encoding: br", &format!("If-None-Match: {br_tag}")]);
    assert_eq!(r.status, 304);
}

#[test]
fn traversal_attempts_are_refused() {
    let d = site();
    let outside = TempDir::new("outside");
    outside.write("secret.txt", b"TOP SECRET\n");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.path().join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../..".to_string() + outside.path().join("secret.txt").to_str().unwrap(), d.path().join("rel-link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), d.path().join("dir-link")).unwrap();
    std::os::unix::fs::symlink("hello.txt", d.path().join("inside-link")).unwrap();
    let s = Server::start(d.path(), &[]);
    let rel = outside.path().strip_prefix("/").unwrap().to_str().unwrap().to_string();
    let attempts = [
        format!("/../../../../../../{rel}/secret.txt"),
        format!("/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{rel}/secret.txt"),
        format!("/%252e%252e/%252e%252e/{rel}/secret.txt"),
        format!("/..%2f..%2f..%2f..%2f{rel}/secret.txt"),
        format!("/..\\..\\..\\..\\{rel}\\secret.txt"),
        format!("/%5c..%5c..%5c{rel}/secret.txt"),
        "/hello.txt%00.html".to_string(),
        "/abs-link".to_string(),
        "/rel-link".to_string(),
        "/dir-link/secret.txt".to_string(),
        "/.secret".to_string(),
        "/.git/config".to_string(),
        "/docs/../.secret".to_string(),
        "/%2esecret".to_string(),
    ];
    for a in &attempts {
        let raw = s.raw(format!("GET {a} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains("TOP SECRET") && !text.contains("hidden"), "{a} leaked: {text}");
        let st = parse_response(&raw, false).map(|r| r.0.status).unwrap_or(0);
        assert!(st >= 400, "{a} -> {st}");
    }
    // A symlink that stays inside the root is fine.
    assert_eq!(s.get("/inside-link", &[]).body, b"hello world\n");
    // With --hidden, dot files are served.
    let s2 = Server::start(d.path(), &["--hidden"]);
    assert_eq!(s2.get("/.secret", &[]).body, b"hidden\n");
    // Unreadable file: 403.
    let p = d.write("locked.txt", b"locked");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0)).unwrap();
    let s3 = Server::start(d.path(), &["--uid", "65534", "--gid", "65534"]);
    assert_eq!(s3.get("/locked.txt", &[]).status, 403);
}

#[test]
fn request_bodies_skipped_or_413() {
    let d = site();
    let s = Server::start(d.path(), &["--max-body", "1000"]);
    // A body within the limit is discarded and the connection stays usable.
    let raw = s.raw(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let all = parse_all(&raw, false);
    assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), vec![405, 200]);
    let raw = s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let all = parse_all(&raw, false);
    assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), vec![200, 200]);
    // Too large by Content-Length: 413 and close.
    let raw = s.raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    let all = parse_all(&raw, false);
    assert_eq!(all[0].status, 413);
    assert_eq!(all[0].header("connection"), Some("close"));
    // Too large as chunks: 413.
    let mut c = s.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    for _ in 0..3 {
        let _ = c.write_all(format!("200\r\n{}\r\n", "z".repeat(512)).as_bytes());
    }
    let raw = read_to_close(&mut c);
    assert_eq!(parse_response(&raw, false).unwrap().0.status, 413);
    // curl with a body and Expect: 100-continue gets its answer.
    let out = curl()
        .args(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect: 100-continue", "--data-binary", "@-"])
        .arg(format!("http://127.0.0.1:{}/hello.txt", s.port))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            ch.stdin.take().unwrap().write_all(&[b'q'; 500])?;
            ch.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "405");
}

#[test]
fn health_spa_and_extra_headers() {
    let d = site();
    let s = Server::start(d.path(), &["--spa", "--header", "X-Frame-Options: DENY", "--header=Cache-Control: max-age=60"]);
    let r = s.get("/healthz", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok\n"[..]));
    let r = s.get("/some/client/route", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<h1>home</h1>\n"[..]));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    assert_eq!(s.get("/missing.png", &[]).status, 404, "asset paths with an extension are not rewritten");
    assert_eq!(s.get("/nope", &[]).header("x-frame-options"), Some("DENY"));
    // Custom health path, and the env var form of a flag.
    let mut cmd = std::process::Command::new(bin());
    let port = free_port();
    cmd.args(["--root", d.path().to_str().unwrap()])
        .env("MOTE_LISTEN", format!("127.0.0.1:{port}"))
        .env("MOTE_HEALTH", "/ready")
        .env("MOTE_HEADER", "X-A: 1\nX-B: 2");
    let s2 = Server::spawn(cmd, port);
    let r = s2.get("/ready", &[]);
    assert_eq!((r.status, r.header("x-a"), r.header("x-b")), (200, Some("1"), Some("2")));
    assert_eq!(s2.get("/healthz", &[]).status, 404);
}

#[test]
fn access_log_clf_and_json() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    s.get("/hello.txt", &[]);
    s.raw(b"GET /a\"b HTTP/1.0\r\n\r\n");
    s.raw(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n");
    s.raw(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let log = s.stdout();
    let lines: Vec<&str> = log.lines().filter(|l| !l.contains("/healthz")).collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(lines[2].ends_with("\"POST /up HTTP/1.1\" 413 22"), "{}", lines[2]);
    assert!(lines[3].ends_with("] \"-\" 400 16"), "{}", lines[3]);
    let re_ok = lines[0].starts_with("127.0.0.1 - - [")
        && lines[0].ends_with("] \"GET /hello.txt HTTP/1.1\" 200 12")
        && lines[0].contains(" +0000]");
    assert!(re_ok, "{}", lines[0]);
    // [26/Nov/2026:17:00:00 +0000]
    let ts = &lines[0][lines[0].find('[').unwrap() + 1..lines[0].find(']').unwrap()];
    assert_eq!(ts.len(), 26, "{ts}");
    assert_eq!((&ts[2..3], &ts[6..7], &ts[11..12]), ("/", "/", ":"));
    assert!(lines[1].contains("\"GET /a\\x22b HTTP/1.0\" 404"), "{}", lines[1]);

    let j = Server::start(d.path(), &["--log", "json"]);
    j.get("/data.bin", &["Range: bytes=0-99"]);
    std::thread::sleep(Duration::from_millis(200));
    let log = j.stdout();
    let line = log.lines().find(|l| l.contains("data.bin")).expect("json line");
    assert!(line.starts_with("{\"time\":\"20") && line.ends_with('}'), "{line}");
    for part in ["\"remote\":\"127.0.0.1\"", "\"method\":\"GET\"", "\"target\":\"/data.bin\"", "\"protocol\":\"HTTP/1.1\"", "\"status\":206", "\"bytes\":100"] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    let off = Server::start(d.path(), &["--log", "off"]);
    off.get("/hello.txt", &[]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(off.stdout(), "");
}

#[test]
fn curl_downloads_and_ipv6() {
    let d = site();
    let s = Server::start(d.path(), &[]);
    let out = curl().arg(format!("http://127.0.0.1:{}/data.bin", s.port)).arg(format!("http://127.0.0.1:{}/hello.txt", s.port)).output().unwrap();
    assert!(out.status.success());
    let mut want = pattern(100_000);
    want.extend_from_slice(b"hello world\n");
    assert_eq!(out.stdout, want, "two downloads over one reused connection");
    // IPv6 listener ([::] is dual-stack: IPv4 clients are logged as plain IPv4).
    assert!(std::net::TcpListener::bind("[::1]:0").is_ok(), "this test needs the IPv6 loopback ::1");
    {
        let port = free_port();
        let mut cmd = std::process::Command::new(bin());
        cmd.args(["--listen", &format!("[::]:{port}"), "--root", d.path().to_str().unwrap()]);
        let s6 = Server::spawn(cmd, port);
        let out = curl().arg("-g").arg(format!("http://[::1]:{port}/hello.txt")).output().unwrap();
        assert_eq!(out.stdout, b"hello world\n");
        std::thread::sleep(Duration::from_millis(150));
        assert!(s6.stdout().contains("::1 - - ["), "{}", s6.stdout());
    }
}

/// Without openat2 (ENOSYS, as on Linux < 5.6; simulated with a seccomp filter) the
/// server walks the path with openat(O_NOFOLLOW): files and indexes still work, every
/// symlink and every escape is refused.
#[test]
fn openat2_enosys_fallback() {
    use std::os::unix::process::CommandExt;
    let d = site();
    let outside = TempDir::new("outside2");
    outside.write("secret.txt", b"TOP SECRET\n");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.path().join("abs-link")).unwrap();
    std::os::unix::fs::symlink("hello.txt", d.path().join("inside-link")).unwrap();
    std::os::unix::fs::symlink("docs", d.path().join("docs-link")).unwrap();
    let port = free_port();
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap()]);
    // SAFETY: prctl is async-signal-safe; the filter only makes openat2 fail with ENOSYS.
    unsafe {
        cmd.pre_exec(|| {
            const NR_OPENAT2: u32 = 437;
            let mut f = [
                libc::sock_filter { code: 0x20, jt: 0, jf: 0, k: 0 }, // ld [nr]
                libc::sock_filter { code: 0x15, jt: 0, jf: 1, k: NR_OPENAT2 }, // jeq
                libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: 0x0005_0000 | libc::ENOSYS as u32 },
                libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: 0x7fff_0000 }, // allow
            ];
            let prog = libc::sock_fprog { len: f.len() as u16, filter: f.as_mut_ptr() };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, 2, &prog as *const _ as libc::c_ulong, 0, 0) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let s = Server::spawn(cmd, port);
    assert_eq!(s.get("/hello.txt", &[]).body, b"hello world\n");
    assert_eq!(s.get("/", &[]).body, b"<h1>home</h1>\n");
    assert_eq!(s.get("/docs/", &[]).body, b"docs index\n");
    assert_eq!(s.get("/docs", &[]).status, 301);
    assert_eq!(s.get("/app.js", &["Accept-Encoding: br"]).body, b"BROTLI-BYTES");
    for p in ["/abs-link", "/inside-link", "/docs-link/index.html", "/nope/x"] {
        let r = s.get(p, &[]);
        assert_eq!(r.status, 404, "{p}");
    }
    assert_eq!(s.get("/../../../../etc/passwd", &[]).status, 400);
}

/// Small bodies are read into the output buffer behind the head and go out with it; a
/// body one byte too big for that goes by sendfile. Sizes around the boundary (measured
/// from the real head length), with GET, HEAD and ranges, pipelined on one keep-alive
/// connection: every body byte for byte, in order, and the log's byte counts.
#[test]
fn small_bodies_inline_and_boundary() {
    let d = TempDir::new("small");
    d.write("probe.bin", &pattern(2500));
    let s = Server::start(d.path(), &[]);
    let mut c = s.connect();
    let read_n = |c: &mut std::net::TcpStream, n: usize, head_only: &[bool]| -> Vec<(Response, usize)> {
        let mut got = Vec::new();
        let mut b = [0u8; 65536];
        loop {
            let mut rest = &got[..];
            let mut v = Vec::new();
            for &h in head_only.iter().take(n) {
                match parse_response(rest, h) {
                    Some((r, k)) => {
                        rest = &rest[k..];
                        v.push((r, k));
                    }
                    None => break,
                }
            }
            if v.len() == n {
                assert!(rest.is_empty(), "extra bytes after {n} responses");
                return v;
            }
            let k = std::io::Read::read(c, &mut b).unwrap();
            assert!(k > 0, "closed early");
            got.extend_from_slice(&b[..k]);
        }
    };
    // The keep-alive head of a 4-digit-length .bin file; the output buffer is 3 KiB.
    c.write_all(b"HEAD /probe.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let head = read_n(&mut c, 1, &[true])[0].1;
    let fits = 3072 - head;
    assert!((1000..3000).contains(&fits), "{head}");
    let sizes = [0, 1, 1000, fits, fits + 1, 100_000];
    for n in sizes {
        d.write(&format!("s{n}.bin"), &pattern(n));
    }
    // (request, head only, status, body)
    let mut plan: Vec<(String, bool, u16, Vec<u8>)> = Vec::new();
    for n in sizes {
        let p = pattern(n);
        let get = format!("GET /s{n}.bin HTTP/1.1\r\nHost: x\r\n");
        plan.push((format!("{get}\r\n"), false, 200, p.clone()));
        plan.push((format!("HEAD /s{n}.bin HTTP/1.1\r\nHost: x\r\n\r\n"), true, 200, Vec::new()));
        if n >= 6 {
            plan.push((format!("{get}Range: bytes=2-4\r\n\r\n"), false, 206, p[2..5].to_vec()));
            plan.push((format!("{get}Range: bytes=1-\r\n\r\n"), false, 206, p[1..].to_vec()));
            plan.push((format!("{get}Range: bytes=-1\r\n\r\n"), false, 206, p[n - 1..].to_vec()));
            plan.push((format!("{get}Range: bytes=200000-\r\n\r\n"), false, 416, b"416 Range Not Satisfiable\n".to_vec()));
        } else if n == 1 {
            plan.push((format!("{get}Range: bytes=0-0\r\n\r\n"), false, 206, p.clone()));
        } else {
            // An empty file has no satisfiable range: mote-http serves it whole (200).
            plan.push((format!("{get}Range: bytes=0-\r\n\r\n"), false, 200, Vec::new()));
            plan.push((format!("{get}Range: bytes=5-\r\n\r\n"), false, 200, Vec::new()));
        }
        plan.push((format!("{get}\r\n"), false, 200, p));
    }
    // Twice: all in one write (pipelined), then each waiting for its answer.
    let batch: String = plan.iter().map(|p| p.0.as_str()).collect();
    let ho: Vec<bool> = plan.iter().map(|p| p.1).collect();
    c.write_all(batch.as_bytes()).unwrap();
    let rs = read_n(&mut c, plan.len(), &ho);
    for (i, ((r, _), (req, _, st, body))) in rs.iter().zip(&plan).enumerate() {
        assert_eq!(r.status, *st, "#{i} {req}");
        assert!(r.body == *body, "#{i} {req}: body differs ({} vs {} bytes)", r.body.len(), body.len());
    }
    for (req, h, st, body) in &plan {
        c.write_all(req.as_bytes()).unwrap();
        let (r, _) = read_n(&mut c, 1, &[*h]).pop().unwrap();
        assert_eq!((r.status, &r.body), (*st, body), "{req}");
    }
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    let log = s.stdout();
    for n in [1, 1000, fits, fits + 1] {
        assert!(log.contains(&format!("\"GET /s{n}.bin HTTP/1.1\" 200 {n}\n")), "{n}: {log}");
        assert!(log.contains(&format!("\"HEAD /s{n}.bin HTTP/1.1\" 200 -\n")), "{n}: {log}");
    }
    assert!(log.contains(&format!("\"GET /s{fits}.bin HTTP/1.1\" 206 3\n")), "{log}");
}
