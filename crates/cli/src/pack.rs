//! `mote pack`: static binaries (or the embedded mote-httpd) and files → an OCI image.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mote_oci::spec::{ContainerConfig, Empty};
use mote_oci::tar::{Kind, Tree};
use mote_oci::{atomic, compress, elf, image, Arch, Compression};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The page served when mote-httpd is packed without a site.
const DEFAULT_INDEX: &str = "<!doctype html><meta charset=utf-8><title>mote</title>\
<h1>It works.</h1><p>Served by mote-httpd from a micro-container. Add your site with <code>mote pack --site DIR</code>.</p>\n";

/// Files at least this big are worth a precompressed variant (smaller ones gain a few
/// bytes at most, and cost an extra lookup).
const PRECOMPRESS_MIN: usize = 256;

/// Extensions of text-like files that compress (the rest are usually compressed already).
const COMPRESSIBLE: &[&str] = &[
    "html",
    "htm",
    "css",
    "js",
    "mjs",
    "cjs",
    "json",
    "map",
    "svg",
    "xml",
    "txt",
    "md",
    "csv",
    "wasm",
    "ico",
    "webmanifest",
    "rss",
    "atom",
    "ttf",
    "otf",
    "eot",
    "yaml",
    "yml",
    "toml",
];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Static ELF binaries, one per architecture (detected from the ELF header).
    /// Default: the mote-httpd inside this mote
    #[arg(value_name = "BIN")]
    pub binaries: Vec<PathBuf>,
    /// A binary with its architecture stated (amd64, arm64, ...) and checked; repeatable
    #[arg(long = "binary", value_name = "[ARCH=]PATH")]
    pub binary: Vec<String>,
    /// Copy a file or folder into the image; repeatable (e.g. --add ./site:/www)
    #[arg(long, value_name = "SRC:DEST")]
    pub add: Vec<String>,
    /// The site folder for mote-httpd: same as --add DIR:/www
    #[arg(long, value_name = "DIR")]
    pub site: Option<PathBuf>,
    /// Entrypoint: a path, or a JSON array like '["/app","--flag"]'
    #[arg(long, value_name = "PATH|JSON")]
    pub entrypoint: Option<String>,
    /// One argument for the entrypoint (Cmd); repeatable. Arguments after `--` are added too
    #[arg(long = "cmd", value_name = "ARG", allow_hyphen_values = true)]
    pub cmd: Vec<String>,
    /// Arguments for the entrypoint (Cmd)
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
    /// Environment variable; repeatable
    #[arg(long, value_name = "K=V")]
    pub env: Vec<String>,
    /// Port the program listens on (PORT or PORT/udp); repeatable
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub expose: Vec<String>,
    /// Working directory of the process
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Image label; repeatable. org.opencontainers.image.* labels are filled where known
    #[arg(long, value_name = "K=V")]
    pub label: Vec<String>,
    /// Numeric UID:GID the process runs as (non-root by default)
    #[arg(long, value_name = "UID:GID", default_value = "65532:65532")]
    pub user: String,
    /// Image name and tag (NAME[:TAG]); the tag names the image in the layout
    #[arg(long, short = 't', value_name = "NAME[:TAG]")]
    pub tag: Option<String>,
    /// Output path (default: NAME.oci, NAME.oci.tar or NAME.docker.tar)
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "oci")]
    pub format: Format,
    /// Layer compression: gzip (zopfli), zstd or none
    #[arg(long, default_value = "gzip", value_parser = Compression::parse)]
    pub compression: Compression,
    /// Add .br and .gz variants of compressible site files (when smaller)
    #[arg(long)]
    pub precompress: bool,
    /// Which embedded mote-httpd architectures to pack (default: all embedded)
    #[arg(long = "arch", value_name = "ARCH")]
    pub arch: Vec<String>,
    /// Seconds since 1970 for every mtime and the created time
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    pub source_date_epoch: u64,
    /// Print the image's size in bytes (manifests + configs + layers, as pushed) on stdout
    #[arg(long)]
    pub print_size: bool,
    /// Push the image to REF (HOST[:PORT]/REPO[:TAG]) after packing; -o still writes a copy
    #[arg(long = "push", value_name = "REF")]
    pub push_to: Option<String>,
    #[command(flatten)]
    pub registry: crate::push::RegistryArgs,
    #[command(flatten)]
    pub upload: crate::push::UploadArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OCI image layout directory
    Oci,
    /// tar of an OCI image layout
    OciArchive,
    /// `docker load` archive (one architecture)
    DockerArchive,
}

