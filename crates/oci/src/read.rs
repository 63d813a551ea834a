//! Opening images (OCI layout, OCI archive, docker archive, registry) and walking
//! them with every blob verified: size and sha256 against its descriptor, and each
//! layer's uncompressed digest against the config's diff_id.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::compress::Compression;
use crate::spec::*;
use crate::Digest;

/// Layers are decompressed for checking and listing up to this size: far above any
/// micro-container, low enough that a decompression bomb cannot exhaust memory.
pub const MAX_LAYER_UNCOMPRESSED: u64 = 4 << 30;

/// Where an image's blobs come from.
pub trait Store {
    /// For messages: "OCI layout ./img", "registry localhost:5000/x:1", ...
    fn describe(&self) -> String;
    /// "oci", "oci-archive", "docker-archive" or "registry".
    fn format(&self) -> &'static str;
    /// The entry points: index.json's descriptors, or the manifest a tag names.
    fn roots(&mut self) -> Result<Vec<Descriptor>>;
    /// The blob's bytes as stored (not yet verified). Missing → an error naming it.
    fn fetch(&mut self, d: &Descriptor) -> Result<Vec<u8>>;
}

/// Opens a path: an OCI layout directory, or an OCI or docker archive file.
pub fn open_path(path: &Path) -> Result<Box<dyn Store>> {
    let meta =
        fs::metadata(path).with_context(|| format!("cannot open image {}", path.display()))?;
    if meta.is_dir() {
        if !path.join("oci-layout").is_file() || !path.join("index.json").is_file() {
            bail!(
                "{} is a folder but not an OCI image layout (no oci-layout and index.json in it)",
                path.display()
            );
        }
        return Ok(Box::new(LayoutDir {
            dir: path.to_path_buf(),
        }));
    }
    let files = read_tar_file(path)?;
    if files.contains_key("index.json") && files.contains_key("oci-layout") {
        Ok(Box::new(Archive {
            path: path.to_path_buf(),
            files,
            docker: None,
        }))
    } else if files.contains_key("manifest.json") {
        let mut a = Archive {
            path: path.to_path_buf(),
            files,
            docker: None,
        };
        a.docker = Some(a.synthesize_docker()?);
        Ok(Box::new(a))
    } else {
        bail!(
            "{} is neither an OCI archive (no index.json and oci-layout) nor a docker archive (no manifest.json)",
            path.display()
        )
    }
}

/// An OCI image layout directory.
pub struct LayoutDir {
    dir: PathBuf,
}

impl Store for LayoutDir {
    fn describe(&self) -> String {
        format!("OCI layout {}", self.dir.display())
    }
    fn format(&self) -> &'static str {
        "oci"
    }
    fn roots(&mut self) -> Result<Vec<Descriptor>> {
        let p = self.dir.join("index.json");
        let bytes = fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let index: Index = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid image index", p.display()))?;
        Ok(index.manifests)
    }
    fn fetch(&mut self, d: &Descriptor) -> Result<Vec<u8>> {
        let p = self.dir.join("blobs/sha256").join(d.digest.hex());
        // Read at most one byte past the descriptor's size: enough to see it is too long.
        let f = fs::File::open(&p).with_context(|| {
            format!("blob {} is missing: cannot open {}", d.digest, p.display())
        })?;
        let mut bytes = Vec::new();
        f.take(d.size.saturating_add(1))
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", p.display()))?;
        Ok(bytes)
    }
}

/// A tar file read into memory: an OCI archive or a docker archive.
pub struct Archive {
    path: PathBuf,
    files: BTreeMap<String, Vec<u8>>,
    /// For a docker archive: synthesized manifests (roots, and their bytes by digest).
    docker: Option<Synthesized>,
}

/// Docker-archive manifests made up by [`Archive::synthesize_docker`]: the roots, and
/// the manifests' bytes by digest.
type Synthesized = (Vec<Descriptor>, BTreeMap<Digest, Vec<u8>>);

