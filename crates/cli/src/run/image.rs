//! Opening an image for `mote run` and materialising its root filesystem.
//!
//! Accepted references:
//! - an OCI image layout directory (`DIR`, or `DIR:TAG` to pick the manifest whose
//!   `org.opencontainers.image.ref.name` is `TAG`);
//! - an oci-archive (a tar of such a layout), `FILE` or `FILE:TAG`;
//! - a registry reference, as `mote inspect` takes it: `docker://HOST/REPO[:TAG|@DIGEST]`,
//!   or `HOST[:PORT]/REPO[:TAG|@DIGEST]` when no such file exists (a host has a `.` or
//!   a `:`, or is `localhost`). The manifest is fetched (for an index: the entry for
//!   this host's platform), then, unless that manifest is already extracted, its config
//!   and layers, each checked against its descriptor's size and digest.
//!
//! The layers are extracted once into a cache directory keyed by the manifest digest
//! (`<state>/rootfs/<hex>/rootfs`, with the image config next to it), so a second run of
//! the same image reads two small JSON files and goes straight to `clone` (for a
//! registry image: after one manifest request, which tells whether the tag moved). The
//! extracted tree is only ever mounted read-only into containers. Extraction happens
//! under a temporary name (`.tmp-<pid>-<n>`) that is renamed into place when complete;
//! temps left by a killed mote are swept on the next start. A blob that fails its check
//! leaves nothing in the cache.
//!
//! The only things mote adds to an image's tree are the empty directories `/proc` and
//! `/dev` when the image lacks them: the root is mounted read-only, so the mount points
//! for the container's fresh proc and its minimal /dev must exist beforehand.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use mote_oci::read;
use mote_oci::registry::{Client, ClientOptions, Reference};
use mote_oci::spec::{is_index, is_manifest, Descriptor};
use mote_oci::Digest;
use serde_json::Value;

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

    /// A blob's bytes as stored (checked by the caller against its descriptor).
    fn blob(&self, digest: &str) -> Result<Vec<u8>> {
        self.read(&format!("blobs/sha256/{}", digest_hex(digest)?))
    }
}

fn digest_hex(d: &str) -> Result<&str> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(h),
        _ => bail!("unsupported or malformed digest {d:?} (expected sha256:<64 hex>)"),
    }
}

/// Splits `PATH[:TAG]` where PATH exists; None when no such file or directory exists.
fn split_ref(reference: &str) -> Option<(PathBuf, Option<String>)> {
    let p = Path::new(reference);
    if p.exists() {
        return Some((p.to_path_buf(), None));
    }
    if let Some((path, tag)) = reference.rsplit_once(':') {
        if !path.is_empty() && Path::new(path).exists() && !tag.contains('/') {
            return Some((PathBuf::from(path), Some(tag.to_string())));
        }
    }
    None
}

/// `HOST[:PORT]/REPO...` where HOST looks like a host name, the rule `mote inspect`
/// uses: a `.` or `:` in the first component, or `localhost`. A path such as `./img`
/// or `/x/y` never does.
fn looks_like_registry(reference: &str) -> bool {
    let Some((first, _)) = reference.split_once('/') else { return false };
    first.starts_with(|c: char| c.is_ascii_alphanumeric())
        && (first.contains('.') || first.contains(':') || first == "localhost")
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

/// Picks the manifest descriptor to run from an index (recursing into nested indexes,
/// whose bytes `fetch` returns verified against their descriptor).
fn select_manifest(
    index: &Value,
    tag: Option<&str>,
    depth: u32,
    fetch: &mut dyn FnMut(&Value) -> Result<Vec<u8>>,
) -> Result<Value> {
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
        let nested: Value = serde_json::from_slice(&fetch(chosen)?).context("nested index is not JSON")?;
        return select_manifest(&nested, None, depth + 1, fetch);
    }
    Ok(chosen.clone())
}

/// A descriptor from JSON (sha256 digests only), for [`read::check_blob`].
fn descriptor(v: &Value, role: &str) -> Result<Descriptor> {
    serde_json::from_value(v.clone()).with_context(|| format!("malformed {role} descriptor {v}"))
}

