//! Building an image in memory and writing it as an OCI layout, an OCI archive or a
//! docker archive.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::compress::Compression;
use crate::elf::Arch;
use crate::spec::*;
use crate::tar::Tree;
use crate::{atomic, Digest};

/// One platform's root filesystem.
pub struct PlatformFs {
    pub arch: Arch,
    pub tree: Tree,
}

/// Everything `build` needs.
pub struct BuildSpec {
    pub platforms: Vec<PlatformFs>,
    pub config: ContainerConfig,
    /// SOURCE_DATE_EPOCH: every mtime and the `created` time.
    pub source_date_epoch: u64,
    pub compression: Compression,
    /// The tag recorded as `org.opencontainers.image.ref.name` in index.json.
    pub tag: String,
}

/// An image held in memory: the layout's index.json and every blob.
#[derive(Clone, Debug)]
pub struct Image {
    pub index: Index,
    pub blobs: BTreeMap<Digest, Vec<u8>>,
}

/// What was built for one platform.
#[derive(Clone, Debug)]
pub struct PlatformSummary {
    pub arch: Arch,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layer: Descriptor,
    pub uncompressed: u64,
}

impl PlatformSummary {
    /// Manifest + config + layer: the bytes a registry stores for this platform.
    pub fn total(&self) -> u64 {
        self.manifest.size + self.config.size + self.layer.size
    }
}

/// Formats seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: Digest::of(bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: None,
    }
}

fn platform_of(arch: Arch) -> Platform {
    Platform {
        architecture: arch.oci().to_string(),
        os: "linux".to_string(),
        variant: arch.variant().map(str::to_string),
    }
}

/// Builds the image: one layer, config and manifest per platform; an image index
/// when there are several platforms.
pub fn build(spec: &BuildSpec) -> Result<(Image, Vec<PlatformSummary>)> {
    if spec.platforms.is_empty() {
        bail!("nothing to pack: no binary for any platform");
    }
    let mut arches: Vec<Arch> = spec.platforms.iter().map(|p| p.arch).collect();
    arches.sort();
    arches.dedup();
    if arches.len() != spec.platforms.len() {
        bail!("two binaries for the same architecture; give one per platform");
    }
    // Compress the platforms' layers in parallel: zopfli is the slow part.
    let layers: Vec<Result<(Vec<u8>, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = spec
            .platforms
            .iter()
            .map(|p| {
                s.spawn(move || -> Result<(Vec<u8>, Vec<u8>)> {
                    let tar = p.tree.to_tar(spec.source_date_epoch)?;
                    let compressed = spec.compression.compress(&tar)?;
                    Ok((tar, compressed))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("compression thread panicked"))
            .collect()
    });

    let mut blobs = BTreeMap::new();
    let mut summaries = Vec::new();
    for (p, layer) in spec.platforms.iter().zip(layers) {
        let (tar, compressed) = layer?;
        let diff_id = Digest::of(&tar);
        let layer_desc = descriptor(spec.compression.layer_media_type(), &compressed);
        let config = ImageConfig {
            created: Some(rfc3339(spec.source_date_epoch)),
            architecture: p.arch.oci().to_string(),
            os: "linux".to_string(),
            variant: p.arch.variant().map(str::to_string),
            config: Some(spec.config.clone()),
            rootfs: RootFs {
                kind: "layers".to_string(),
                diff_ids: vec![diff_id],
            },
        };
        let config_bytes = to_json(&config);
        let config_desc = descriptor(MEDIA_CONFIG, &config_bytes);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_MANIFEST.to_string()),
            config: config_desc.clone(),
            layers: vec![layer_desc.clone()],
            annotations: None,
        };
        let manifest_bytes = to_json(&manifest);
        let mut manifest_desc = descriptor(MEDIA_MANIFEST, &manifest_bytes);
        manifest_desc.platform = Some(platform_of(p.arch));
        blobs.insert(layer_desc.digest.clone(), compressed);
        blobs.insert(config_desc.digest.clone(), config_bytes);
        blobs.insert(manifest_desc.digest.clone(), manifest_bytes);
        summaries.push(PlatformSummary {
            arch: p.arch,
            manifest: manifest_desc,
            config: config_desc,
            layer: layer_desc,
            uncompressed: tar.len() as u64,
        });
    }

    let ref_annotation = Some(BTreeMap::from([(
        ANNOTATION_REF_NAME.to_string(),
        spec.tag.clone(),
    )]));
    let top = if summaries.len() == 1 {
        let mut d = summaries[0].manifest.clone();
        d.annotations = ref_annotation;
        d
    } else {
        let nested = Index {
            schema_version: 2,
            media_type: Some(MEDIA_INDEX.to_string()),
            manifests: summaries.iter().map(|s| s.manifest.clone()).collect(),
            annotations: None,
        };
        let bytes = to_json(&nested);
        let mut d = descriptor(MEDIA_INDEX, &bytes);
        blobs.insert(d.digest.clone(), bytes);
        d.annotations = ref_annotation;
        d
    };
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_INDEX.to_string()),
        manifests: vec![top],
        annotations: None,
    };
    Ok((Image { index, blobs }, summaries))
}

