//! `mote inspect IMAGE`: what is in an image, every digest and size verified.

use std::fmt::Write as _;

use anyhow::Result;
use mote_oci::read::{self, Report};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An OCI layout folder, an OCI or docker archive, or a registry reference
    /// (docker://HOST[:PORT]/REPO:TAG)
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Machine-readable JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Do not list the files in each layer
    #[arg(long)]
    pub no_files: bool,
    /// Print only the total size in bytes (all blobs, as a registry stores them)
    #[arg(long)]
    pub size: bool,
    #[command(flatten)]
    pub registry: crate::push::RegistryArgs,
}

pub fn run(args: Args) -> Result<()> {
    let mut store = read::open(&args.image, args.registry.client_options(false)?)?;
    let (report, _) = read::walk(
        store.as_mut(),
        read::WalkOptions {
            list_files: !args.no_files && !args.size,
        },
    )?;
    if args.size {
        println!("{}", report.total_size);
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(())
}

fn list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn human(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} ({})", r.source, r.format);
    for i in &r.indexes {
        let name = i
            .ref_name
            .as_deref()
            .map(|n| format!(" ref {n}"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "index {} {} B{name}: {} manifests ({})",
            i.digest,
            i.size,
            i.manifests.len(),
            i.media_type
        );
    }
    for img in &r.images {
        let name = img
            .ref_name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let _ = writeln!(o, "\nimage{name} {}", img.platform);
        let _ = writeln!(
            o,
            "  manifest {} {:>8} B  {}",
            img.digest, img.size, img.media_type
        );
        let c = &img.config;
        let _ = writeln!(
            o,
            "  config   {} {:>8} B  created {}",
            c.digest,
            c.size,
            c.created.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            o,
            "    entrypoint {}  cmd {}",
            list(&c.entrypoint),
            list(&c.cmd)
        );
        let _ = writeln!(
            o,
            "    user {}  workdir {}  ports {}",
            c.user.as_deref().unwrap_or("- (root)"),
            c.working_dir.as_deref().unwrap_or("-"),
            if c.exposed_ports.is_empty() {
                "-".to_string()
            } else {
                c.exposed_ports.join(" ")
            }
        );
        for e in &c.env {
            let _ = writeln!(o, "    env {e}");
        }
        for (k, v) in &c.labels {
            let _ = writeln!(o, "    label {k}={v}");
        }
        for (n, l) in img.layers.iter().enumerate() {
            let _ = writeln!(
                o,
                "  layer {n}  {} {:>8} B  {} ({} B uncompressed, diff_id {})",
                l.digest, l.size, l.media_type, l.uncompressed_size, l.diff_id
            );
            for f in l.files.iter().flatten() {
                let t = match f.kind.as_str() {
                    "dir" => 'd',
                    "symlink" => 'l',
                    "hardlink" => 'h',
                    "char" => 'c',
                    "block" => 'b',
                    "fifo" => 'p',
                    _ => '-',
                };
                let link = f
                    .link
                    .as_deref()
                    .map(|l| format!(" -> {l}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "    {t}{} {:>5}:{:<5} {:>9} {}{link}",
                    rwx(&f.mode),
                    f.uid,
                    f.gid,
                    f.size,
                    f.path
                );
            }
        }
        let _ = writeln!(
            o,
            "  total {} B (manifest + config + layers)",
            img.total_size
        );
    }
    let n_blobs = r.indexes.len() + r.images.iter().map(|i| 2 + i.layers.len()).sum::<usize>();
    let _ = writeln!(
        o,
        "\ntotal {} B in blobs; {n_blobs} digests and sizes verified",
        r.total_size
    );
    o
}

fn rwx(mode: &str) -> String {
    let m = u32::from_str_radix(mode, 8).unwrap_or(0);
    let mut s = String::new();
    for shift in [6, 3, 0] {
        let b = (m >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}