/// Opens `reference`, extracting its root filesystem into the cache if needed.
/// `registry` says how to reach a registry (used only for registry references).
pub fn materialize(reference: &str, registry: &ClientOptions) -> Result<Materialized> {
    if reference.starts_with("docker://") {
        return pull(reference, registry);
    }
    if let Some((path, tag)) = split_ref(reference) {
        return materialize_local(&path, tag.as_deref());
    }
    if looks_like_registry(reference) {
        return pull(reference, registry);
    }
    bail!(
        "image {reference:?} is neither an OCI layout directory nor an oci-archive file, nor a \
         registry reference (write those as HOST[:PORT]/REPOSITORY[:TAG] or docker://HOST/REPOSITORY:TAG)"
    )
}

/// An OCI layout or oci-archive on disk.
fn materialize_local(path: &Path, tag: Option<&str>) -> Result<Materialized> {
    let src = open_source(path)?;
    let index: Value = serde_json::from_slice(&src.read("index.json")?).context("index.json is not JSON")?;
    let desc = select_manifest(&index, tag, 0, &mut |d| {
        let d = descriptor(d, "index")?;
        let bytes = src.blob(&d.digest.to_string())?;
        read::check_blob(&d, &bytes, "index")?;
        Ok(bytes)
    })?;
    let mdigest = desc["digest"].as_str().context("manifest descriptor without digest")?.to_string();
    if let Some(m) = cached(&mdigest)? {
        return Ok(m);
    }
    let mdesc = descriptor(&desc, "manifest")?;
    let manifest_bytes = src.blob(&mdigest)?;
    read::check_blob(&mdesc, &manifest_bytes, "manifest")?;
    extract(&mdigest, &manifest_bytes, &mut |d| src.blob(&d.digest.to_string()))
}

/// An image in a registry: resolve the manifest, then fetch what the cache lacks.
fn pull(reference: &str, opts: &ClientOptions) -> Result<Materialized> {
    let r = Reference::parse(reference)?;
    pull_ref(&r, opts).with_context(|| format!("cannot pull {r}"))
}

fn pull_ref(r: &Reference, opts: &ClientOptions) -> Result<Materialized> {
    // A digest reference whose manifest is extracted already needs no network at all.
    if let Some(d) = &r.digest {
        if let Some(m) = cached(&d.to_string())? {
            return Ok(m);
        }
    }
    let repo = r.repository.clone();
    let mut client = Client::new(&r.registry, opts.clone());
    let (top, media_type) = match client.get_manifest(&repo, &r.manifest_ref()) {
        Ok(m) => m,
        Err(e) if format!("{e:#}").contains("(HTTP 404)") => bail!("{e:#}; {}", tags_hint(&mut client, &repo)),
        Err(e) => return Err(e),
    };
    let top_digest = Digest::of(&top);
    if let Some(d) = &r.digest {
        if *d != top_digest {
            bail!("registry {} served a manifest with digest {top_digest} for {r}", r.registry);
        }
    }
    let top_json: Value = serde_json::from_slice(&top).context("the manifest is not JSON")?;
    let (mdigest, manifest_bytes) = if is_index(&media_type) {
        let desc = select_manifest(&top_json, None, 0, &mut |d| {
            let d = descriptor(d, "index")?;
            let (bytes, _) = client.get_manifest(&repo, &d.digest.to_string())?;
            read::check_blob(&d, &bytes, "index")?;
            Ok(bytes)
        })?;
        let d = descriptor(&desc, "manifest")?;
        (d.digest.to_string(), Err(d))
    } else if is_manifest(&media_type) {
        (top_digest.to_string(), Ok(top))
    } else {
        bail!("{r} is not an image: media type {media_type:?}");
    };
    if let Some(m) = cached(&mdigest)? {
        return Ok(m);
    }
    let manifest_bytes = match manifest_bytes {
        Ok(b) => b,
        Err(d) => {
            let (bytes, _) = client.get_manifest(&repo, &mdigest)?;
            read::check_blob(&d, &bytes, "manifest")?;
            bytes
        }
    };
    let (mut blobs, mut fetched) = (0, 0u64);
    let m = extract(&mdigest, &manifest_bytes, &mut |d| {
        let bytes = client.get_blob(&repo, d)?;
        blobs += 1;
        fetched += bytes.len() as u64;
        Ok(bytes)
    })?;
    eprintln!("mote: pulled {r} ({mdigest}): the config and {} layer(s), {fetched} bytes", blobs - 1);
    Ok(m)
}

