//! mote-oci: OCI images for micro-containers.
//!
//! - [`tar`]: a deterministic ustar writer for layers;
//! - [`compress`]: zopfli gzip, zstd, brotli;
//! - [`elf`]: the static-binary checks;
//! - [`image`]: building an image, writing OCI layouts, OCI and docker archives;
//! - [`read`]: opening any of those (or a registry), verifying every blob;
//! - [`registry`]: an OCI distribution client (push, pull, auth).
//!
//! Same inputs give byte-identical images: no clock, no host names, no file owners,
//! no mtimes but SOURCE_DATE_EPOCH.

pub mod atomic;
pub mod compress;
pub mod digest;
pub mod elf;
pub mod image;
pub mod read;
pub mod registry;
pub mod spec;
pub mod tar;

pub use compress::Compression;
pub use digest::Digest;
pub use elf::Arch;
pub use image::{build, BuildSpec, Image, PlatformFs};
