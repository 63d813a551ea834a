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