/// After a 404 for a manifest: which tags the repository has, or that it has none.
fn tags_hint(client: &mut Client, repo: &str) -> String {
    let scope = format!("repository:{repo}:pull");
    let r = client.request("GET", &format!("/v2/{repo}/tags/list?n=20"), &[], None, &scope, 1 << 20);
    let tags: Vec<String> = match r {
        Ok(r) if r.status == 200 => serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| v["tags"].as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(String::from)).collect()))
            .unwrap_or_default(),
        Ok(r) if r.status == 404 => return format!("the registry has no repository {repo} (push the image there first)"),
        _ => return format!("no such tag or digest in {repo}"),
    };
    if tags.is_empty() {
        format!("repository {repo} has no tags")
    } else {
        format!("repository {repo} has the tags {}", tags.join(", "))
    }
}

/// The cache directory of extracted images.
fn cache_root() -> PathBuf {
    state_dir().join("rootfs")
}

/// The extracted image for manifest `mdigest`, if it is in the cache.
fn cached(mdigest: &str) -> Result<Option<Materialized>> {
    let dir = cache_root().join(digest_hex(mdigest)?);
    let Ok(cfg) = fs::read(dir.join("config.json")) else { return Ok(None) };
    let v: Value = serde_json::from_slice(&cfg).context("cached config.json is not JSON")?;
    let rootfs = dir.join("rootfs");
    // Trees extracted by an older mote may lack the mount points.
    ensure_mountpoints(&rootfs)?;
    Ok(Some(Materialized { manifest_digest: mdigest.to_string(), rootfs, config: ImageConfig::from_json(&v) }))
}

/// Creates the empty directories the container's /proc and /dev are mounted on, when
/// the image has none. Anything but a directory there is refused: mounting onto a
/// symlink would follow it out of the tree.
fn ensure_mountpoints(root: &Path) -> Result<()> {
    for (name, mode) in [("proc", 0o555), ("dev", 0o755)] {
        let p = root.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("the image's /{name} is not a directory: mote run mounts its own /{name} there"),
            Err(_) => {
                match fs::create_dir(&p) {
                    Ok(()) => fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                        .with_context(|| format!("cannot set the mode of {}", p.display()))?,
                    // Another mote made it a moment ago.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e).with_context(|| format!("cannot create the mount point {}", p.display())),
                }
            }
        }
    }
    Ok(())
}

/// Extracts the image of manifest `mdigest` (its bytes already verified) into the cache.
/// `fetch` returns a blob's bytes as stored: the config, then each layer; each is checked
/// here against its descriptor before anything is unpacked, and a failure leaves
/// nothing behind.
fn extract(
    mdigest: &str,
    manifest_bytes: &[u8],
    fetch: &mut dyn FnMut(&Descriptor) -> Result<Vec<u8>>,
) -> Result<Materialized> {
    let hex = digest_hex(mdigest)?.to_string();
    let manifest: Value = serde_json::from_slice(manifest_bytes).context("the manifest is not JSON")?;
    let cdesc = descriptor(&manifest["config"], "config")?;
    let config_bytes = fetch(&cdesc)?;
    read::check_blob(&cdesc, &config_bytes, "config")?;
    let config_json: Value = serde_json::from_slice(&config_bytes).context("image config is not JSON")?;
    let layers = manifest["layers"].as_array().map(|a| a.as_slice()).unwrap_or(&[]);
    let layers: Vec<Descriptor> = layers.iter().map(|l| descriptor(l, "layer")).collect::<Result<_>>()?;
    for l in &layers {
        if l.size > MAX_LAYER_BYTES {
            bail!("layer {} is {} bytes: more than the {MAX_LAYER_BYTES} bytes mote run accepts", l.digest, l.size);
        }
    }

    let cache = cache_root();
    let dir = cache.join(&hex);
    fs::create_dir_all(&cache).with_context(|| format!("cannot create the state directory {}", cache.display()))?;
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o711)).ok();
    sweep_temps(&cache);

    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache.join(format!(".tmp-{}-{n}", std::process::id()));
    let result = (|| -> Result<()> {
        let root = tmp.join("rootfs");
        fs::create_dir_all(&root)?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o711))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
        for layer in &layers {
            let blob = fetch(layer).with_context(|| format!("layer {}", layer.digest))?;
            read::check_blob(layer, &blob, "layer")?;
            let tar = decompress(&layer.media_type, &blob).with_context(|| format!("layer {}", layer.digest))?;
            apply_layer(&root, &tar).with_context(|| format!("cannot extract layer {}", layer.digest))?;
        }
        ensure_mountpoints(&root)?;
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
    Ok(Materialized { manifest_digest: mdigest.to_string(), rootfs: dir.join("rootfs"), config: ImageConfig::from_json(&config_json) })
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
