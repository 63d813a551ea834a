//! Helpers shared by the run_* and serve_* tests: build the probe program, pack it
//! (and other files) into OCI image layouts by hand, run mote.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub const MOTE: &str = env!("CARGO_BIN_EXE_mote");

/// Builds probe.rs as a static binary, once per test process.
pub fn probe_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.rs");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("probe-{}", std::process::id()));
        let st = Command::new("rustc")
            .args(["--edition", "2021", "-C", "opt-level=2", "-C", "panic=abort", "-C", "strip=symbols"])
            .args(["-C", "target-feature=+crt-static", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("cannot run rustc to build the probe");
        assert!(st.success(), "building the probe failed");
        out
    })
    .clone()
}

/// One entry of a layer.
pub enum Entry {
    Dir(&'static str, u32),
    File(String, Vec<u8>, u32),
    Symlink(&'static str, &'static str),
}

fn tar_layer(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Entry::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).unwrap();
            }
            Entry::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let h = hex(bytes);
    std::fs::write(dir.join("blobs/sha256").join(&h), bytes).unwrap();
    format!("sha256:{h}")
}

/// Writes an OCI image layout at `dir` with gzip layers and the given config
/// (`config` is the "config" object of the image config).
pub fn write_layout(dir: &Path, layers: &[Vec<Entry>], config: serde_json::Value) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let tar = tar_layer(l);
        diff_ids.push(format!("sha256:{}", hex(&tar)));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let d = put_blob(dir, &gz);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()}));
    }
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let cfg = serde_json::to_vec(&cfg).unwrap();
    let cd = put_blob(dir, &cfg);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
        "layers": descs,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let md = put_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The probe image: /bin/probe, empty /proc and /tmp, user 65532, cmd `report`.
pub fn probe_layers() -> Vec<Entry> {
    let bin = std::fs::read(probe_binary()).unwrap();
    vec![
        Entry::Dir("bin", 0o755),
        Entry::File("bin/probe".into(), bin, 0o755),
        Entry::Dir("proc", 0o555),
        Entry::Dir("tmp", 0o1777),
    ]
}

pub fn probe_config() -> serde_json::Value {
    serde_json::json!({
        "User": "65532:65532",
        "Env": ["PATH=/bin", "PROBE=1"],
        "Entrypoint": ["/bin/probe"],
        "Cmd": ["report"],
        "WorkingDir": "/",
    })
}

/// A fresh temp dir with the probe image at `<tmp>/image` and a private state dir.
pub struct World {
    pub tmp: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let w = World { tmp: tempfile::tempdir().unwrap() };
        write_layout(&w.image(), &[probe_layers()], probe_config());
        w
    }

    pub fn image(&self) -> PathBuf {
        self.tmp.path().join("image")
    }

    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    /// `mote ARGS` with this world's state dir.
    pub fn mote(&self) -> Command {
        let mut c = Command::new(MOTE);
        c.env("MOTE_STATE_DIR", self.state());
        c
    }

    /// `mote run [FLAGS] IMAGE -- ARGS`.
    pub fn run(&self, flags: &[&str], args: &[&str]) -> Output {
        let mut c = self.mote();
        c.arg("run").args(flags).arg(self.image());
        if !args.is_empty() {
            c.arg("--").args(args);
        }
        c.output().unwrap()
    }
}

/// key=value lines of `report` into a map.
pub fn parse_report(out: &[u8]) -> std::collections::HashMap<String, String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// mote-<pid>-* cgroup dirs under every hierarchy root.
pub fn cgroups_of(mote_pid: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let prefix = format!("mote-{mote_pid}-");
    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let Ok(rd) = std::fs::read_dir(root) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                out.push(p.clone());
            }
            if let Ok(rd2) = std::fs::read_dir(&p) {
                for e2 in rd2.flatten() {
                    if e2.file_name().to_string_lossy().starts_with(&prefix) {
                        out.push(e2.path());
                    }
                }
            }
        }
    }
    out
}
