//! `mote run REF` against a real registry (Debian's docker-registry on loopback, one
//! per test): the probe packed with `mote pack` for amd64 and arm64 and pushed with
//! `mote push`, then run by reference: the host's platform is picked from the index,
//! blobs are verified, the rootfs cache is used by the second run, and a missing tag,
//! a corrupt blob, missing credentials or an unknown CA fail clearly and leave nothing.
//! Needs root (namespaces), like `mote run` itself.

mod pack_support;
#[path = "probe/mod.rs"]
mod probe;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use pack_support::registry::{Auth, Registry};
use pack_support::{as_arm64, fails, ok, tmp};
use serde_json::Value;

/// The probe packed for amd64 and arm64 (an index of two manifests), once per test
/// process: (layout, amd64 manifest digest, index digest).
fn probe_image() -> &'static (PathBuf, String, String) {
    static IMG: OnceLock<(PathBuf, String, String)> = OnceLock::new();
    IMG.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("run-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("arm")).unwrap();
        let bin = dir.join("probe");
        std::fs::copy(probe::probe_binary(), &bin).unwrap();
        let arm = as_arm64(&bin, &dir.join("arm"));
        let img = dir.join("img");
        // zstd: quick in a debug build, and a second layer format for `mote run`.
        let index_digest = pack_support::stdout(&ok(pack_support::mote()
            .args(["pack", "--compression", "zstd", "--cmd", "report"])
            .arg(&bin)
            .arg(&arm)
            .arg("-o")
            .arg(&img)));
        let index: Value = serde_json::from_slice(&std::fs::read(img.join("index.json")).unwrap()).unwrap();
        let top = &index["manifests"][0];
        assert_eq!(top["digest"], index_digest.as_str());
        let inner: Value =
            serde_json::from_slice(&std::fs::read(img.join("blobs/sha256").join(&index_digest[7..])).unwrap()).unwrap();
        let amd64 = inner["manifests"]
            .as_array()
            .expect("a multi-arch pack makes an index")
            .iter()
            .find(|m| m["platform"]["architecture"] == "amd64")
            .expect("an amd64 manifest")["digest"]
            .as_str()
            .unwrap()
            .to_string();
        (img, amd64, index_digest)
    })
}

