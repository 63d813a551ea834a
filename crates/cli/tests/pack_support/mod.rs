//! Helpers shared by the pack/inspect/push integration tests: run the real `mote`,
//! require real tools (failing, never skipping, when one is missing), validate layouts.
#![allow(dead_code)]

pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn mote() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mote"));
    c.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("MOTE_REGISTRY_AUTH");
    // The pushed-blob cache of this test process, not the user's.
    c.env("MOTE_CACHE_DIR", scratch("cache"));
    c
}

/// A directory of this test process under cargo's target/tmp: `<kind>-<pid>`. The test
/// harness has no exit hook to remove it, so the first call sweeps the directories of
/// test processes that are gone (no /proc/<pid>) instead.
pub fn scratch(kind: &str) -> PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    SWEPT.call_once(|| {
        for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("mote-test-").and_then(|r| r.rsplit_once('-'));
            if let Some((_, pid)) = pid {
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    });
    base.join(format!("mote-test-{kind}-{}", std::process::id()))
}

/// Runs a command, panicking with its output if it fails.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Runs a command that must fail; returns its stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed; stderr: {stderr}"
    );
    stderr
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Fails the test with an actionable message when a tool is missing.
pub fn need(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("this test needs `{tool}` (Debian package {package}); install it with `./x deps` or `apt-get install {package}`");
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The OCI image-spec schemas: $MOTE_SHARED or ../shared next to the repository.
pub fn schema_dir() -> PathBuf {
    let shared = match std::env::var_os("MOTE_SHARED") {
        Some(s) => PathBuf::from(s),
        None => repo_root().join("../shared"),
    };
    let dir = shared.join("conformance/oci-image-spec-schema");
    assert!(
        dir.join("image-manifest-schema.json").is_file(),
        "the OCI schemas are missing: expected {} (set MOTE_SHARED to the shared folder)",
        dir.display()
    );
    dir
}

/// Validates a layout directory against the OCI JSON schemas (python3 + jsonschema).
pub fn validate_layout(dir: &Path) -> String {
    need("python3", "python3");
    let check = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "python3 has no jsonschema module: install it with `./x deps` (pip install jsonschema or apt-get install python3-jsonschema)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pack_support/validate_oci.py");
    let out = ok(Command::new("python3")
        .arg(script)
        .arg(schema_dir())
        .arg(dir));
    stdout(&out)
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mote-test-")
        .tempdir()
        .unwrap()
}

/// A static x86-64 executable from Debian's busybox-static.
pub fn static_binary() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    assert!(p.is_file(), "this test needs a static binary: /bin/busybox from Debian package busybox-static (./x deps)");
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    p
}

/// A small static x86-64 executable: the mote-httpd inside `mote`, taken out of a
/// packed image (packing megabytes with zopfli is slow in debug builds). Written
/// once per test process.
pub fn small_static_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let dir = scratch("bin");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("img");
        ok(mote()
            .args(["pack", "--compression", "none", "-o"])
            .arg(&img));
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(img.join("index.json")).unwrap()).unwrap();
        let m = &index["manifests"][0]["digest"].as_str().unwrap()[7..];
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(img.join("blobs/sha256").join(m)).unwrap())
                .unwrap();
        let layer = img
            .join("blobs/sha256")
            .join(&manifest["layers"][0]["digest"].as_str().unwrap()[7..]);
        let bin = ok(Command::new("tar")
            .arg("-xOf")
            .arg(&layer)
            .arg("mote-httpd"))
        .stdout;
        assert_eq!(&bin[..4], b"\x7fELF");
        let p = dir.join("server");
        std::fs::write(&p, bin).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    })
    .clone()
}

/// A copy of `src` with its ELF e_machine set to EM_AARCH64 (183): an ELF the
/// checks read as arm64 (it would not run; the tests only pack it).
pub fn as_arm64(src: &Path, dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(src).unwrap();
    bytes[18] = 183;
    bytes[19] = 0;
    let dst = dir.join(src.file_name().unwrap());
    std::fs::write(&dst, bytes).unwrap();
    std::fs::set_permissions(&dst, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dst
}

/// Every file under `dir`, relative path → bytes, sorted.
pub fn tree_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Names in `dir` (to check that nothing, not even a temporary, was left behind).
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
