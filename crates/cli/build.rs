// Embeds mote-httpd into the mote binary, so `mote pack` with no binary named packs
// the server itself.
//
// - MOTE_HTTPD_BIN=PATH (and optionally MOTE_HTTPD_BIN_ARM64=PATH) embed prebuilt
//   binaries;
// - otherwise scripts/build-httpd.sh builds the amd64 server, with its own
//   CARGO_TARGET_DIR under OUT_DIR: the outer cargo holds the lock on the workspace
//   target dir, and a nested build there would wait for it forever.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());

    println!("cargo:rerun-if-env-changed=MOTE_HTTPD_BIN");
    println!("cargo:rerun-if-env-changed=MOTE_HTTPD_BIN_ARM64");
    for p in [
        "crates/httpd/src",
        "crates/httpd/build.rs",
        "crates/httpd/Cargo.toml",
        "crates/http/src",
        "crates/http/Cargo.toml",
        "scripts/build-httpd.sh",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }

    let mut embedded = Vec::new();
    let amd64 = match env::var_os("MOTE_HTTPD_BIN") {
        Some(p) => PathBuf::from(p),
        None => build_httpd(&root, &out, "x86_64-unknown-linux-gnu"),
    };
    embedded.push(("amd64", copy_in(&amd64, &out, "mote-httpd-amd64")));
    if let Some(p) = env::var_os("MOTE_HTTPD_BIN_ARM64") {
        embedded.push(("arm64", copy_in(Path::new(&p), &out, "mote-httpd-arm64")));
    }

    let mut code = String::from(
        "/// The mote-httpd binaries inside this mote, by OCI architecture name.\n\
         pub const EMBEDDED_HTTPD: &[(&str, &[u8])] = &[\n",
    );
    for (arch, path) in &embedded {
        code.push_str(&format!(
            "    ({arch:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    fs::write(out.join("embedded.rs"), code).unwrap();
}

fn copy_in(src: &Path, out: &Path, name: &str) -> PathBuf {
    println!("cargo:rerun-if-changed={}", src.display());
    let dst = out.join(name);
    if let Err(e) = fs::copy(src, &dst) {
        panic!("cannot copy the mote-httpd binary {}: {e}", src.display());
    }
    dst
}

fn build_httpd(root: &Path, out: &Path, target: &str) -> PathBuf {
    let target_dir = out.join("httpd-target");
    let mut cmd = Command::new(root.join("scripts/build-httpd.sh"));
    cmd.arg(target).env("CARGO_TARGET_DIR", &target_dir);
    // Cargo passes the outer build's settings to build scripts; the nested build of a
    // different target must not inherit them (CARGO_ENCODED_RUSTFLAGS would override
    // the script's RUSTFLAGS, and the jobserver belongs to the outer cargo).
    for (k, _) in env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_CFG_")
            || k.starts_with("CARGO_FEATURE_")
            || k.starts_with("CARGO_PKG_")
            || matches!(
                &*k,
                "CARGO_ENCODED_RUSTFLAGS"
                    | "RUSTFLAGS"
                    | "CARGO_MAKEFLAGS"
                    | "MAKEFLAGS"
                    | "MFLAGS"
                    | "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
            )
        {
            cmd.env_remove(&*k);
        }
    }
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run scripts/build-httpd.sh: {e}"),
    };
    if !output.status.success() {
        panic!(
            "scripts/build-httpd.sh {target} failed ({}); set MOTE_HTTPD_BIN=PATH to embed a prebuilt mote-httpd.\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The script prints the binary's path; older versions print it under the
    // workspace target dir even when CARGO_TARGET_DIR is set, so prefer ours.
    let ours = target_dir.join(target).join("release/mote-httpd");
    if ours.is_file() {
        return ours;
    }
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let printed = PathBuf::from(printed.lines().last().unwrap_or(""));
    if printed.is_file() {
        return printed;
    }
    panic!(
        "scripts/build-httpd.sh succeeded but neither {} nor {} exists",
        ours.display(),
        printed.display()
    );
}