struct Binary {
    arch: Arch,
    bytes: Vec<u8>,
}

pub fn run(args: Args) -> Result<()> {
    let packed = pack(&args)?;
    if args.print_size {
        println!("{}", packed.size);
    } else {
        println!("{}", packed.digest);
    }
    Ok(())
}

pub struct Packed {
    pub digest: String,
    pub size: u64,
}

pub fn pack(args: &Args) -> Result<Packed> {
    let epoch = args.source_date_epoch;

    // 1. Binaries: given ones, checked; or the embedded server.
    let mut binaries: Vec<Binary> = Vec::new();
    let mut bin_name: Option<String> = None;
    let mut given: Vec<(Option<Arch>, PathBuf)> =
        args.binaries.iter().map(|p| (None, p.clone())).collect();
    for b in &args.binary {
        match b.split_once('=') {
            Some((arch, path)) if !arch.contains('/') => {
                given.push((Some(Arch::parse(arch)?), PathBuf::from(path)))
            }
            _ => given.push((None, PathBuf::from(b))),
        }
    }
    let embedded = given.is_empty();
    for (want, path) in &given {
        let shown = path.display().to_string();
        let bytes = fs::read(path).with_context(|| format!("cannot read binary {shown}"))?;
        let info = elf::check_static(&shown, &bytes, *want)?;
        if let Some(other) = binaries.iter().find(|b| b.arch == info.arch) {
            let _ = other;
            bail!(
                "two binaries for {} (the second is {shown}); give one binary per architecture",
                info.arch
            );
        }
        if bin_name.is_none() {
            let name = path
                .file_name()
                .with_context(|| format!("{shown} has no file name"))?;
            bin_name = Some(
                name.to_str()
                    .with_context(|| format!("{shown}: file name is not UTF-8"))?
                    .to_string(),
            );
        }
        binaries.push(Binary {
            arch: info.arch,
            bytes,
        });
    }
    if embedded {
        let wanted: Vec<Arch> = args
            .arch
            .iter()
            .map(|a| Arch::parse(a))
            .collect::<Result<_>>()?;
        for (arch, bytes) in EMBEDDED_HTTPD {
            let arch = Arch::parse(arch)?;
            if wanted.is_empty() || wanted.contains(&arch) {
                elf::check_static(&format!("embedded mote-httpd ({arch})"), bytes, Some(arch))?;
                binaries.push(Binary {
                    arch,
                    bytes: bytes.to_vec(),
                });
            }
        }
        if binaries.is_empty() {
            let have: Vec<&str> = EMBEDDED_HTTPD.iter().map(|(a, _)| *a).collect();
            bail!(
                "this mote carries mote-httpd for {} only, not {}; build mote with MOTE_HTTPD_BIN_ARM64 for arm64, or pack a binary",
                have.join(", "),
                args.arch.join(", ")
            );
        }
        bin_name = Some("mote-httpd".to_string());
    } else if !args.arch.is_empty() {
        bail!("--arch selects among the embedded mote-httpd builds; with binaries given, use --binary ARCH=PATH");
    }
    let bin_name = bin_name.expect("set above");

    // 2. Files shared by every platform.
    let mut files = Tree::new();
    let mut site_files: Vec<String> = Vec::new();
    let mut adds: Vec<(PathBuf, String)> = Vec::new();
    if let Some(site) = &args.site {
        adds.push((site.clone(), "/www".to_string()));
    }
    for a in &args.add {
        let Some(i) = a.rfind(":/") else {
            bail!("--add {a:?}: expected SRC:DEST with an absolute DEST, e.g. --add ./site:/www");
        };
        adds.push((PathBuf::from(&a[..i]), a[i + 1..].to_string()));
    }
    for (src, dest) in &adds {
        add_path(&mut files, src, dest, &mut site_files)?;
    }
    if embedded {
        if adds.is_empty() {
            files.add_file("/www/index.html", DEFAULT_INDEX.as_bytes().to_vec(), false)?;
            site_files.push("www/index.html".to_string());
        } else {
            files.add_dir("/www")?;
        }
    }
    if args.precompress {
        precompress(&mut files, &site_files)?;
    }
    let bin_path = format!("/{bin_name}");
    if files.get(&bin_name).is_some() {
        bail!("{bin_path} is both the binary and a file from --add; move one of them");
    }

    // 3. Config.
    let (image_name, tag) = parse_tag(args.tag.as_deref(), &bin_name)?;
    let entrypoint = match &args.entrypoint {
        Some(e) if e.trim_start().starts_with('[') => {
            let v: Vec<String> = serde_json::from_str(e)
                .with_context(|| format!("--entrypoint {e:?} is not a JSON array of strings"))?;
            if v.is_empty() {
                bail!("--entrypoint must not be empty");
            }
            v
        }
        Some(e) => vec![e.clone()],
        None => vec![bin_path.clone()],
    };
    let mut cmd: Vec<String> = args.cmd.iter().chain(&args.args).cloned().collect();
    let mut expose = args.expose.clone();
    if embedded {
        if cmd.is_empty() && args.entrypoint.is_none() {
            cmd = vec!["--root".into(), "/www".into()];
        }
        if expose.is_empty() {
            expose.push("8080".into());
        }
    }
    let mut ports = BTreeMap::new();
    for p in &expose {
        let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let ok = num.parse::<u16>().map(|n| n > 0).unwrap_or(false)
            && matches!(proto, "tcp" | "udp" | "sctp");
        if !ok {
            bail!("--expose {p:?}: expected PORT or PORT/tcp|udp|sctp with PORT in 1..65535");
        }
        ports.insert(format!("{num}/{proto}"), Empty {});
    }
    for e in &args.env {
        if !e.contains('=') || e.starts_with('=') {
            bail!("--env {e:?}: expected NAME=VALUE");
        }
    }
    let user = parse_user(&args.user)?;
    let mut labels = BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.created".to_string(),
        image::rfc3339(epoch),
    );
    labels.insert(
        "org.opencontainers.image.title".to_string(),
        image_name.rsplit('/').next().unwrap().to_string(),
    );
    if tag != "latest" {
        labels.insert("org.opencontainers.image.version".to_string(), tag.clone());
    }
    if embedded {
        labels.insert(
            "org.opencontainers.image.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        );
        labels.insert(
            "org.opencontainers.image.licenses".to_string(),
            env!("CARGO_PKG_LICENSE").to_string(),
        );
    }
    for l in &args.label {
        let Some((k, v)) = l.split_once('=') else {
            bail!("--label {l:?}: expected KEY=VALUE");
        };
        if k.is_empty() {
            bail!("--label {l:?}: the key is empty");
        }
        labels.insert(k.to_string(), v.to_string());
    }
    if let Some(w) = &args.workdir {
        if !w.starts_with('/') {
            bail!("--workdir {w:?} must be an absolute path");
        }
    }
    let config = ContainerConfig {
        user: Some(user),
        exposed_ports: (!ports.is_empty()).then_some(ports),
        env: (!args.env.is_empty()).then(|| args.env.clone()),
        entrypoint: Some(entrypoint),
        cmd: (!cmd.is_empty()).then_some(cmd),
        working_dir: args.workdir.clone(),
        labels: Some(labels),
        stop_signal: None,
    };

    // 4. Check the output target before the work, so a bad -o fails fast.
    let output = match (&args.output, &args.push_to) {
        (Some(o), _) => Some(o.clone()),
        (None, Some(_)) => None,
        (None, None) => {
            let base = image_name.rsplit('/').next().unwrap();
            Some(PathBuf::from(match args.format {
                Format::Oci => format!("{base}.oci"),
                Format::OciArchive => format!("{base}.oci.tar"),
                Format::DockerArchive => format!("{base}.docker.tar"),
            }))
        }
    };
    if let Some(o) = &output {
        match args.format {
            Format::Oci => atomic::check_dir_target(o)?,
            _ => atomic::check_file_target(o)?,
        }
    }
    if args.format == Format::DockerArchive && binaries.len() > 1 {
        let arches: Vec<&str> = binaries.iter().map(|b| b.arch.oci()).collect();
        bail!(
            "a docker-archive holds one architecture, but {} were given ({}); \
             pack one binary (or --arch) for docker-archive, or use --format oci / oci-archive for a multi-arch index",
            binaries.len(),
            arches.join(", ")
        );
    }

    // 5. Build and write.
    let platforms = binaries
        .into_iter()
        .map(|b| {
            let mut tree = files.clone();
            tree.add_file(&bin_path, b.bytes, true)?;
            Ok(image::PlatformFs { arch: b.arch, tree })
        })
        .collect::<Result<Vec<_>>>()?;
    let spec = image::BuildSpec {
        platforms,
        config,
        source_date_epoch: epoch,
        compression: args.compression,
        tag: tag.clone(),
    };
    let (img, summaries) = image::build(&spec)?;

    if let Some(o) = &output {
        match args.format {
            Format::Oci => img.write_layout(o)?,
            Format::OciArchive => atomic::write_file(o, &img.oci_archive_bytes(epoch)?)?,
            Format::DockerArchive => atomic::write_file(
                o,
                &img.docker_archive_bytes(&format!("{image_name}:{tag}"), epoch)?,
            )?,
        }
    }
    let top = &img.index.manifests[0];
    let size: u64 = img.blobs.values().map(|b| b.len() as u64).sum();
    for s in &summaries {
        eprintln!(
            "mote: {image_name}:{tag} linux/{}: manifest {} B + config {} B + layer {} B ({} B uncompressed) = {} B",
            s.arch,
            s.manifest.size,
            s.config.size,
            s.layer.size,
            s.uncompressed,
            s.total()
        );
    }
    match &output {
        Some(o) => eprintln!(
            "mote: wrote {} ({:?}), {size} B in blobs, digest {}",
            o.display(),
            args.format,
            top.digest
        ),
        None => eprintln!("mote: packed {size} B in blobs, digest {}", top.digest),
    }
    if let Some(r) = &args.push_to {
        let mut store = mote_oci::read::MemoryStore { image: &img };
        let (_, blobs) = mote_oci::read::walk(&mut store, mote_oci::read::WalkOptions::default())?;
        crate::push::push_blobs(
            &blobs,
            std::slice::from_ref(r),
            &args.registry,
            &args.upload,
        )?;
    }
    Ok(Packed {
        digest: top.digest.to_string(),
        size,
    })
}

