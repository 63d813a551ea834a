//! Opening an image for `mote run` and materialising its root filesystem.
//!
//! Accepted references:
//! - an OCI image layout directory (`DIR`, or `DIR:TAG` to pick the manifest whose
//!   `org.opencontainers.image.ref.name` is `TAG`);
//! - an oci-archive (a tar of such a layout), `FILE` or `FILE:TAG`.
//!
//! The layers are extracted once into a cache directory keyed by the manifest digest
//! (`<state>/rootfs/<hex>/rootfs`, with the image config next to it), so a second run of
//! the same image reads two small JSON files and goes straight to `clone`. The extracted
//! tree is only ever mounted read-only into containers. Extraction happens under a
//! temporary name (`.tmp-<pid>-<n>`) that is renamed into place when complete; temps
//! left by a killed mote are swept on the next start.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Refuse layers that decompress to more than this (1 GiB): micro-container images
/// are kilobytes; anything this large is a mistake or a decompression bomb.
const MAX_LAYER_BYTES: u64 = 1 << 30;

/// The parts of an image config that `mote run` uses.
#[derive(Clone, Debug, Default)]
pub struct ImageConfig {
    pub user: String,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    pub stop_signal: String,
}

impl ImageConfig {
    fn from_json(v: &Value) -> ImageConfig {
        let c = &v["config"];
        let strs = |k: &str| -> Vec<String> {
            c[k].as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
        ImageConfig {
            user: s("User"),
            env: strs("Env"),
            entrypoint: strs("Entrypoint"),
            cmd: strs("Cmd"),
            working_dir: s("WorkingDir"),
            stop_signal: s("StopSignal"),
        }
    }
}

/// An image whose root filesystem is ready on disk.
#[derive(Clone, Debug)]
pub struct Materialized {
    /// `sha256:<hex>` of the manifest that was run.
    pub manifest_digest: String,
    /// The extracted root filesystem (never written to after extraction).
    pub rootfs: PathBuf,
    pub config: ImageConfig,
}

/// The state directory: `$MOTE_STATE_DIR`, else `/run/mote` for root, else
/// `$XDG_RUNTIME_DIR/mote`, else `<tmp>/mote-<uid>`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MOTE_STATE_DIR") {
        return PathBuf::from(d);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/run/mote");
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(d).join("mote");
    }
    // SAFETY: as above.
    std::env::temp_dir().join(format!("mote-{}", unsafe { libc::geteuid() }))
}

/// Where blobs come from.
enum Source {
    Layout(PathBuf),
    /// An oci-archive read into memory: path in the archive → bytes.
    Archive(HashMap<String, Vec<u8>>),
}

impl Source {
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        match self {
            Source::Layout(dir) => {
                let p = dir.join(path);
                fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
            }
            Source::Archive(files) => files
                .get(path)
                .cloned()
                .with_context(|| format!("the oci-archive has no {path}")),
        }
    }

    fn blob(&self, digest: &str, verify: bool) -> Result<Vec<u8>> {
        let hex = digest_hex(digest)?;
        let bytes = self.read(&format!("blobs/sha256/{hex}"))?;
        if verify {
            let got = hex_of(&Sha256::digest(&bytes));
            if got != hex {
                bail!("blob {digest} is corrupt: its content hashes to sha256:{got}");
            }
        }
        Ok(bytes)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_hex(d: &str) -> Result<&str> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(h),
        _ => bail!("unsupported or malformed digest {d:?} (expected sha256:<64 hex>)"),
    }
}

/// Splits `PATH[:TAG]` where PATH exists.
fn split_ref(reference: &str) -> Result<(PathBuf, Option<String>)> {
    let p = Path::new(reference);
    if p.exists() {
        return Ok((p.to_path_buf(), None));
    }
    if let Some((path, tag)) = reference.rsplit_once(':') {
        if !path.is_empty() && Path::new(path).exists() && !tag.contains('/') {
            return Ok((PathBuf::from(path), Some(tag.to_string())));
        }
    }
    bail!(
        "image {reference:?} is neither an OCI layout directory nor an oci-archive file \
         (registry references are not supported by `mote run` yet: fetch one with \
         `skopeo copy docker://REF oci:DIR` and run DIR)"
    )
}

