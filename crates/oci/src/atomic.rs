//! All-or-nothing output: everything is built under a temporary name in the target's
//! own directory, then renamed into place. A failure removes the temporary; the
//! previous output, if any, is untouched until the final rename.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

fn temp_sibling(path: &Path, what: &str) -> Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("output path {} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(parent.join(format!(".{name}.{what}-{}", std::process::id())))
}

/// Fails early (before any work) if `path` cannot be replaced by an OCI layout dir.
pub fn check_dir_target(path: &Path) -> Result<()> {
    temp_sibling(path, "check")?;
    if path.exists() {
        let is_layout = path.join("oci-layout").is_file();
        let is_empty = path.is_dir() && fs::read_dir(path)?.next().is_none();
        if !is_layout && !is_empty {
            bail!(
                "{} exists and is not an OCI image layout; refusing to overwrite it (choose another -o)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Fails early if `path` is a directory (a file output would need to replace it).
pub fn check_file_target(path: &Path) -> Result<()> {
    temp_sibling(path, "check")?;
    if path.is_dir() {
        bail!(
            "{} is a directory; give a file name for the archive",
            path.display()
        );
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    check_file_target(path)?;
    let tmp = temp_sibling(path, "tmp")?;
    let result = (|| -> Result<()> {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates directory `path` atomically: `fill` populates a temporary directory, which
/// then replaces `path` (an existing OCI layout or empty directory is replaced).
pub fn write_dir(path: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    check_dir_target(path)?;
    let tmp = temp_sibling(path, "tmp")?;
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| -> Result<()> {
        fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        fill(&tmp)?;
        if path.exists() {
            let old = temp_sibling(path, "old")?;
            fs::rename(path, &old)
                .with_context(|| format!("cannot move the old {} aside", path.display()))?;
            if let Err(e) = fs::rename(&tmp, path) {
                let _ = fs::rename(&old, path);
                return Err(e).with_context(|| {
                    format!("cannot rename {} to {}", tmp.display(), path.display())
                });
            }
            fs::remove_dir_all(&old)
                .with_context(|| format!("cannot remove the old layout {}", old.display()))?;
        } else {
            fs::rename(&tmp, path).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), path.display())
            })?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes a file inside a directory being filled (no atomicity needed there).
pub fn put(dir: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut f = fs::File::create(&p).with_context(|| format!("cannot create {}", p.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", p.display()))?;
    f.sync_all()?;
    Ok(())
}