fn read_tar_file(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut ar = ::tar::Archive::new(f);
    let mut files = BTreeMap::new();
    let entries = ar
        .entries()
        .with_context(|| format!("{} is not a tar archive", path.display()))?;
    for e in entries {
        let mut e =
            e.with_context(|| format!("{} is a corrupt or truncated tar archive", path.display()))?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).with_context(|| {
            format!(
                "{}: member {name} is truncated or unreadable",
                path.display()
            )
        })?;
        files.insert(name, data);
    }
    if files.is_empty() {
        bail!("{} holds no files: not an image archive", path.display());
    }
    Ok(files)
}

/// The digest a docker-archive member's name claims (`<hex>.json`, `<hex>.tar`,
/// `<hex>/layer.tar`, `blobs/sha256/<hex>`), if it claims one.
fn digest_in_name(name: &str) -> Option<Digest> {
    let base = name.strip_prefix("blobs/sha256/").unwrap_or(name);
    let hex = base
        .strip_suffix(".json")
        .or_else(|| base.strip_suffix(".tar"))
        .or_else(|| base.strip_suffix("/layer.tar"))
        .unwrap_or(base);
    Digest::parse(&format!("sha256:{hex}")).ok()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl Archive {
    fn member(&self, name: &str) -> Result<&Vec<u8>> {
        self.files
            .get(name.trim_start_matches("./"))
            .with_context(|| format!("{}: member {name} is missing", self.path.display()))
    }

    /// Builds docker manifests (v2 schema 2) describing the archive's members, so the
    /// walker treats it like any image; names that carry a digest are checked.
    fn synthesize_docker(&self) -> Result<Synthesized> {
        let entries: Vec<DockerEntry> = serde_json::from_slice(self.member("manifest.json")?)
            .with_context(|| {
                format!(
                    "{}: manifest.json is not a docker-archive manifest",
                    self.path.display()
                )
            })?;
        let mut roots = Vec::new();
        let mut blobs = BTreeMap::new();
        for e in entries {
            let config = self.member(&e.config)?;
            let config_desc = self.member_descriptor(&e.config, MEDIA_DOCKER_CONFIG, config)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let bytes = self.member(l)?;
                let mt = match bytes.get(..4) {
                    Some([0x1f, 0x8b, _, _]) => MEDIA_DOCKER_LAYER_GZIP,
                    Some([0x28, 0xb5, 0x2f, 0xfd]) => MEDIA_LAYER_ZSTD,
                    _ => MEDIA_DOCKER_LAYER_TAR,
                };
                // Member names carry the digest of the member's bytes (for an
                // uncompressed layer that is also its diff_id).
                let mut d = self.member_descriptor(l, mt, bytes)?;
                d.annotations = Some(BTreeMap::from([(
                    "mote.archive.member".to_string(),
                    l.clone(),
                )]));
                layers.push(d);
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(MEDIA_DOCKER_MANIFEST.to_string()),
                config: config_desc,
                layers,
                annotations: None,
            };
            let bytes = to_json(&manifest);
            let mut d = Descriptor {
                media_type: MEDIA_DOCKER_MANIFEST.to_string(),
                digest: Digest::of(&bytes),
                size: bytes.len() as u64,
                platform: None,
                annotations: None,
            };
            if let Some(tag) = e.repo_tags.as_ref().and_then(|t| t.first()) {
                d.annotations = Some(BTreeMap::from([(
                    ANNOTATION_REF_NAME.to_string(),
                    tag.clone(),
                )]));
            }
            blobs.insert(d.digest.clone(), bytes);
            roots.push(d);
        }
        Ok((roots, blobs))
    }

    fn member_descriptor(&self, name: &str, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let actual = Digest::of(bytes);
        if let Some(claimed) = digest_in_name(name) {
            if claimed != actual {
                bail!(
                    "{}: member {name} is corrupt: expected digest {claimed} (from its name), actual {actual} ({} bytes)",
                    self.path.display(),
                    bytes.len()
                );
            }
        }
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest: actual,
            size: bytes.len() as u64,
            platform: None,
            annotations: None,
        })
    }
}