fn open_source(path: &Path) -> Result<Source> {
    if path.is_dir() {
        if !path.join("index.json").is_file() {
            bail!("{} is a directory but not an OCI image layout (no index.json)", path.display());
        }
        return Ok(Source::Layout(path.to_path_buf()));
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut files = HashMap::new();
    let mut ar = tar::Archive::new(&bytes[..]);
    let entries = ar
        .entries()
        .with_context(|| format!("{} is not a tar archive (expected an oci-archive)", path.display()))?;
    for e in entries {
        let mut e = e.with_context(|| format!("{} is a corrupt tar archive", path.display()))?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e.path()?.to_string_lossy().trim_start_matches("./").to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data)?;
        files.insert(name, data);
    }
    if !files.contains_key("index.json") {
        bail!("{} is a tar archive without index.json: not an oci-archive", path.display());
    }
    Ok(Source::Archive(files))
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Picks the manifest descriptor to run from an index (recursing into nested indexes).
fn select_manifest(src: &Source, index: &Value, tag: Option<&str>, depth: u32) -> Result<Value> {
    if depth > 4 {
        bail!("image indexes nest more than 4 deep");
    }
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let mut candidates: Vec<&Value> = manifests.iter().collect();
    if let Some(t) = tag {
        if depth == 0 {
            candidates.retain(|m| m["annotations"][REF_NAME].as_str() == Some(t));
            if candidates.is_empty() {
                bail!("the image has no manifest tagged {t:?}");
            }
        }
    }
    // Prefer a manifest for this host's platform; platform-less entries also match.
    let arch = host_arch();
    let fits = |m: &&Value| {
        let p = &m["platform"];
        p.is_null() || (p["architecture"].as_str() == Some(arch) && p["os"].as_str().unwrap_or("linux") == "linux")
    };
    let Some(chosen) = candidates.iter().copied().find(fits) else {
        let have: Vec<String> = candidates
            .iter()
            .map(|m| format!("{}/{}", m["platform"]["os"].as_str().unwrap_or("?"), m["platform"]["architecture"].as_str().unwrap_or("?")))
            .collect();
        bail!("the image has no linux/{arch} manifest (it has: {})", have.join(", "));
    };
    let mt = chosen["mediaType"].as_str().unwrap_or("");
    if mt == MEDIA_INDEX || mt == MEDIA_DOCKER_LIST {
        let d = chosen["digest"].as_str().context("index entry without digest")?;
        let nested: Value = serde_json::from_slice(&src.blob(d, true)?).context("nested index is not JSON")?;
        return select_manifest(src, &nested, None, depth + 1);
    }
    Ok(chosen.clone())
}

/// Opens `reference`, extracting its root filesystem into the cache if needed.
pub fn materialize(reference: &str) -> Result<Materialized> {
    let (path, tag) = split_ref(reference)?;
    let src = open_source(&path)?;
    let index: Value = serde_json::from_slice(&src.read("index.json")?).context("index.json is not JSON")?;
    let desc = select_manifest(&src, &index, tag.as_deref(), 0)?;
    let mdigest = desc["digest"].as_str().context("manifest descriptor without digest")?.to_string();
    let hex = digest_hex(&mdigest)?.to_string();

    let cache = state_dir().join("rootfs");
    let dir = cache.join(&hex);
    if let Ok(cfg) = fs::read(dir.join("config.json")) {
        let v: Value = serde_json::from_slice(&cfg).context("cached config.json is not JSON")?;
        return Ok(Materialized { manifest_digest: mdigest, rootfs: dir.join("rootfs"), config: ImageConfig::from_json(&v) });
    }

    fs::create_dir_all(&cache).with_context(|| format!("cannot create the state directory {}", cache.display()))?;
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o711)).ok();
    sweep_temps(&cache);

    let manifest: Value = serde_json::from_slice(&src.blob(&mdigest, true)?).context("manifest is not JSON")?;
    let cdigest = manifest["config"]["digest"].as_str().context("manifest has no config digest")?;
    let config_bytes = src.blob(cdigest, true)?;
    let config_json: Value = serde_json::from_slice(&config_bytes).context("image config is not JSON")?;

    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache.join(format!(".tmp-{}-{n}", std::process::id()));
    let result = (|| -> Result<()> {
        let root = tmp.join("rootfs");
        fs::create_dir_all(&root)?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o711))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
        for layer in manifest["layers"].as_array().map(|a| a.as_slice()).unwrap_or(&[]) {
            let d = layer["digest"].as_str().context("layer without digest")?;
            let mt = layer["mediaType"].as_str().unwrap_or("");
            let blob = src.blob(d, true)?;
            let tar = decompress(mt, &blob).with_context(|| format!("layer {d}"))?;
            apply_layer(&root, &tar).with_context(|| format!("cannot extract layer {d}"))?;
        }
        let mut f = fs::File::create(tmp.join("config.json"))?;
        f.write_all(&config_bytes)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        let _ = fs::remove_dir_all(&tmp);
        // Another mote extracted the same image concurrently: theirs is as good.
        if !dir.join("config.json").is_file() {
            return Err(e).with_context(|| format!("cannot move the extracted image to {}", dir.display()));
        }
    }
    Ok(Materialized { manifest_digest: mdigest, rootfs: dir.join("rootfs"), config: ImageConfig::from_json(&config_json) })
}

