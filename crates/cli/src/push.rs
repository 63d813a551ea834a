//! `mote push IMAGE REF...`: upload an image to OCI distribution registries.
//!
//! IMAGE is pushed whole when it holds one entry (an image, or an index), or several
//! untagged (or same-tagged) platform manifests, which go up as one multi-arch index.
//! A layout with several tags needs `PATH:TAG`; without it push fails listing them.
//! Chunked uploads that fail part-way resume from the `Range` the registry reports
//! for the upload session, or start over once if the registry dropped the session
//! (see `mote_oci::registry`).

use anyhow::{bail, Context, Result};
use mote_oci::read::{self, Blobs};
use mote_oci::registry::{self, Client, ClientOptions, Reference, UploadOptions};

/// How to reach a registry (shared by push, inspect and pack --push).
#[derive(clap::Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Registry credentials USER:PASSWORD (Basic auth, or for the token server)
    #[arg(
        long = "creds",
        value_name = "USER:PASSWORD",
        env = "MOTE_REGISTRY_AUTH",
        hide_env_values = true
    )]
    pub creds: Option<String>,
    /// Plain HTTP instead of HTTPS (a registry on localhost or a trusted network)
    #[arg(long)]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) for the registry's HTTPS, instead of the built-in Mozilla roots
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
}

impl RegistryArgs {
    pub fn client_options(&self, progress: bool) -> Result<ClientOptions> {
        let credentials = match &self.creds {
            Some(c) => {
                let (u, p) = c
                    .split_once(':')
                    .context("registry credentials must be USER:PASSWORD")?;
                Some((u.to_string(), p.to_string()))
            }
            None => None,
        };
        let ca_certs = match &self.ca_cert {
            Some(p) => registry::load_ca_file(p)?,
            None => Vec::new(),
        };
        Ok(ClientOptions {
            insecure: self.insecure,
            credentials,
            progress,
            ca_certs,
        })
    }
}

/// Upload tuning (shared by push and pack --push).
#[derive(clap::Args, Debug, Clone)]
pub struct UploadArgs {
    /// Upload every blob in PATCH chunks (default: only blobs over --chunk-size)
    #[arg(long)]
    pub chunked: bool,
    /// Chunk size in bytes for chunked uploads
    #[arg(long, value_name = "BYTES", default_value_t = registry::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: usize,
    /// Try to mount blobs from this repository of the same registry; repeatable
    #[arg(long, value_name = "REPO")]
    pub mount_from: Vec<String>,
    /// No progress lines on stderr
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An OCI layout folder, an OCI or docker archive; PATH:TAG pushes only the entry
    /// tagged TAG (org.opencontainers.image.ref.name) of a layout holding several
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Where to push: HOST[:PORT]/REPO[:TAG]; several push the same image to each,
    /// mounting blobs across repositories of the same registry
    #[arg(value_name = "REF", required = true)]
    pub refs: Vec<String>,
    /// Registry credentials USER:PASSWORD (same as --creds)
    #[arg(long = "user", short = 'u', value_name = "USER:PASSWORD")]
    pub user: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
}

pub fn run(args: Args) -> Result<()> {
    let mut reg = args.registry.clone();
    if args.user.is_some() {
        reg.creds = args.user.clone();
    }
    let mut store = read::open(&args.image, reg.client_options(false)?)?;
    let (_, mut blobs) = read::walk(store.as_mut(), read::WalkOptions::default())?;
    read::single_root(&mut blobs, &store.describe())?;
    for (r, d) in push_blobs(&blobs, &args.refs, &reg, &args.upload)? {
        println!("{r}@{d}");
    }
    Ok(())
}

/// Pushes verified blobs to each reference; returns (reference, digest) pairs.
pub fn push_blobs(
    blobs: &Blobs,
    refs: &[String],
    reg: &RegistryArgs,
    up: &UploadArgs,
) -> Result<Vec<(String, String)>> {
    let refs: Vec<Reference> = refs
        .iter()
        .map(|r| Reference::parse(r))
        .collect::<Result<_>>()?;
    if up.chunk_size == 0 {
        bail!("--chunk-size must be at least 1 byte");
    }
    let mut clients: Vec<(String, Client, Vec<String>)> = Vec::new();
    let mut out = Vec::new();
    let mut cache = registry::BlobCache::load(registry::BlobCache::default_path());
    for r in &refs {
        let idx = match clients.iter().position(|(h, _, _)| *h == r.registry) {
            Some(i) => i,
            None => {
                clients.push((
                    r.registry.clone(),
                    Client::new(&r.registry, reg.client_options(!up.quiet)?),
                    Vec::new(),
                ));
                clients.len() - 1
            }
        };
        let (_, client, pushed_repos) = &mut clients[idx];
        let mut mount_from = up.mount_from.clone();
        for p in pushed_repos.iter() {
            if *p != r.repository && !mount_from.contains(p) {
                mount_from.push(p.clone());
            }
        }
        let opts = UploadOptions {
            chunk_size: up.chunk_size,
            chunked: up.chunked,
            mount_from,
            known: cache.known(&r.registry),
        };
        let digest = registry::push(client, r, blobs, &opts)
            .with_context(|| format!("push to {r} failed"))?;
        pushed_repos.push(r.repository.clone());
        cache.record(
            &r.registry,
            &r.repository,
            blobs.items.iter().map(|(d, _)| d.digest.clone()),
        );
        if let Err(e) = cache.save() {
            eprintln!("mote: note: cannot save the pushed-blob cache (used for cross-repository mounts): {e:#}");
        }
        out.push((r.to_string(), digest.to_string()));
    }
    Ok(out)
}