impl Store for Archive {
    fn describe(&self) -> String {
        let kind = if self.docker.is_some() {
            "docker archive"
        } else {
            "OCI archive"
        };
        format!("{kind} {}", self.path.display())
    }
    fn format(&self) -> &'static str {
        if self.docker.is_some() {
            "docker-archive"
        } else {
            "oci-archive"
        }
    }
    fn roots(&mut self) -> Result<Vec<Descriptor>> {
        if let Some((roots, _)) = &self.docker {
            return Ok(roots.clone());
        }
        let index: Index =
            serde_json::from_slice(self.member("index.json")?).with_context(|| {
                format!(
                    "{}: index.json is not a valid image index",
                    self.path.display()
                )
            })?;
        Ok(index.manifests)
    }
    fn fetch(&mut self, d: &Descriptor) -> Result<Vec<u8>> {
        if let Some((_, blobs)) = &self.docker {
            if let Some(b) = blobs.get(&d.digest) {
                return Ok(b.clone());
            }
            if let Some(member) = d
                .annotations
                .as_ref()
                .and_then(|a| a.get("mote.archive.member"))
            {
                return Ok(self.member(member)?.clone());
            }
            // The config: find the member holding these bytes.
            for bytes in self.files.values() {
                if bytes.len() as u64 == d.size && Digest::of(bytes) == d.digest {
                    return Ok(bytes.clone());
                }
            }
            bail!("{}: blob {} is missing", self.path.display(), d.digest);
        }
        let name = format!("blobs/sha256/{}", d.digest.hex());
        self.files.get(&name).cloned().with_context(|| {
            format!(
                "blob {} is missing: {} has no member {name}",
                d.digest,
                self.path.display()
            )
        })
    }
}

// ---------------------------------------------------------------------------
// The verified walk
// ---------------------------------------------------------------------------

/// Everything found in an image, every digest and size verified.
#[derive(Serialize, Debug)]
pub struct Report {
    pub source: String,
    pub format: String,
    /// Image indexes (nested lists of platform manifests).
    pub indexes: Vec<IndexReport>,
    pub images: Vec<ImageReport>,
    /// Bytes of every distinct blob (indexes, manifests, configs, layers): what a
    /// registry stores for the image.
    pub total_size: u64,
}

#[derive(Serialize, Debug)]
pub struct IndexReport {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_name: Option<String>,
    pub manifests: Vec<Digest>,
}

#[derive(Serialize, Debug)]
pub struct ImageReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_name: Option<String>,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub platform: String,
    pub config: ConfigReport,
    pub layers: Vec<LayerReport>,
    /// Manifest + config + layers.
    pub total_size: u64,
}

#[derive(Serialize, Debug)]
pub struct ConfigReport {
    pub digest: Digest,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub env: Vec<String>,
    pub exposed_ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub diff_ids: Vec<Digest>,
}

#[derive(Serialize, Debug)]
pub struct LayerReport {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub diff_id: Digest,
    pub uncompressed_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
}

#[derive(Serialize, Debug, Clone)]
pub struct FileEntry {
    pub path: String,
    /// file, dir, symlink, hardlink, char, block, fifo or other
    pub kind: String,
    pub mode: String,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub mtime: u64,
}

/// The blobs of an image in upload order (children before their parents), verified.
#[derive(Default)]
pub struct Blobs {
    pub items: Vec<(Descriptor, Vec<u8>)>,
    /// The roots as given by the store (with their ref-name annotations).
    pub roots: Vec<Descriptor>,
}

/// Options for [`walk`].
#[derive(Clone, Copy, Default)]
pub struct WalkOptions {
    /// List the files in each layer.
    pub list_files: bool,
}

/// Fetches a blob and checks it against its descriptor.
fn verified(store: &mut dyn Store, d: &Descriptor, role: &str) -> Result<Vec<u8>> {
    let bytes = store
        .fetch(d)
        .with_context(|| format!("{role} {}", d.digest))?;
    check_blob(d, &bytes, role)?;
    Ok(bytes)
}

