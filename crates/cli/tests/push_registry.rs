//! `mote push` against a real registry (Debian's docker-registry on loopback):
//! no auth, htpasswd Basic auth, and the bearer-token flow; pulled back with skopeo
//! and compared by digest.

mod pack_support;

use std::process::Command;

use pack_support::registry::{Auth, Registry};
use pack_support::*;
use serde_json::Value;

fn pack(dir: &std::path::Path, extra: &[&str]) -> (std::path::PathBuf, String) {
    let img = dir.join("img");
    let out = ok(mote().args(["pack", "-o"]).arg(&img).args(extra));
    (img, stdout(&out))
}

/// skopeo pulls the image back into a fresh layout; returns the pulled manifest digest.
fn pull_back(
    reg: &Registry,
    repo_tag: &str,
    dest: &std::path::Path,
    creds: Option<&str>,
) -> String {
    need("skopeo", "skopeo");
    let mut c = Command::new("skopeo");
    c.args(["copy", "--all", "--src-tls-verify=false"]);
    if let Some(cr) = creds {
        c.arg("--src-creds").arg(cr);
    }
    ok(c.arg(format!("docker://{}/{repo_tag}", reg.host()))
        .arg(format!("oci:{}:pulled", dest.display())));
    validate_layout(dest);
    let index: Value =
        serde_json::from_slice(&std::fs::read(dest.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn push_without_auth_keeps_digests_and_mounts_across_repositories() {
    let t = tmp();
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let (img, digest) = pack(t.path(), &[]);

    // Two repositories in one go: the second mounts the blobs from the first.
    let out = ok(mote()
        .args(["push", "--insecure"])
        .arg(&img)
        .arg(format!("{}/site:1", reg.host()))
        .arg(format!("{}/other/site:2", reg.host())));
    let lines = stdout(&out);
    assert_eq!(
        lines,
        format!("{0}/site:1@{digest}\n{0}/other/site:2@{digest}", reg.host())
    );
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("layer") && progress.contains("uploaded"),
        "{progress}"
    );
    assert!(
        progress.contains("mounted from site"),
        "the second push must mount: {progress}"
    );

    // A later run remembers where the blobs went and mounts them into a third repository.
    let third = ok(mote()
        .args(["push", "--insecure"])
        .arg(&img)
        .arg(format!("{}/third:1", reg.host())));
    let progress = String::from_utf8_lossy(&third.stderr);
    assert!(
        progress.contains("mounted from other/site") || progress.contains("mounted from site"),
        "{progress}"
    );
    assert!(
        !progress.contains(": uploaded"),
        "nothing should be uploaded again: {progress}"
    );

    // Pushing again finds every blob already there.
    let again = ok(mote()
        .args(["push", "--insecure"])
        .arg(&img)
        .arg(format!("{}/site:1", reg.host())));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already there"));

    assert_eq!(
        pull_back(&reg, "site:1", &t.path().join("back1"), None),
        digest
    );
    assert_eq!(
        pull_back(&reg, "other/site:2", &t.path().join("back2"), None),
        digest
    );
    let ins: Value = serde_json::from_slice(
        &ok(Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{}/site:1", reg.host())))
        .stdout,
    )
    .unwrap();
    assert_eq!(ins["Digest"], digest);

    // mote inspect reads it from the registry, verified, with the same total size.
    let local = stdout(&ok(mote().args(["inspect", "--size"]).arg(&img)));
    let remote = stdout(&ok(mote()
        .args(["inspect", "--size", "--insecure"])
        .arg(format!("docker://{}/site:1", reg.host()))));
    assert_eq!(local, remote);
    let j: Value = serde_json::from_slice(
        &ok(mote()
            .args(["inspect", "--json", "--insecure"])
            .arg(format!("{}/site:1", reg.host())))
        .stdout,
    )
    .unwrap();
    assert_eq!(j["images"][0]["digest"], digest);
    assert_eq!(j["format"], "registry");
}

#[test]
fn chunked_upload_and_multi_arch_index() {
    let t = tmp();
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let armdir = t.path().join("arm");
    std::fs::create_dir(&armdir).unwrap();
    let arm = as_arm64(&small_static_binary(), &armdir);
    let img = t.path().join("img");
    let digest = stdout(&ok(mote()
        .arg("pack")
        .arg(small_static_binary())
        .arg(&arm)
        .arg("-o")
        .arg(&img)));
    let out = ok(mote()
        .args(["push", "--insecure", "--chunked", "--chunk-size", "4096"])
        .arg(&img)
        .arg(format!("{}/box:multi", reg.host())));
    let progress = String::from_utf8_lossy(&out.stderr);
    let most_chunks = progress
        .split("uploaded in ")
        .skip(1)
        .filter_map(|s| s.split(' ').next()?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    assert!(
        most_chunks >= 3,
        "the layers must go up in several PATCH chunks: {progress}"
    );
    let raw: Value = serde_json::from_slice(
        &ok(Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/box:multi", reg.host())))
        .stdout,
    )
    .unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(
        pull_back(&reg, "box:multi", &t.path().join("back"), None),
        digest
    );
    // mote inspect walks the index in the registry.
    let j: Value = serde_json::from_slice(
        &ok(mote()
            .args(["inspect", "--json", "--no-files", "--insecure"])
            .arg(format!("docker://{}/box:multi", reg.host())))
        .stdout,
    )
    .unwrap();
    assert_eq!(j["indexes"][0]["digest"], digest);
    let platforms: Vec<&str> = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, vec!["linux/amd64", "linux/arm64/v8"]);
    // The pulled layout is the same image, blob for blob.
    let ours = tree_bytes(&img.join("blobs"));
    let theirs = tree_bytes(&t.path().join("back/blobs"));
    assert_eq!(ours, theirs);
}

#[test]
fn push_with_htpasswd_basic_auth() {
    let t = tmp();
    let reg = Registry::start(
        &t.path().join("reg"),
        Auth::Htpasswd {
            user: "ada".into(),
            password: "s3cret pass".into(),
        },
    );
    let (img, digest) = pack(t.path(), &[]);
    let target = format!("{}/private/site:1", reg.host());

    let err = fails(mote().args(["push", "--insecure"]).arg(&img).arg(&target));
    assert!(
        err.contains(&format!(
            "registry {} requires a user name and password",
            reg.host()
        )),
        "{err}"
    );
    let err = fails(
        mote()
            .args(["push", "--insecure", "--user", "ada:wrong"])
            .arg(&img)
            .arg(&target),
    );
    assert!(
        err.contains("rejected the credentials of user \"ada\""),
        "{err}"
    );

    let out = ok(mote()
        .args(["push", "--insecure", "--user", "ada:s3cret pass"])
        .arg(&img)
        .arg(&target));
    assert_eq!(stdout(&out), format!("{target}@{digest}"));
    // Credentials from the environment work too (for pack --push and inspect).
    let out = ok(mote()
        .args(["inspect", "--size", "--insecure"])
        .arg(format!("docker://{target}"))
        .env("MOTE_REGISTRY_AUTH", "ada:s3cret pass"));
    assert!(stdout(&out).parse::<u64>().unwrap() > 0);
    assert_eq!(
        pull_back(
            &reg,
            "private/site:1",
            &t.path().join("back"),
            Some("ada:s3cret pass")
        ),
        digest
    );
}

#[test]
fn push_with_bearer_token_flow() {
    let t = tmp();
    let reg = Registry::start(
        &t.path().join("reg"),
        Auth::Token {
            user: "tok".into(),
            password: "pw".into(),
        },
    );
    let (img, digest) = pack(t.path(), &[]);
    let target = format!("{}/tokened/site:1", reg.host());

    let err = fails(
        mote()
            .args(["push", "--insecure", "-q"])
            .arg(&img)
            .arg(&target),
    );
    assert!(
        err.contains("token server")
            && err.contains("wants credentials")
            && err.contains(&reg.host()),
        "{err}"
    );
    let err = fails(
        mote()
            .args(["push", "--insecure", "--user", "tok:nope"])
            .arg(&img)
            .arg(&target),
    );
    assert!(
        err.contains("token server") && err.contains("rejected the credentials of user \"tok\""),
        "{err}"
    );

    let out = ok(mote()
        .args(["push", "--insecure", "--user", "tok:pw"])
        .arg(&img)
        .arg(&target)
        .arg(format!("{}/tokened/copy:1", reg.host())));
    assert_eq!(
        stdout(&out),
        format!("{target}@{digest}\n{}/tokened/copy:1@{digest}", reg.host())
    );
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("mounted from tokened/site"), "{progress}");
    let requests = reg.token_requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(
            |r| r.contains("scope=repository%3Atokened%2Fsite%3Apull%2Cpush")
                && r.ends_with("auth=good")
        ),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.contains("repository%3Atokened%2Fcopy%3Apull%2Cpush")
                && r.contains("repository%3Atokened%2Fsite%3Apull")),
        "the mount needs pull on the source repository: {requests:?}"
    );
    assert_eq!(
        pull_back(
            &reg,
            "tokened/site:1",
            &t.path().join("back"),
            Some("tok:pw")
        ),
        digest
    );
}

#[test]
fn pack_push_in_one_step() {
    let t = tmp();
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let target = format!("{}/packed:now", reg.host());
    let work = t.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let digest = stdout(&ok(mote()
        .args(["pack", "--insecure", "--push"])
        .arg(&target)
        .current_dir(&work)));
    assert!(digest.starts_with("sha256:"));
    assert!(
        names(&work).is_empty(),
        "--push without -o writes no local image: {:?}",
        names(&work)
    );
    assert_eq!(
        pull_back(&reg, "packed:now", &t.path().join("back"), None),
        digest
    );
}

#[test]
fn unreachable_registry_is_named_after_bounded_retries() {
    let t = tmp();
    let (img, _) = pack(t.path(), &[]);
    let port = pack_support::registry::free_port();
    let start = std::time::Instant::now();
    let err = fails(
        mote()
            .args(["push", "--insecure", "-q"])
            .arg(&img)
            .arg(format!("127.0.0.1:{port}/x:1")),
    );
    assert!(
        err.contains(&format!("cannot reach registry 127.0.0.1:{port}"))
            && err.contains("gave up after 5 attempts"),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
}

/// A layout with several tagged entries, as `skopeo copy` into `oci:DIR:TAG` makes
/// it: the blobs of each layout, and one index.json listing every layout's entries.
fn merge_layouts(parts: &[&std::path::Path], dest: &std::path::Path) {
    std::fs::create_dir_all(dest.join("blobs/sha256")).unwrap();
    let mut manifests = Vec::new();
    for p in parts {
        for e in std::fs::read_dir(p.join("blobs/sha256")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dest.join("blobs/sha256").join(e.file_name())).unwrap();
        }
        let index: Value =
            serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap();
        manifests.extend(index["manifests"].as_array().unwrap().iter().cloned());
    }
    std::fs::copy(parts[0].join("oci-layout"), dest.join("oci-layout")).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    std::fs::write(dest.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

fn registry_digest(reg: &Registry, repo_tag: &str) -> String {
    let out = ok(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{}/{repo_tag}", reg.host())));
    stdout(&out)
}

#[test]
fn push_one_tag_of_a_layout_holding_several() {
    need("skopeo", "skopeo");
    let t = tmp();
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let one = t.path().join("one");
    let d_one = stdout(&ok(mote()
        .args(["pack", "-t", "site:one", "--label", "v=1", "-o"])
        .arg(&one)));
    let two = t.path().join("two");
    let d_two = stdout(&ok(mote()
        .args(["pack", "-t", "site:two", "--label", "v=2", "-o"])
        .arg(&two)));
    let armdir = t.path().join("arm");
    std::fs::create_dir(&armdir).unwrap();
    let arm = as_arm64(&small_static_binary(), &armdir);
    let multi = t.path().join("multi");
    let d_multi = stdout(&ok(mote()
        .arg("pack")
        .arg(small_static_binary())
        .arg(&arm)
        .args(["-t", "site:multi", "-o"])
        .arg(&multi)));
    assert!(d_one != d_two && d_two != d_multi);
    let all = t.path().join("all");
    merge_layouts(&[&one, &two, &multi], &all);
    validate_layout(&all);

    // No selector: the tags are listed, nothing is pushed.
    let err = fails(
        mote()
            .args(["push", "--insecure", "-q"])
            .arg(&all)
            .arg(format!("{}/sel:x", reg.host())),
    );
    assert!(
        err.contains("holds 3 tagged images (one, two, multi): choose one as PATH:TAG")
            && err.contains(&format!("{}:one", all.display())),
        "{err}"
    );
    // An unknown tag names the ones there are.
    let err = fails(
        mote()
            .args(["push", "--insecure", "-q"])
            .arg(format!("{}:three", all.display()))
            .arg(format!("{}/sel:x", reg.host())),
    );
    assert!(
        err.contains("has no entry tagged \"three\"; its tags: one, two, multi"),
        "{err}"
    );

    // PATH:TAG pushes that entry: a single image, or the multi-arch index.
    let out = ok(mote()
        .args(["push", "--insecure", "-q"])
        .arg(format!("{}:two", all.display()))
        .arg(format!("{}/sel:2", reg.host())));
    assert_eq!(stdout(&out), format!("{}/sel:2@{d_two}", reg.host()));
    assert_eq!(registry_digest(&reg, "sel:2"), d_two);
    let out = ok(mote()
        .args(["push", "--insecure", "-q"])
        .arg(format!("oci:{}:multi", all.display()))
        .arg(format!("{}/sel:m", reg.host())));
    assert_eq!(stdout(&out), format!("{}/sel:m@{d_multi}", reg.host()));
    assert_eq!(
        pull_back(&reg, "sel:m", &t.path().join("back"), None),
        d_multi
    );
    // inspect reads the same selection.
    let j: Value = serde_json::from_slice(
        &ok(mote()
            .args(["inspect", "--json", "--no-files"])
            .arg(format!("{}:one", all.display())))
        .stdout,
    )
    .unwrap();
    assert_eq!(j["images"].as_array().unwrap().len(), 1);
    assert_eq!(j["images"][0]["digest"], d_one);
    assert_eq!(j["images"][0]["ref_name"], "one");

    // A multi-arch image whose platform manifests sit in index.json itself (no nested
    // index) is pushed as a whole: one index made of them.
    let flat = t.path().join("flat");
    merge_layouts(&[&multi], &flat);
    let nested_hex = d_multi.strip_prefix("sha256:").unwrap();
    let nested: Value = serde_json::from_slice(
        &std::fs::read(multi.join("blobs/sha256").join(nested_hex)).unwrap(),
    )
    .unwrap();
    let mut platform_manifests = nested["manifests"].clone();
    for m in platform_manifests.as_array_mut().unwrap() {
        m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "flat"});
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": platform_manifests});
    std::fs::write(flat.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let out = ok(mote()
        .args(["push", "--insecure", "-q"])
        .arg(&flat)
        .arg(format!("{}/sel:flat", reg.host())));
    let pushed = stdout(&out);
    let d_flat = pushed.rsplit('@').next().unwrap().to_string();
    assert_eq!(registry_digest(&reg, "sel:flat"), d_flat);
    let raw: Value = serde_json::from_slice(
        &ok(Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/sel:flat", reg.host())))
        .stdout,
    )
    .unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(raw["manifests"], nested["manifests"]);
}

/// A TCP proxy in front of the real registry that cuts the connection carrying the
/// Nth PATCH once: after forwarding its head and `body_bytes` bytes of its body.
/// Returns the proxy's port and the request lines it saw.
fn cutting_proxy(
    upstream: u16,
    nth_patch: usize,
    body_bytes: usize,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    let port = pack_support::registry::free_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let patches = Arc::new(Mutex::new(0usize));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            // Answers flow back untouched.
            let (mut s2, mut c2) = (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(Shutdown::Write);
            });
            let (log, patches) = (log2.clone(), patches.clone());
            std::thread::spawn(move || loop {
                // One request: its head byte by byte, then its Content-Length body.
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => {
                            let _ = server.shutdown(Shutdown::Write);
                            return;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let line = text.lines().next().unwrap_or("").to_string();
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let cut = line.starts_with("PATCH ") && {
                    let mut n = patches.lock().unwrap();
                    *n += 1;
                    *n == nth_patch
                };
                log.lock()
                    .unwrap()
                    .push(if cut { format!("{line} (cut)") } else { line });
                if server.write_all(&head).is_err() {
                    return;
                }
                let take = if cut { body_bytes.min(len) } else { len };
                let mut body = vec![0u8; take];
                if client.read_exact(&mut body).is_err() || server.write_all(&body).is_err() {
                    return;
                }
                if cut {
                    // The rest of the body is still unread: closing resets both sides.
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    let _ = server.shutdown(Shutdown::Both);
                    let _ = client.shutdown(Shutdown::Both);
                    return;
                }
            });
        }
    });
    (port, log)
}

/// A chunk lost on the way to the real registry: with no byte of it arrived, the
/// upload resumes where the registry's GET says it stands; with part of it arrived,
/// docker-registry 2.8 drops the session (404 on the GET), so it starts over once.
#[test]
fn chunked_push_through_a_dropped_connection_resumes() {
    need("skopeo", "skopeo");
    let t = tmp();
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let (img, digest) = pack(t.path(), &[]);
    for (case, body_bytes, want) in [
        ("head", 0, "resumed 1x"),
        (
            "half",
            1000,
            "started over once (the registry no longer knows the upload session (GET: HTTP 404",
        ),
    ] {
        let (port, log) = cutting_proxy(reg.port, 3, body_bytes);
        let target = format!("127.0.0.1:{port}/resume-{case}:1");
        let out = ok(mote()
            .args(["push", "--insecure", "--chunked", "--chunk-size", "4096"])
            .arg(&img)
            .arg(&target));
        assert_eq!(stdout(&out), format!("{target}@{digest}"));
        let progress = String::from_utf8_lossy(&out.stderr);
        assert!(progress.contains(want), "{case}: {progress}");
        let log = log.lock().unwrap().clone();
        let cut = log
            .iter()
            .position(|l| l.ends_with("(cut)"))
            .expect("a cut PATCH");
        assert!(
            log[cut + 1].starts_with(&format!("GET /v2/resume-{case}/blobs/uploads/")),
            "{case}: after the cut the client asks the registry what it holds: {log:#?}"
        );
        if case == "head" {
            // The upload goes on in the same session, from the chunk that was lost.
            let session = |l: &str| {
                l.split('?')
                    .next()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            };
            assert_eq!(session(&log[cut]), session(&log[cut + 2]), "{log:#?}");
            assert!(log[cut + 2].starts_with("PATCH "), "{log:#?}");
        }
        // The registry serves the image, every blob verified, and skopeo agrees.
        assert_eq!(
            pull_back(
                &reg,
                &format!("resume-{case}:1"),
                &t.path().join(format!("back-{case}")),
                None
            ),
            digest
        );
        let local = stdout(&ok(mote().args(["inspect", "--size"]).arg(&img)));
        let remote = stdout(&ok(mote()
            .args(["inspect", "--size", "--insecure"])
            .arg(format!("docker://{}/resume-{case}:1", reg.host()))));
        assert_eq!(local, remote);
    }
}
