//! The open-file cache (crates/httpd/src/files.rs `Cache`): a regular file stays open for
//! up to a second and is revalidated with fstat on every use. Real binary, real files:
//! writes in place are served at once, a file renamed over or removed is seen within
//! about a second, eviction and variants never mix up contents, and no descriptor leaks.

mod common;
use common::*;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Sleeps past the server's current monotonic second (entries live within one second).
fn next_second() {
    std::thread::sleep(Duration::from_millis(1100));
}

fn body(s: &Server, path: &str, headers: &[&str]) -> (u16, Vec<u8>) {
    let r = s.get(path, headers);
    if let Some(cl) = r.header("content-length") {
        assert_eq!(cl.parse::<usize>().unwrap(), r.body.len(), "{path}: Content-Length and body disagree");
    }
    (r.status, r.body)
}

#[test]
fn writes_in_place_are_served_at_once() {
    let d = TempDir::new("fc-inplace");
    let p = d.write("a.txt", b"version one\n");
    let mtime = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let s = Server::start(d.path(), &[]);
    assert_eq!(body(&s, "/a.txt", &[]), (200, b"version one\n".to_vec()));
    assert_eq!(body(&s, "/a.txt", &[]), (200, b"version one\n".to_vec()), "a cache hit");
    let tag1 = s.get("/a.txt", &[]).header("etag").unwrap().to_string();
    // Same inode, same size, mtime put back: only the content and the ctime change. (A
    // kernel with coarse timestamps could give two writes within one tick (~4 ms) the
    // same ctime; the pause keeps this test about the cache, not about that.)
    std::thread::sleep(Duration::from_millis(10));
    std::fs::write(&p, b"version TWO\n").unwrap();
    std::fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    assert_eq!(body(&s, "/a.txt", &[]), (200, b"version TWO\n".to_vec()));
    assert_ne!(s.get("/a.txt", &[]).header("etag").unwrap(), tag1);
    // Shorter and longer, in place.
    std::thread::sleep(Duration::from_millis(10));
    std::fs::write(&p, b"v3\n").unwrap();
    assert_eq!(body(&s, "/a.txt", &[]), (200, b"v3\n".to_vec()));
    std::thread::sleep(Duration::from_millis(10));
    let long = pattern(3000);
    std::fs::write(&p, &long).unwrap();
    assert_eq!(body(&s, "/a.txt", &[]), (200, long));
}

#[test]
fn renamed_over_or_removed_is_seen_within_a_second() {
    let d = TempDir::new("fc-rename");
    d.write("a.txt", b"old content\n");
    let s = Server::start(d.path(), &[]);
    assert_eq!(body(&s, "/a.txt", &[]), (200, b"old content\n".to_vec()));
    // A deploy that renames a new file over the old one.
    let tmp = d.write("a.txt.tmp", b"new content, longer\n");
    std::fs::rename(&tmp, d.path().join("a.txt")).unwrap();
    // Within the second either version may come, but always whole and consistent.
    let (st, b) = body(&s, "/a.txt", &[]);
    assert_eq!(st, 200);
    assert!(b == b"old content\n" || b == b"new content, longer\n", "{:?}", String::from_utf8_lossy(&b));
    next_second();
    assert_eq!(body(&s, "/a.txt", &[]), (200, b"new content, longer\n".to_vec()));
    std::fs::remove_file(d.path().join("a.txt")).unwrap();
    next_second();
    assert_eq!(body(&s, "/a.txt", &[]).0, 404);
}

