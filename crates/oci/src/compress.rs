//! Layer compression: gzip (zopfli, the smallest gzip there is), zstd, or none.
//!
//! All encoders here are deterministic: the same input gives the same bytes on every
//! machine. The gzip header is fixed (mtime 0, no file name, XFL 2, OS 3 = Unix).

use std::io::{Read, Write};
use std::num::NonZeroU64;

use anyhow::{bail, Context, Result};

/// Layers above this size are gzipped with zlib level 9 instead of zopfli, whose
/// cost grows to minutes for tens of megabytes. Micro-container layers are far below.
pub const ZOPFLI_MAX_INPUT: usize = 32 << 20;

/// zstd level for `--compression zstd`: the maximum (ultra) level, 22.
pub const ZSTD_LEVEL: i32 = 22;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub fn parse(s: &str) -> Result<Compression> {
        Ok(match s {
            "gzip" | "gz" => Compression::Gzip,
            "zstd" | "zst" => Compression::Zstd,
            "none" | "uncompressed" => Compression::None,
            other => bail!("unknown compression {other:?}: use gzip, zstd or none"),
        })
    }

    /// The OCI layer media type for a tar compressed this way.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => crate::spec::MEDIA_LAYER_GZIP,
            Compression::Zstd => crate::spec::MEDIA_LAYER_ZSTD,
            Compression::None => crate::spec::MEDIA_LAYER_TAR,
        }
    }

    /// Which compression a layer media type implies.
    pub fn from_media_type(mt: &str) -> Result<Compression> {
        Ok(match mt {
            crate::spec::MEDIA_LAYER_GZIP | crate::spec::MEDIA_DOCKER_LAYER_GZIP => {
                Compression::Gzip
            }
            crate::spec::MEDIA_LAYER_ZSTD => Compression::Zstd,
            crate::spec::MEDIA_LAYER_TAR | crate::spec::MEDIA_DOCKER_LAYER_TAR => Compression::None,
            other => bail!("unsupported layer media type {other:?}"),
        })
    }

    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Compression::Gzip => gzip(data),
            Compression::Zstd => {
                zstd::bulk::compress(data, ZSTD_LEVEL).context("zstd compression failed")
            }
            Compression::None => Ok(data.to_vec()),
        }
    }

    /// Decompresses, refusing to produce more than `limit` bytes (a guard against
    /// decompression bombs in images we only inspect).
    pub fn decompress(self, data: &[u8], limit: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let n = match self {
            Compression::Gzip => flate2::read::GzDecoder::new(data)
                .take(limit.saturating_add(1))
                .read_to_end(&mut out),
            Compression::Zstd => zstd::stream::read::Decoder::new(data)?
                .take(limit.saturating_add(1))
                .read_to_end(&mut out),
            Compression::None => return Ok(data.to_vec()),
        }
        .with_context(|| format!("{self:?} stream is corrupt or truncated"))?;
        if n as u64 > limit {
            bail!("decompresses to more than {limit} bytes");
        }
        Ok(out)
    }
}

/// gzip with zopfli (15 iterations, 5 for inputs over 1 MiB), or zlib level 9 past
/// [`ZOPFLI_MAX_INPUT`]. Used for layers and for `--precompress` `.gz` files.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if data.len() > ZOPFLI_MAX_INPUT {
        let mut enc = flate2::GzBuilder::new()
            .operating_system(3)
            .write(&mut out, flate2::Compression::best());
        enc.write_all(data)?;
        enc.finish()?;
        return Ok(out);
    }
    let iterations = if data.len() > 1 << 20 { 5 } else { 15 };
    let options = zopfli::Options {
        iteration_count: NonZeroU64::new(iterations).unwrap(),
        ..Default::default()
    };
    zopfli::compress(options, zopfli::Format::Gzip, data, &mut out)
        .context("zopfli gzip failed")?;
    Ok(out)
}

/// Brotli at quality 11 with a window fitted to the input: for `--precompress`.
pub fn brotli(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: data.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params)
        .context("brotli compression failed")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_header_is_fixed_and_roundtrips() {
        let data = b"hello hello hello hello hello".repeat(20);
        let gz = gzip(&data).unwrap();
        assert_eq!(&gz[..10], &[31, 139, 8, 0, 0, 0, 0, 0, 2, 3]);
        assert_eq!(Compression::Gzip.decompress(&gz, 1 << 20).unwrap(), data);
        assert_eq!(gzip(&data).unwrap(), gz);
        // zopfli must beat zlib -9 (or tie) on compressible input.
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&data).unwrap();
        assert!(gz.len() <= z.finish().unwrap().len());
    }

    #[test]
    fn zstd_and_brotli_roundtrip_deterministically() {
        let data = b"<html><body>mote</body></html>\n".repeat(40);
        let z = Compression::Zstd.compress(&data).unwrap();
        assert_eq!(Compression::Zstd.decompress(&z, 1 << 20).unwrap(), data);
        assert_eq!(Compression::Zstd.compress(&data).unwrap(), z);
        let b = brotli(&data).unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &b[..], &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn decompress_limit_is_enforced() {
        let gz = gzip(&vec![0u8; 10_000]).unwrap();
        assert!(Compression::Gzip.decompress(&gz, 100).is_err());
    }
}