/// Checks bytes against a descriptor: size and digest, both reported on mismatch.
pub fn check_blob(d: &Descriptor, bytes: &[u8], role: &str) -> Result<()> {
    let actual = Digest::of(bytes);
    let len = bytes.len() as u64;
    if len != d.size {
        let what = if len < d.size {
            "truncated"
        } else {
            "too long"
        };
        let shown = if len > d.size {
            format!("more than {}", d.size)
        } else {
            len.to_string()
        };
        bail!(
            "{role} blob {} is {what}: expected size {} bytes, actual {shown} bytes (actual digest {actual})",
            d.digest,
            d.size
        );
    }
    if actual != d.digest {
        bail!(
            "{role} blob {} is corrupt: expected digest {}, actual digest {actual} (size {len} bytes as expected)",
            d.digest,
            d.digest
        );
    }
    Ok(())
}

fn ref_name(d: &Descriptor) -> Option<String> {
    d.annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REF_NAME))
        .cloned()
}

/// Walks the image from its roots, verifying everything. Returns the report and the
/// blobs in upload order.
pub fn walk(store: &mut dyn Store, opts: WalkOptions) -> Result<(Report, Blobs)> {
    let roots = store.roots()?;
    if roots.is_empty() {
        bail!("{} lists no images", store.describe());
    }
    let mut report = Report {
        source: store.describe(),
        format: store.format().to_string(),
        indexes: Vec::new(),
        images: Vec::new(),
        total_size: 0,
    };
    let mut blobs = Blobs {
        items: Vec::new(),
        roots: roots.clone(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for d in &roots {
        walk_node(
            store,
            d,
            ref_name(d),
            None,
            opts,
            &mut report,
            &mut blobs,
            &mut seen,
            0,
        )?;
    }
    report.total_size = blobs.items.iter().map(|(d, _)| d.size).sum();
    Ok((report, blobs))
}

#[allow(clippy::too_many_arguments)]
fn walk_node(
    store: &mut dyn Store,
    d: &Descriptor,
    ref_name: Option<String>,
    platform: Option<&Platform>,
    opts: WalkOptions,
    report: &mut Report,
    blobs: &mut Blobs,
    seen: &mut std::collections::BTreeSet<Digest>,
    depth: usize,
) -> Result<()> {
    if depth > 8 {
        bail!("image indexes nest deeper than 8 levels at {}", d.digest);
    }
    fn push(
        seen: &mut std::collections::BTreeSet<Digest>,
        blobs: &mut Blobs,
        d: &Descriptor,
        bytes: Vec<u8>,
    ) {
        if seen.insert(d.digest.clone()) {
            blobs.items.push((d.clone(), bytes));
        }
    }
    if is_index(&d.media_type) {
        let bytes = verified(store, d, "index")?;
        let index: Index = serde_json::from_slice(&bytes)
            .with_context(|| format!("index {} is not a valid image index", d.digest))?;
        report.indexes.push(IndexReport {
            digest: d.digest.clone(),
            size: d.size,
            media_type: d.media_type.clone(),
            ref_name: ref_name.clone(),
            manifests: index.manifests.iter().map(|m| m.digest.clone()).collect(),
        });
        for m in &index.manifests {
            walk_node(
                store,
                m,
                ref_name.clone(),
                m.platform.as_ref(),
                opts,
                report,
                blobs,
                seen,
                depth + 1,
            )?;
        }
        push(seen, blobs, d, bytes);
        return Ok(());
    }
    if !is_manifest(&d.media_type) {
        bail!(
            "{}: descriptor {} has media type {:?}, not an image manifest or index",
            store.describe(),
            d.digest,
            d.media_type
        );
    }
    let bytes = verified(store, d, "manifest")?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("manifest {} is not a valid image manifest", d.digest))?;
    let config_bytes = verified(store, &manifest.config, "config")?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes).with_context(|| {
        format!(
            "config {} is not a valid image config",
            manifest.config.digest
        )
    })?;
    if manifest.layers.len() != config.rootfs.diff_ids.len() {
        bail!(
            "manifest {} has {} layers but its config {} lists {} diff_ids",
            d.digest,
            manifest.layers.len(),
            manifest.config.digest,
            config.rootfs.diff_ids.len()
        );
    }
    let plat = platform.map(|p| (p.architecture.clone(), p.os.clone(), p.variant.clone()));
    if let Some((arch, os, _)) = &plat {
        if *arch != config.architecture || *os != config.os {
            bail!(
                "manifest {} is listed as {os}/{arch} but its config says {}/{}",
                d.digest,
                config.os,
                config.architecture
            );
        }
    }
    let mut layers = Vec::new();
    let mut layer_blobs = Vec::new();
    for (i, (l, diff_id)) in manifest
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .enumerate()
    {
        let role = format!("layer {i} ({})", l.media_type);
        let bytes = verified(store, l, &role)?;
        let compression = Compression::from_media_type(&l.media_type)?;
        let tar = compression
            .decompress(&bytes, MAX_LAYER_UNCOMPRESSED)
            .with_context(|| format!("layer {} cannot be decompressed", l.digest))?;
        let actual = Digest::of(&tar);
        if actual != *diff_id {
            bail!(
                "layer {} is corrupt: its uncompressed content has digest {actual}, but the config's diff_id is {diff_id}",
                l.digest
            );
        }
        let files = if opts.list_files {
            Some(list_tar(&tar).with_context(|| format!("layer {}", l.digest))?)
        } else {
            None
        };
        layers.push(LayerReport {
            digest: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
            diff_id: diff_id.clone(),
            uncompressed_size: tar.len() as u64,
            files,
        });
        layer_blobs.push((l.clone(), bytes));
    }
    let c = config.config.clone().unwrap_or_default();
    let config_report = ConfigReport {
        digest: manifest.config.digest.clone(),
        size: manifest.config.size,
        created: config.created.clone(),
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        variant: config.variant.clone(),
        entrypoint: c.entrypoint.unwrap_or_default(),
        cmd: c.cmd.unwrap_or_default(),
        user: c.user,
        env: c.env.unwrap_or_default(),
        exposed_ports: c
            .exposed_ports
            .map(|p| p.into_keys().collect())
            .unwrap_or_default(),
        working_dir: c.working_dir,
        labels: c.labels.unwrap_or_default(),
        diff_ids: config.rootfs.diff_ids.clone(),
    };
    let total = d.size + manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
    let mut platform = format!("{}/{}", config.os, config.architecture);
    if let Some(v) = &config.variant {
        platform.push('/');
        platform.push_str(v);
    }
    report.images.push(ImageReport {
        ref_name,
        digest: d.digest.clone(),
        size: d.size,
        media_type: d.media_type.clone(),
        platform,
        config: config_report,
        layers,
        total_size: total,
    });
    push(seen, blobs, &manifest.config, config_bytes);
    for (l, b) in layer_blobs {
        push(seen, blobs, &l, b);
    }
    push(seen, blobs, d, bytes);
    Ok(())
}