impl Image {
    /// The layout's files: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
    pub fn layout_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            (
                "oci-layout".to_string(),
                OCI_LAYOUT_FILE.as_bytes().to_vec(),
            ),
            ("index.json".to_string(), to_json(&self.index)),
        ];
        for (d, b) in &self.blobs {
            files.push((format!("blobs/sha256/{}", d.hex()), b.clone()));
        }
        files
    }

    /// Writes an OCI image layout directory atomically.
    pub fn write_layout(&self, dir: &Path) -> Result<()> {
        atomic::write_dir(dir, |tmp| {
            for (rel, bytes) in self.layout_files() {
                atomic::put(tmp, &rel, &bytes)?;
            }
            Ok(())
        })
    }

    /// The OCI layout as a tar archive (`oci-archive:`), deterministic like layers.
    pub fn oci_archive_bytes(&self, epoch: u64) -> Result<Vec<u8>> {
        let mut tree = Tree::new();
        for (rel, bytes) in self.layout_files() {
            tree.add_file(&rel, bytes, false)?;
        }
        tree.to_tar(epoch)
    }

    /// The image as a `docker load` archive: `manifest.json`, `<config hex>.json` and
    /// `<diff id hex>.tar` (the uncompressed layer, as `docker save` writes it).
    /// One platform only: the format has no place for an index.
    pub fn docker_archive_bytes(&self, repo_tag: &str, epoch: u64) -> Result<Vec<u8>> {
        let manifests = self.platform_manifests()?;
        if manifests.len() != 1 {
            let platforms: Vec<String> = manifests
                .iter()
                .map(|(d, _)| {
                    d.platform
                        .as_ref()
                        .map(|p| p.architecture.clone())
                        .unwrap_or_default()
                })
                .collect();
            bail!(
                "a docker-archive holds one architecture, but this image has {} ({}); \
                 pack one --binary for docker-archive, or use --format oci / oci-archive for a multi-arch index",
                manifests.len(),
                platforms.join(", ")
            );
        }
        let (_, manifest) = &manifests[0];
        let config_bytes = self.blob(&manifest.config.digest)?;
        let config: ImageConfig =
            serde_json::from_slice(config_bytes).context("image config is not valid JSON")?;
        let mut tree = Tree::new();
        let config_name = format!("{}.json", manifest.config.digest.hex());
        tree.add_file(&config_name, config_bytes.to_vec(), false)?;
        let mut layer_names = Vec::new();
        for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
            let compression = Compression::from_media_type(&layer.media_type)?;
            let tar = compression.decompress(self.blob(&layer.digest)?, u64::MAX)?;
            if Digest::of(&tar) != *diff_id {
                bail!(
                    "layer {} does not match its diff_id {diff_id}",
                    layer.digest
                );
            }
            let name = format!("{}.tar", diff_id.hex());
            tree.add_file(&name, tar, false)?;
            layer_names.push(name);
        }
        let docker_manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": [repo_tag],
            "Layers": layer_names,
        }]);
        tree.add_file(
            "manifest.json",
            serde_json::to_vec(&docker_manifest)?,
            false,
        )?;
        tree.to_tar(epoch)
    }

    pub fn blob(&self, d: &Digest) -> Result<&[u8]> {
        self.blobs
            .get(d)
            .map(Vec::as_slice)
            .with_context(|| format!("blob {d} is missing"))
    }

    /// Every platform manifest, through nested indexes.
    pub fn platform_manifests(&self) -> Result<Vec<(Descriptor, Manifest)>> {
        let mut out = Vec::new();
        let mut stack: Vec<Descriptor> = self.index.manifests.iter().rev().cloned().collect();
        while let Some(d) = stack.pop() {
            let bytes = self.blob(&d.digest)?;
            if is_index(&d.media_type) {
                let idx: Index = serde_json::from_slice(bytes)?;
                stack.extend(idx.manifests.into_iter().rev());
            } else if is_manifest(&d.media_type) {
                out.push((d, serde_json::from_slice(bytes)?));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