/// Removes `.tmp-<pid>-*` extraction dirs whose mote is gone.
fn sweep_temps(cache: &Path) {
    let Ok(rd) = fs::read_dir(cache) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".tmp-") else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

fn decompress(media_type: &str, blob: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
        flate2::read::GzDecoder::new(blob).take(MAX_LAYER_BYTES + 1).read_to_end(&mut out)
    } else if media_type.ends_with("+zstd") {
        zstd::stream::read::Decoder::new(blob)?.take(MAX_LAYER_BYTES + 1).read_to_end(&mut out)
    } else if media_type.ends_with(".tar") || media_type.ends_with(".tar.v1") || media_type.is_empty() {
        return Ok(blob.to_vec());
    } else {
        bail!("unsupported layer media type {media_type:?}");
    }
    .with_context(|| format!("the {media_type} layer is corrupt or truncated"))?;
    if n as u64 > MAX_LAYER_BYTES {
        bail!("layer decompresses to more than {MAX_LAYER_BYTES} bytes");
    }
    Ok(out)
}

/// A path inside a layer, normalised: no leading `/` or `./`, no `..`.
fn clean(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => bail!("layer entry {} escapes the root", p.display()),
        }
    }
    Ok(out)
}

/// Resolves `rel`'s parent inside `root` without following symlinks out of it.
fn inside(root: &Path, rel: &Path) -> Result<Option<PathBuf>> {
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        if i + 1 < comps.len() {
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(None), // a file or symlink in the way: nothing to remove below it
                Err(_) => return Ok(None),
            }
        }
    }
    Ok(Some(cur))
}

/// Applies one layer tar on top of `root`: whiteouts first (they only ever refer to
/// lower layers), then the entries.
pub fn apply_layer(root: &Path, tar_bytes: &[u8]) -> Result<()> {
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries()? {
        let e = e?;
        let path = clean(&e.path()?)?;
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if name == ".wh..wh..opq" {
            if let Some(dir) = inside(root, &parent.join("x"))?.and_then(|p| p.parent().map(Path::to_path_buf)) {
                if let Ok(rd) = fs::read_dir(&dir) {
                    for c in rd.flatten() {
                        remove_any(&c.path())?;
                    }
                }
            }
        } else if let Some(target) = name.strip_prefix(".wh.") {
            if let Some(p) = inside(root, &parent.join(target))? {
                remove_any(&p)?;
            }
        }
    }
    let mut ar = tar::Archive::new(tar_bytes);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(unsafe { libc::geteuid() } == 0);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(false);
    ar.set_overwrite(true);
    for e in ar.entries()? {
        let mut e = e?;
        let path = clean(&e.path()?)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with(".wh.") || path.as_os_str().is_empty() {
            continue;
        }
        let kind = e.header().entry_type();
        if kind.is_dir() {
            if let Ok(m) = fs::symlink_metadata(root.join(&path)) {
                if !m.is_dir() {
                    remove_any(&root.join(&path))?;
                }
            }
        } else if let Ok(m) = fs::symlink_metadata(root.join(&path)) {
            if m.is_dir() {
                remove_any(&root.join(&path))?;
            }
        }
        if kind.is_symlink() {
            // tar's unpack refuses symlinks that already exist; replace them.
            let target = e.link_name()?.context("symlink without target")?.into_owned();
            let dst = root.join(&path);
            if fs::symlink_metadata(&dst).is_ok() {
                remove_any(&dst)?;
            }
            if let Some(p) = dst.parent() {
                if inside(root, &path)?.is_none() {
                    bail!("layer entry {} lies below a non-directory", path.display());
                }
                fs::create_dir_all(p)?;
            }
            symlink(&target, &dst)?;
            continue;
        }
        // unpack_in refuses `..` and paths that resolve outside `root` through symlinks.
        if !e.unpack_in(root).with_context(|| format!("cannot extract {}", path.display()))? {
            bail!("layer entry {} points outside the root filesystem", path.display());
        }
    }
    Ok(())
}

fn remove_any(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).with_context(|| format!("cannot remove {}", p.display())),
        Ok(_) => fs::remove_file(p).with_context(|| format!("cannot remove {}", p.display())),
        Err(_) => Ok(()),
    }
}