/// Lists a layer tar's entries.
pub fn list_tar(tar: &[u8]) -> Result<Vec<FileEntry>> {
    let mut ar = ::tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in ar.entries().context("not a tar archive")? {
        let e = e.context("the layer tar is corrupt")?;
        let h = e.header();
        use ::tar::EntryType as T;
        let kind = match h.entry_type() {
            T::Regular | T::Continuous => "file",
            T::Directory => "dir",
            T::Symlink => "symlink",
            T::Link => "hardlink",
            T::Char => "char",
            T::Block => "block",
            T::Fifo => "fifo",
            _ => "other",
        };
        out.push(FileEntry {
            path: e
                .path()
                .context("bad path in layer")?
                .to_string_lossy()
                .into_owned(),
            kind: kind.to_string(),
            mode: format!("{:04o}", h.mode().unwrap_or(0) & 0o7777),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            size: h.size().unwrap_or(0),
            link: e
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned()),
            mtime: h.mtime().unwrap_or(0),
        });
    }
    Ok(out)
}

/// An image built in memory is a store too (for `pack --push`).
pub struct MemoryStore<'a> {
    pub image: &'a crate::Image,
}

impl Store for MemoryStore<'_> {
    fn describe(&self) -> String {
        "the packed image".to_string()
    }
    fn format(&self) -> &'static str {
        "oci"
    }
    fn roots(&mut self) -> Result<Vec<Descriptor>> {
        Ok(self.image.index.manifests.clone())
    }
    fn fetch(&mut self, d: &Descriptor) -> Result<Vec<u8>> {
        Ok(self.image.blob(&d.digest)?.to_vec())
    }
}

