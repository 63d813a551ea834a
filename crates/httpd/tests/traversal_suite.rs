//! Path traversal over raw sockets: encoded and double-encoded dot segments, encoded
//! slashes and backslashes, NUL, overlong UTF-8, symlinks (absolute, relative, to the
//! parent, a symlinked directory) leaving the root, hidden files. A secret planted next
//! to the root must never appear in any response, whatever the status.

mod common;
mod support_abuse;
use common::*;
use std::os::unix::fs::symlink;
use std::time::Duration;
use support_abuse::*;

const SECRET: &str = "OUTSIDE-ROOT-SECRET-5d1e";

/// <base>/outside/secret.txt, <base>/secret.txt and <base>/root/... with hostile links.
struct Tree {
    base: TempDir,
}

impl Tree {
    fn new() -> Tree {
        let base = TempDir::new("trav");
        base.write("outside/secret.txt", SECRET.as_bytes());
        base.write("secret.txt", SECRET.as_bytes());
        base.write("root/index.html", b"home\n");
        base.write("root/a.txt", b"aaa\n");
        base.write("root/sub/f.txt", b"sub file\n");
        base.write("root/.git/config", b"[core] git-config\n");
        base.write("root/.env", b"ENV=dotenv\n");
        base.write("root/sub/.hidden", b"hidden-in-sub\n");
        // A directory literally named "%2e%2e": only a single decode reaches it.
        base.write("root/%2e%2e/once.txt", b"decoded once\n");
        let r = base.path().join("root");
        let out = base.path().join("outside");
        symlink(out.join("secret.txt"), r.join("abs-link")).unwrap();
        symlink("../outside/secret.txt", r.join("rel-link")).unwrap();
        symlink("../secret.txt", r.join("sub-parent-link")).unwrap();
        symlink("../../secret.txt", r.join("sub/up2-link")).unwrap();
        symlink("..", r.join("parent-link")).unwrap();
        symlink(".", r.join("self-link")).unwrap();
        symlink(&out, r.join("dir-abs-link")).unwrap();
        symlink("../outside", r.join("dir-rel-link")).unwrap();
        symlink("/", r.join("fs-root-link")).unwrap();
        symlink("/proc/self/root", r.join("magic-link")).unwrap();
        symlink("/proc/self/cwd", r.join("cwd-link")).unwrap();
        symlink("loop-b", r.join("loop-a")).unwrap();
        symlink("loop-a", r.join("loop-b")).unwrap();
        // Links that stay inside the root are served.
        symlink("../a.txt", r.join("sub/in-link")).unwrap();
        symlink(r.join("a.txt"), r.join("abs-in-link")).unwrap(); // absolute: refused (404)
        Tree { base }
    }
    fn root(&self) -> std::path::PathBuf {
        self.base.path().join("root")
    }
}

fn fetch(s: &Server, target: &str) -> (Option<Response>, Vec<u8>) {
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (raw, _) = exchange(s.port, req.as_bytes(), Duration::from_secs(5));
    (parse_response(&raw, false).map(|r| r.0), raw)
}

fn no_secret(target: &str, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    assert!(!text.contains(SECRET), "{target} leaked the secret: {text:?}");
}