#[test]
fn many_files_and_variants_never_mix_up() {
    let d = TempDir::new("fc-many");
    // More files than cache entries, with equal lengths and endings (the same cache
    // slot), variants beside some, and a large file that goes out with sendfile.
    let n = 40;
    for i in 0..n {
        d.write(&format!("f{i:02}.txt"), format!("file number {i:02}\n").as_bytes());
        d.write(&format!("d{i:02}/index.html"), format!("<p>{i}</p>\n").as_bytes());
    }
    d.write("app.js", b"identity js\n");
    d.write("app.js.br", b"BROTLI");
    d.write("app.js.gz", b"GZIP");
    let big = pattern(300_000);
    d.write("big.bin", &big);
    let s = Server::start(d.path(), &[]);
    let t0 = Instant::now();
    for round in 0..3 {
        for i in (0..n).map(|k| (k * 7 + round) % n) {
            assert_eq!(body(&s, &format!("/f{i:02}.txt"), &[]), (200, format!("file number {i:02}\n").into_bytes()));
            assert_eq!(body(&s, &format!("/d{i:02}/"), &[]), (200, format!("<p>{i}</p>\n").into_bytes()));
            let (enc, want): (&str, &[u8]) = match i % 3 {
                0 => ("br", b"BROTLI"),
                1 => ("gzip", b"GZIP"),
                _ => ("identity", b"identity js\n"),
            };
            let r = s.get("/app.js", &[&format!("Accept-Encoding: {enc}")]);
            assert_eq!(r.body, want, "app.js with {enc}");
            if i % 10 == 0 {
                assert_eq!(body(&s, "/big.bin", &[]), (200, big.clone()));
                let r = s.get("/big.bin", &["Range: bytes=1000-1009"]);
                assert_eq!((r.status, &r.body[..]), (206, &big[1000..1010]));
                let h = s.req("HEAD", &format!("/f{i:02}.txt"), &[]);
                assert_eq!((h.status, h.body.len()), (200, 0));
                let r = s.get(&format!("/f{i:02}.txt"), &["Range: bytes=5000-"]);
                assert_eq!(r.status, 416);
                let tag = s.get(&format!("/f{i:02}.txt"), &[]).header("etag").unwrap().to_string();
                assert_eq!(s.get(&format!("/f{i:02}.txt"), &[&format!("If-None-Match: {tag}")]).status, 304);
            }
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(60));
}

#[test]
fn no_descriptor_leak() {
    let d = TempDir::new("fc-fds");
    for i in 0..30 {
        d.write(&format!("f{i}.txt"), format!("{i}\n").as_bytes());
    }
    d.write("big.bin", &pattern(200_000));
    d.write("v.css", b"body{}\n");
    d.write("v.css.gz", b"GZ");
    let s = Server::start(d.path(), &[]);
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", s.pid())).unwrap().count();
    // After start: stdio, root, listener, signalfd, epoll.
    let base = fds();
    for round in 0..4 {
        for i in 0..30 {
            s.get(&format!("/f{i}.txt"), &[]);
        }
        s.get("/big.bin", &[]);
        s.get("/v.css", &["Accept-Encoding: gzip"]);
        s.get("/v.css", &[]);
        s.get("/missing", &[]);
        s.get("/f1.txt", &["Range: bytes=99-"]);
        if round == 1 {
            next_second();
        }
    }
    // At most the 8 cache entries stay open (connections are closed by then).
    std::thread::sleep(Duration::from_millis(100));
    let now = fds();
    assert!(now <= base + 8, "{now} descriptors open, {base} after start: a leak");
}

#[test]
fn idle_server_closes_cached_files() {
    let d = TempDir::new("fc-idle");
    d.write("a.txt", b"a\n");
    d.write("big.bin", &pattern(100_000));
    let s = Server::start(d.path(), &[]);
    let open_files = || {
        std::fs::read_dir(format!("/proc/{}/fd", s.pid()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
            .filter(|t| t.starts_with(d.path()) && t != d.path())
            .map(|t| t.display().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(s.get("/a.txt", &[]).status, 200);
    // A HEAD of a large file leaves it cached too (no sendfile took it out).
    assert_eq!(s.req("HEAD", "/big.bin", &[]).status, 200);
    assert!(open_files().iter().any(|f| f.ends_with("big.bin")), "big.bin cached: {:?}", open_files());
    std::fs::remove_file(d.path().join("big.bin")).unwrap();
    // No more requests: within about two seconds the server closes them by itself, so a
    // removed file's space is not held while it sits idle.
    let t0 = Instant::now();
    while !open_files().is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(open_files(), Vec::<String>::new(), "after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_millis(2500), "took {:?}", t0.elapsed());
}