/// `mote run` with its own state dir.
fn run(state: &Path, flags: &[&str], image: &str, args: &[&str]) -> Output {
    let mut c = pack_support::mote();
    c.env("MOTE_STATE_DIR", state).arg("run").args(flags).arg(image);
    if !args.is_empty() {
        c.arg("--").args(args);
    }
    c.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn push(reg: &Registry, repo_tag: &str, extra: &[&str]) -> String {
    let (img, _, _) = probe_image();
    ok(pack_support::mote()
        .args(["push", "-q"])
        .args(extra)
        .arg(img)
        .arg(format!("{}/{repo_tag}", reg.host())));
    format!("{}/{repo_tag}", reg.host())
}

/// The names in the rootfs cache (none when it was never made).
fn cache_entries(state: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(state.join("rootfs"))
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The registry's stored files of the layer blobs (the big blobs: both probes).
fn stored_layers(reg: &Registry) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = reg.dir.join("data/docker/registry/v2/blobs/sha256");
    for p in std::fs::read_dir(&root).unwrap() {
        for b in std::fs::read_dir(p.unwrap().path()).unwrap() {
            let data = b.unwrap().path().join("data");
            if std::fs::metadata(&data).map(|m| m.len() > 100_000).unwrap_or(false) {
                out.push(data);
            }
        }
    }
    assert_eq!(out.len(), 2, "expected the two probe layers in the registry: {out:?}");
    out
}

#[test]
fn run_by_reference_pulls_once_then_runs_from_the_cache() {
    let t = tmp();
    let state = t.path().join("state");
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let reference = push(&reg, "mote/probe:1", &["--insecure"]);
    let (_, amd64, _) = probe_image();

    // First run: the index is resolved to the amd64 manifest, which is pulled.
    let out = run(&state, &["--insecure", "--hostname", "pulled"], &reference, &[]);
    let r = probe::parse_report(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r["args"], "/probe report", "the image's Cmd: {r:?}");
    assert_eq!((r["pid"].as_str(), r["uid"].as_str(), r["hostname"].as_str()), ("1", "65532", "pulled"));
    assert_eq!(r["root_write"], "errno30");
    assert_eq!(r["dev_list"], "fd,full,null,random,shm,stderr,stdin,stdout,tty,urandom,zero");
    assert_eq!(r["dev_null_read"], "0 bytes");
    assert!(stderr(&out).contains(&format!("mote: pulled {reference} ({amd64})")), "{}", stderr(&out));
    assert_eq!(cache_entries(&state), vec![amd64[7..].to_string()], "one extracted image, named by the amd64 manifest");

    // Second run: only the manifest is asked for. The layers are gone from the
    // registry's storage, so fetching one would fail.
    for l in stored_layers(&reg) {
        std::fs::remove_file(l).unwrap();
    }
    let out = run(&state, &["--insecure"], &reference, &["exit", "42"]);
    assert_eq!(out.status.code(), Some(42), "{}", stderr(&out));
    assert!(!stderr(&out).contains("pulled"), "the second run pulled again: {}", stderr(&out));
    // The docker:// form, as `mote inspect` takes it, names the same image.
    let out = run(&state, &["--insecure"], &format!("docker://{reference}"), &["exit", "7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // Control: with an empty cache the same run has to fetch the layers, and cannot.
    let fresh = t.path().join("fresh");
    let out = run(&fresh, &["--insecure"], &reference, &["exit", "42"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("layer sha256:"), "{}", stderr(&out));
    assert!(cache_entries(&fresh).is_empty(), "left behind: {:?}", cache_entries(&fresh));
    // A digest reference of an extracted manifest needs no registry at all.
    drop(reg);
    let by_digest = format!("{}@{amd64}", reference.rsplit_once(':').unwrap().0);
    let out = run(&state, &[], &by_digest, &["exit", "5"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(cache_entries(&state), vec![amd64[7..].to_string()]);
}

#[test]
fn a_missing_tag_or_repository_fails_clearly_and_leaves_nothing() {
    let t = tmp();
    let state = t.path().join("state");
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    push(&reg, "mote/probe:1", &["--insecure"]);

    let out = run(&state, &["--insecure"], &format!("{}/mote/probe:nope", reg.host()), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot pull {}/mote/probe:nope", reg.host()))
            && err.contains("manifest mote/probe:nope not found (HTTP 404)")
            && err.contains("repository mote/probe has the tags 1"),
        "{err}"
    );
    let out = run(&state, &["--insecure"], &format!("{}/mote/other", reg.host()), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("mote/other:latest not found (HTTP 404)") && err.contains("no repository mote/other"), "{err}");
    assert!(cache_entries(&state).is_empty(), "left behind: {:?}", cache_entries(&state));

    // Not a registry reference, not a file: the error says which forms exist.
    let out = run(&state, &[], "./no-such-image", &[]);
    assert!(stderr(&out).contains("neither an OCI layout directory nor an oci-archive file, nor a registry reference"), "{}", stderr(&out));
}

#[test]
fn a_corrupt_blob_from_the_registry_is_refused_and_leaves_nothing() {
    let t = tmp();
    let state = t.path().join("state");
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let reference = push(&reg, "mote/probe:1", &["--insecure"]);
    // The registry serves whatever its storage holds: flip a byte of both layers.
    for l in stored_layers(&reg) {
        let mut b = std::fs::read(&l).unwrap();
        let n = b.len() / 2;
        b[n] ^= 0xff;
        std::fs::write(&l, b).unwrap();
    }
    let out = run(&state, &["--insecure"], &reference, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("layer blob") && err.contains("is corrupt: expected digest"), "{err}");
    assert!(out.stdout.is_empty(), "the container ran");
    // The extraction dir is gone, and nothing names the image in the cache.
    assert!(cache_entries(&state).is_empty(), "left behind: {:?}", cache_entries(&state));
}

#[test]
fn credentials_as_for_push_and_inspect() {
    let t = tmp();
    let state = t.path().join("state");
    let reg = Registry::start(
        &t.path().join("reg"),
        Auth::Htpasswd { user: "ci".into(), password: "s3cret".into() },
    );
    let reference = push(&reg, "mote/probe:1", &["--insecure", "--user", "ci:s3cret"]);

    let err = fails(pack_support::mote().env("MOTE_STATE_DIR", &state).args(["run", "--insecure"]).arg(&reference));
    assert!(err.contains("requires a user name and password") && err.contains("--creds USER:PASSWORD"), "{err}");
    assert!(!err.contains("--user"), "--user is the container's user in mote run: {err}");
    let err = fails(pack_support::mote()
        .env("MOTE_STATE_DIR", &state)
        .args(["run", "--insecure", "--creds", "ci:wrong"])
        .arg(&reference));
    assert!(err.contains("rejected the credentials of user \"ci\""), "{err}");
    assert!(cache_entries(&state).is_empty(), "left behind: {:?}", cache_entries(&state));

    let out = run(&state, &["--insecure", "--creds", "ci:s3cret"], &reference, &["exit", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // From the environment, as push and inspect take it (the manifest is fetched
    // again, with auth; the layers come from the cache).
    let out = pack_support::mote()
        .env("MOTE_STATE_DIR", &state)
        .env("MOTE_REGISTRY_AUTH", "ci:s3cret")
        .args(["run", "--insecure"])
        .arg(&reference)
        .args(["--", "exit", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn https_with_a_private_ca() {
    let t = tmp();
    let state = t.path().join("state");
    let reg = Registry::start_tls(&t.path().join("reg"), Auth::None);
    let ca = reg.ca_cert();
    let ca = ca.to_str().unwrap();
    let reference = push(&reg, "mote/probe:tls", &["--ca-cert", ca]);
    let err = fails(pack_support::mote().env("MOTE_STATE_DIR", &state).arg("run").arg(&reference));
    assert!(err.contains("--ca-cert FILE"), "{err}");
    let out = run(&state, &["--ca-cert", ca], &reference, &["exit", "9"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
}