/// NAME[:TAG] → (name, tag); the default name is the binary's.
fn parse_tag(tag: Option<&str>, bin_name: &str) -> Result<(String, String)> {
    let s = tag.unwrap_or(bin_name);
    let (name, tag) = match s.rfind(':') {
        Some(i) if !s[i..].contains('/') => (&s[..i], &s[i + 1..]),
        _ => (s, "latest"),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && tag.as_bytes()[0] != b'.'
        && tag.as_bytes()[0] != b'-';
    if tag.is_empty() || !name_ok || !tag_ok {
        bail!(
            "image name {s:?} is not a valid NAME[:TAG]: names are lowercase letters, digits and ._-/, \
             tags up to 128 letters, digits and ._- (give --tag, e.g. --tag site:1.0)"
        );
    }
    Ok((name.to_string(), tag.to_string()))
}

fn parse_user(u: &str) -> Result<String> {
    let (uid, gid) = u.split_once(':').unwrap_or((u, u));
    if uid.parse::<u32>().is_err() || gid.parse::<u32>().is_err() {
        bail!(
            "--user {u:?}: give a numeric UID:GID (the image has no /etc/passwd to look names up in), e.g. 65532:65532"
        );
    }
    Ok(format!("{uid}:{gid}"))
}

/// Adds `src` (a file or a folder, recursively) at image path `dest`.
fn add_path(tree: &mut Tree, src: &Path, dest: &str, site_files: &mut Vec<String>) -> Result<()> {
    let meta = fs::metadata(src)
        .with_context(|| format!("cannot read {} (from --add/--site)", src.display()))?;
    if meta.is_dir() {
        tree.add_dir(dest)?;
        add_dir_contents(tree, src, dest, site_files)
    } else if meta.is_file() {
        let dest = if dest.ends_with('/') {
            let name = src
                .file_name()
                .with_context(|| format!("{} has no file name", src.display()))?;
            format!(
                "{dest}{}",
                name.to_str()
                    .with_context(|| format!("{}: file name is not UTF-8", src.display()))?
            )
        } else {
            dest.to_string()
        };
        add_file(tree, src, &meta, &dest, site_files)
    } else {
        bail!(
            "{} is neither a file nor a folder; mote packs files, folders and symlinks",
            src.display()
        )
    }
}

fn add_file(
    tree: &mut Tree,
    src: &Path,
    meta: &fs::Metadata,
    dest: &str,
    site_files: &mut Vec<String>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let data = fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    tree.add_file(dest, data, meta.permissions().mode() & 0o111 != 0)?;
    site_files.push(mote_oci::tar::normalize_path(dest)?);
    Ok(())
}

fn add_dir_contents(
    tree: &mut Tree,
    dir: &Path,
    dest: &str,
    site_files: &mut Vec<String>,
) -> Result<()> {
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        let name = e
            .file_name()
            .into_string()
            .map_err(|n| anyhow::anyhow!("{}: file name {n:?} is not UTF-8", dir.display()))?;
        entries.push((name, e.path()));
    }
    entries.sort();
    for (name, path) in entries {
        let target = format!("{}/{name}", dest.trim_end_matches('/'));
        let meta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let link = fs::read_link(&path)?;
            let link = link
                .to_str()
                .with_context(|| format!("{}: link target is not UTF-8", path.display()))?;
            tree.add_symlink(&target, link)?;
        } else if ft.is_dir() {
            tree.add_dir(&target)?;
            add_dir_contents(tree, &path, &target, site_files)?;
        } else if ft.is_file() {
            add_file(tree, &path, &meta, &target, site_files)?;
        } else {
            bail!(
                "{} is a special file (device, socket or fifo); it cannot go into an image",
                path.display()
            );
        }
    }
    Ok(())
}

/// Adds `.gz` (zopfli) and `.br` (brotli 11) variants of compressible files, each only
/// when it is smaller than the original and not already present.
fn precompress(tree: &mut Tree, site_files: &[String]) -> Result<()> {
    let mut add: Vec<(String, Vec<u8>)> = Vec::new();
    for path in site_files {
        let Some(Kind::File { data, .. }) = tree.get(path) else {
            continue;
        };
        let ext = path
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if data.len() < PRECOMPRESS_MIN || !COMPRESSIBLE.contains(&ext.as_str()) {
            continue;
        }
        for (suffix, bytes) in [
            (".gz", compress::gzip(data)?),
            (".br", compress::brotli(data)?),
        ] {
            let p = format!("{path}{suffix}");
            if bytes.len() < data.len() && tree.get(&p).is_none() {
                add.push((p, bytes));
            }
        }
    }
    for (p, bytes) in add {
        tree.add_file(&p, bytes, false)?;
    }
    Ok(())
}