/// Opens an image named on the command line: a layout folder, an OCI or docker
/// archive (optionally prefixed `oci:`, `oci-archive:`, `docker-archive:`), each
/// optionally followed by `:TAG` to keep only the entries tagged TAG
/// (`org.opencontainers.image.ref.name`; for a docker archive, a RepoTags entry), or a
/// registry reference (`docker://HOST/REPO:TAG`, or `HOST:PORT/REPO:TAG`).
pub fn open(name: &str, opts: crate::registry::ClientOptions) -> Result<Box<dyn Store>> {
    use crate::registry::{Reference, RegistryStore};
    if let Some(r) = name.strip_prefix("docker://") {
        return Ok(Box::new(RegistryStore::new(Reference::parse(r)?, opts)));
    }
    if Path::new(name).exists() {
        return open_path(Path::new(name));
    }
    let mut candidates = vec![name];
    for prefix in ["oci:", "oci-archive:", "docker-archive:"] {
        if let Some(p) = name.strip_prefix(prefix) {
            if Path::new(p).exists() {
                return open_path(Path::new(p));
            }
            candidates.push(p);
        }
    }
    for c in candidates.into_iter().rev() {
        if let Some((path, tag)) = split_path_tag(c) {
            return Ok(Box::new(Selected {
                inner: open_path(&path)?,
                tag,
            }));
        }
    }
    let first = name.split('/').next().unwrap_or("");
    if name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        return Ok(Box::new(RegistryStore::new(Reference::parse(name)?, opts)));
    }
    bail!("no image at {name:?}: no such file or folder (for a registry image write docker://HOST/REPOSITORY:TAG)")
}

/// `PATH:TAG` where PATH exists (the longest such prefix, so a docker archive's
/// `NAME:TAG` works as a tag) and TAG has no `/` (which would make it a registry
/// reference such as `localhost:5000/x`).
pub fn split_path_tag(s: &str) -> Option<(PathBuf, String)> {
    let mut best = None;
    for (i, _) in s.match_indices(':') {
        let (path, tag) = (&s[..i], &s[i + 1..]);
        if !path.is_empty() && !tag.is_empty() && !tag.contains('/') && Path::new(path).exists() {
            best = Some((PathBuf::from(path), tag.to_string()));
        }
    }
    best
}