/// Every way up and out: never 2xx/3xx, never the secret, the server lives on.
#[test]
fn escapes_are_refused() {
    let t = Tree::new();
    let mut s = Server::start(&t.root(), &["--log", "off"]);
    let outside_abs = t.base.path().join("outside/secret.txt");
    let abs = outside_abs.to_str().unwrap().trim_start_matches('/').to_string();
    let ups = "../".repeat(12);
    let mut attempts: Vec<String> = vec![
        "/../secret.txt".into(),
        "/../outside/secret.txt".into(),
        format!("/{ups}{abs}"),
        "/%2e%2e/secret.txt".into(),
        "/%2E%2E/secret.txt".into(),
        "/.%2e/secret.txt".into(),
        "/%2e./secret.txt".into(),
        "/sub/../../secret.txt".into(),
        "/sub/%2e%2e/%2e%2e/secret.txt".into(),
        format!("/{}{abs}", "%2e%2e/".repeat(12)),
        "/%252e%252e/secret.txt".into(),
        "/%252e%252e/%252e%252e/outside/secret.txt".into(),
        "/%25252e%25252e/secret.txt".into(),
        "/..%2fsecret.txt".into(),
        "/..%2Fsecret.txt".into(),
        "/%2e%2e%2fsecret.txt".into(),
        "/sub%2f..%2f..%2fsecret.txt".into(),
        "/%2f".into(),
        "/%2fetc%2fpasswd".into(),
        format!("/%2f{}", abs.replace('/', "%2f")),
        "/..\\secret.txt".into(),
        "/sub\\..\\..\\secret.txt".into(),
        "/%5c..%5csecret.txt".into(),
        "/..%5csecret.txt".into(),
        "/%5C..%5Csecret.txt".into(),
        "/a.txt%00".into(),
        "/%00../secret.txt".into(),
        "/..%00/secret.txt".into(),
        "/%c0%ae%c0%ae/secret.txt".into(),
        "/%c0%ae%c0%ae%c0%afsecret.txt".into(),
        "/%e0%80%ae%e0%80%ae/secret.txt".into(),
        "/%c1%9c..%c1%9csecret.txt".into(),
        "/..%c0%afsecret.txt".into(),
        "/%u002e%u002e/secret.txt".into(),
        "/abs-link".into(),
        "/rel-link".into(),
        "/sub-parent-link".into(),
        "/sub/up2-link".into(),
        "/parent-link/secret.txt".into(),
        "/parent-link/outside/secret.txt".into(),
        "/parent-link/root/a.txt".into(),
        "/self-link/parent-link/secret.txt".into(),
        "/dir-abs-link/secret.txt".into(),
        "/dir-rel-link/secret.txt".into(),
        "/dir-rel-link/".into(),
        format!("/fs-root-link/{abs}"),
        "/fs-root-link/etc/passwd".into(),
        format!("/magic-link/{abs}"),
        "/cwd-link/secret.txt".into(),
        "/loop-a".into(),
        "/abs-in-link".into(),
        "http://x/../secret.txt".into(),
        "http://x/%2e%2e/secret.txt".into(),
        "*".into(),
        "secret.txt".into(),
        "../secret.txt".into(),
        "/.git/config".into(),
        "/.git/".into(),
        "/.git".into(),
        "/.env".into(),
        "/%2eenv".into(),
        "/%2Egit/config".into(),
        "/sub/.hidden".into(),
        "/sub/%2ehidden".into(),
        "/sub/../.env".into(),
        "/./.env".into(),
        "//.env".into(),
        "/.env/".into(),
        "/.env%00".into(),
        "/.env?x".into(),
    ];
    // Every path again as absolute-form.
    let n = attempts.len();
    for i in 0..n {
        if attempts[i].starts_with('/') {
            attempts.push(format!("http://host{}", attempts[i]));
        }
    }
    let mut statuses = std::collections::BTreeMap::new();
    for a in &attempts {
        let (r, raw) = fetch(&s, a);
        no_secret(a, &raw);
        let st = r.map(|r| r.status).unwrap_or(0);
        assert!(st == 0 || st >= 400, "{a} -> {st}: {:?}", String::from_utf8_lossy(&raw));
        assert!(!String::from_utf8_lossy(&raw).contains("git-config") && !String::from_utf8_lossy(&raw).contains("dotenv"), "{a}");
        *statuses.entry(st).or_insert(0) += 1;
        // The same target pipelined in a keep-alive connection, then a good request.
        let req = format!("GET {a} HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (raw, _) = exchange(s.port, req.as_bytes(), Duration::from_secs(5));
        no_secret(a, &raw);
    }
    assert_alive(&mut s);
    eprintln!("{} traversal attempts refused; statuses {statuses:?}", attempts.len());
    assert_eq!(s.get("/a.txt", &[]).body, b"aaa\n");
}

#[test]
fn hidden_files_are_404_without_hidden_flag() {
    let t = Tree::new();
    let s = Server::start(&t.root(), &["--log", "off"]);
    for a in ["/.git/config", "/.git/", "/.git", "/.env", "/%2eenv", "/%2Egit/config", "/sub/.hidden", "/sub/%2ehidden", "/sub/../.env", "/./.env", "//.env", "/.env?x", "http://h/.env"] {
        let (r, raw) = fetch(&s, a);
        assert_eq!(r.map(|r| r.status), Some(404), "{a}: {:?}", String::from_utf8_lossy(&raw));
    }
}

#[test]
fn double_encoding_is_decoded_once_and_inside_links_work() {
    let t = Tree::new();
    let s = Server::start(&t.root(), &["--log", "off"]);
    // "%252e%252e" decodes once to the literal name "%2e%2e" (a real directory here),
    // never twice to "..".
    let (r, raw) = fetch(&s, "/%252e%252e/once.txt");
    no_secret("double", &raw);
    assert_eq!(r.map(|r| (r.status, r.body)), Some((200, b"decoded once\n".to_vec())));
    // Harmless dot segments and encodings inside the root resolve normally.
    for (p, body) in [
        ("/sub/../a.txt", &b"aaa\n"[..]),
        ("/sub/%2e%2e/a.txt", b"aaa\n"),
        ("/./a.txt", b"aaa\n"),
        ("/%2e/a.txt", b"aaa\n"),
        ("//a.txt", b"aaa\n"),
        ("/%61.txt", b"aaa\n"),
        ("/sub/in-link", b"aaa\n"),
        ("/self-link/a.txt", b"aaa\n"),
        ("/sub/f.txt", b"sub file\n"),
    ] {
        let (r, raw) = fetch(&s, p);
        assert_eq!(r.map(|r| (r.status, r.body)), Some((200, body.to_vec())), "{p}: {:?}", String::from_utf8_lossy(&raw));
    }
}

#[test]
fn hidden_files_only_with_hidden_flag_and_still_no_escape() {
    let t = Tree::new();
    let s = Server::start(&t.root(), &["--log", "off", "--hidden"]);
    assert_eq!(s.get("/.git/config", &[]).body, b"[core] git-config\n");
    assert_eq!(s.get("/.env", &[]).body, b"ENV=dotenv\n");
    assert_eq!(s.get("/sub/.hidden", &[]).body, b"hidden-in-sub\n");
    // --hidden does not open any way out.
    for a in ["/../secret.txt", "/%2e%2e/secret.txt", "/rel-link", "/abs-link", "/parent-link/secret.txt", "/dir-rel-link/secret.txt", "/.%2e/secret.txt"] {
        let (r, raw) = fetch(&s, a);
        no_secret(a, &raw);
        assert!(r.map(|r| r.status).unwrap_or(0) >= 400 || raw.is_empty(), "{a}");
    }
}

#[test]
fn random_traversal_mixes_never_leak() {
    // Random concatenations of dangerous pieces; the secret must never come back.
    let t = Tree::new();
    let mut s = Server::start(&t.root(), &["--log", "off"]);
    let pieces = [
        "..", "%2e%2e", "%2e", ".", "%252e", "/", "%2f", "%2F", "\\", "%5c", "%00", "%c0%ae", "%c0%af", "secret.txt",
        "outside", "parent-link", "dir-rel-link", "dir-abs-link", "self-link", "sub", "rel-link", ";", "%3b", "?", "#",
        "%", "%%", "%2", "~", "%ff", "\u{00e9}",
    ];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..600 {
        let mut p = String::from("/");
        for _ in 0..1 + rnd() % 10 {
            p.push_str(pieces[(rnd() % pieces.len() as u64) as usize]);
            if rnd() % 2 == 0 {
                p.push('/');
            }
        }
        p.push_str("secret.txt");
        let (_, raw) = fetch(&s, &p);
        no_secret(&p, &raw);
    }
    assert_alive(&mut s);
}