/// The tags (ref names) of entries, in order, without repeats.
pub fn ref_names(roots: &[Descriptor]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in roots {
        if let Some(n) = ref_name(d) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// A store seen through `PATH:TAG`: only the entries tagged TAG.
pub struct Selected {
    inner: Box<dyn Store>,
    tag: String,
}

impl Store for Selected {
    fn describe(&self) -> String {
        format!("{}, tag {}", self.inner.describe(), self.tag)
    }
    fn format(&self) -> &'static str {
        self.inner.format()
    }
    fn roots(&mut self) -> Result<Vec<Descriptor>> {
        let all = self.inner.roots()?;
        let chosen: Vec<Descriptor> = all
            .iter()
            .filter(|d| ref_name(d).as_deref() == Some(self.tag.as_str()))
            .cloned()
            .collect();
        if chosen.is_empty() {
            let tags = ref_names(&all);
            if tags.is_empty() {
                bail!(
                    "{} has no entry tagged {:?}: it has no tagged entries (org.opencontainers.image.ref.name) at all",
                    self.inner.describe(),
                    self.tag
                );
            }
            bail!(
                "{} has no entry tagged {:?}; its tags: {}",
                self.inner.describe(),
                self.tag,
                tags.join(", ")
            );
        }
        Ok(chosen)
    }
    fn fetch(&mut self, d: &Descriptor) -> Result<Vec<u8>> {
        self.inner.fetch(d)
    }
}

/// Makes the walked image one thing a registry can tag (for push): one entry as it
/// is; several entries with one tag (or none) and distinct platforms, as a multi-arch
/// index made of them (added to the blobs as the new root). Several tags fail with
/// the list of them: the caller must choose with `PATH:TAG`.
pub fn single_root(blobs: &mut Blobs, source: &str) -> Result<()> {
    if blobs.roots.len() <= 1 {
        return Ok(());
    }
    let tags = ref_names(&blobs.roots);
    if tags.len() > 1 {
        bail!(
            "{source} holds {} tagged images ({}): choose one as PATH:TAG, e.g. {}:{}",
            tags.len(),
            tags.join(", "),
            source_path_hint(source),
            tags[0]
        );
    }
    let mut platforms = std::collections::BTreeSet::new();
    for d in &blobs.roots {
        let Some(p) = d.platform.as_ref().filter(|_| is_manifest(&d.media_type)) else {
            bail!(
                "{source} lists {} entries{} that do not form one multi-platform image (entry {} is not an image manifest with a platform); push needs one image or index",
                blobs.roots.len(),
                tags.first().map(|t| format!(" tagged {t}")).unwrap_or_default(),
                d.digest
            );
        };
        let key = format!(
            "{}/{}/{}",
            p.os,
            p.architecture,
            p.variant.as_deref().unwrap_or("")
        );
        if !platforms.insert(key.clone()) {
            bail!(
                "{source} lists {} entries{} with two for the same platform {}; push needs one image or index",
                blobs.roots.len(),
                tags.first().map(|t| format!(" tagged {t}")).unwrap_or_default(),
                key.trim_end_matches('/')
            );
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_INDEX.to_string()),
        manifests: blobs
            .roots
            .iter()
            .map(|d| Descriptor {
                annotations: None,
                ..d.clone()
            })
            .collect(),
        annotations: None,
    };
    let bytes = to_json(&index);
    let d = Descriptor {
        media_type: MEDIA_INDEX.to_string(),
        digest: Digest::of(&bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: tags
            .first()
            .map(|t| BTreeMap::from([(ANNOTATION_REF_NAME.to_string(), t.clone())])),
    };
    blobs.items.push((d.clone(), bytes));
    blobs.roots = vec![d];
    Ok(())
}

/// "OCI layout ./img" → "./img" (for the PATH:TAG hint).
fn source_path_hint(source: &str) -> &str {
    for p in ["OCI layout ", "OCI archive ", "docker archive "] {
        if let Some(rest) = source.strip_prefix(p) {
            return rest;
        }
    }
    "PATH"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tag_splits_only_at_an_existing_path() {
        let t = std::env::temp_dir().join(format!("mote-split-{}", std::process::id()));
        fs::create_dir_all(t.join("img")).unwrap();
        fs::write(t.join("a.tar"), b"").unwrap();
        let img = t.join("img").display().to_string();
        let tar = t.join("a.tar").display().to_string();
        assert_eq!(
            split_path_tag(&format!("{img}:v2")),
            Some((t.join("img"), "v2".to_string()))
        );
        // A docker archive's NAME:TAG is one tag.
        assert_eq!(
            split_path_tag(&format!("{tar}:site:1")),
            Some((t.join("a.tar"), "site:1".to_string()))
        );
        assert_eq!(split_path_tag(&format!("{img}:")), None);
        assert_eq!(split_path_tag(&format!("{img}-no:v2")), None);
        // HOST:PORT/REPO is a registry reference, never PATH:TAG.
        assert_eq!(split_path_tag(&format!("{img}:5000/x")), None);
        let _ = fs::remove_dir_all(&t);
    }
}
