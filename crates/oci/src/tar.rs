//! A deterministic ustar writer for image layers.
//!
//! Hand-rolled on purpose: every byte of a layer feeds its digest, so the writer
//! controls each header field itself rather than configuring a general tar library
//! away from its defaults (the `tar` crate's deterministic mode, for one, stamps a
//! fixed mtime of its own and writes GNU long-name/PAX records when a path is long).
//! The rules:
//!
//! - entries sorted by path (byte order), each parent directory emitted explicitly
//!   before its children;
//! - owner 0:0, no user or group names, device numbers 0;
//! - one mtime for all entries (SOURCE_DATE_EPOCH);
//! - modes normalised: 0755 for directories and executables, 0644 for other files,
//!   0777 for symlinks;
//! - plain POSIX ustar only: no PAX or GNU records; a path that does not fit the
//!   ustar name/prefix fields is an error, not a variable extension;
//! - the archive ends with the two zero blocks the format requires, nothing more.
//!
//! Reading (inspect, archives) uses the `tar` crate, which handles every dialect.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File { data: Vec<u8>, executable: bool },
    Symlink { target: String },
}

/// A file tree to become one layer. Paths are relative to the image root, with `/`
/// separators and no leading slash.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    entries: BTreeMap<String, Kind>,
}

/// Checks and normalises an absolute or relative image path to `a/b/c`.
pub fn normalize_path(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => continue,
            ".." => bail!("path {path:?} contains '..': image paths must stay inside the root"),
            p if p.contains('\0') => bail!("path {path:?} contains a NUL byte"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Adds a directory (and its parents).
    pub fn add_dir(&mut self, path: &str) -> Result<()> {
        let path = normalize_path(path)?;
        if path.is_empty() {
            return Ok(());
        }
        self.add_parents(&path)?;
        match self.entries.get(&path) {
            None => {
                self.entries.insert(path, Kind::Dir);
                Ok(())
            }
            Some(Kind::Dir) => Ok(()),
            Some(_) => bail!("/{path} is added both as a file and as a directory"),
        }
    }

    /// Adds a regular file (and its parent directories).
    pub fn add_file(&mut self, path: &str, data: Vec<u8>, executable: bool) -> Result<()> {
        self.add_leaf(path, Kind::File { data, executable })
    }

    /// Adds a symbolic link (and its parent directories).
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<()> {
        if target.is_empty() || target.len() > 100 || target.contains('\0') {
            bail!("symlink /{path} -> {target:?}: the target must be 1 to 100 bytes without NUL");
        }
        self.add_leaf(
            path,
            Kind::Symlink {
                target: target.to_string(),
            },
        )
    }

    fn add_leaf(&mut self, path: &str, kind: Kind) -> Result<()> {
        let path = normalize_path(path)?;
        if path.is_empty() {
            bail!("cannot add a file at the image root '/'");
        }
        self.add_parents(&path)?;
        if let Some(old) = self.entries.get(&path) {
            let what = if *old == Kind::Dir {
                "a directory"
            } else {
                "another file"
            };
            bail!("/{path} is added twice (already {what}); each path may be given once");
        }
        self.entries.insert(path, kind);
        Ok(())
    }

    fn add_parents(&mut self, path: &str) -> Result<()> {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            let parent = &path[..end + i];
            match self.entries.get(parent) {
                None => {
                    self.entries.insert(parent.to_string(), Kind::Dir);
                }
                Some(Kind::Dir) => {}
                Some(_) => bail!("/{parent} is a file, but /{path} needs it to be a directory"),
            }
            end += i + 1;
        }
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&Kind> {
        self.entries.get(path)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Kind)> {
        self.entries.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Serialises the tree as a ustar archive; every entry gets `mtime`.
    pub fn to_tar(&self, mtime: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (path, kind) in &self.entries {
            let (name, typeflag, mode, size, link) = match kind {
                Kind::Dir => (format!("{path}/"), b'5', 0o755, 0, ""),
                Kind::File { data, executable } => {
                    let mode = if *executable { 0o755 } else { 0o644 };
                    (path.clone(), b'0', mode, data.len() as u64, "")
                }
                Kind::Symlink { target } => (path.clone(), b'2', 0o777, 0, target.as_str()),
            };
            out.extend_from_slice(&header(&name, typeflag, mode, size, mtime, link)?);
            if let Kind::File { data, .. } = kind {
                out.extend_from_slice(data);
                let pad = (512 - data.len() % 512) % 512;
                out.resize(out.len() + pad, 0);
            }
        }
        out.resize(out.len() + 1024, 0);
        Ok(out)
    }
}

fn octal(field: &mut [u8], value: u64) -> Result<()> {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    if s.len() > digits {
        bail!(
            "value {value} does not fit a {}-byte ustar field",
            field.len()
        );
    }
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    Ok(())
}

/// Splits a path into ustar (prefix, name): name ≤ 100 bytes, prefix ≤ 155.
fn split_name(path: &str) -> Result<(&str, &str)> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    // The split must happen at a '/', which is dropped (readers rejoin with one).
    let body = path.strip_suffix('/').unwrap_or(path);
    for (i, _) in body.match_indices('/') {
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        if prefix.len() <= 155 && name.len() <= 100 && !name.is_empty() {
            return Ok((prefix, name));
        }
    }
    bail!(
        "path /{path} is too long for a plain ustar header (at most 255 bytes, split at a '/' into 155 + 100); shorten it"
    )
}

fn header(
    path: &str,
    typeflag: u8,
    mode: u32,
    size: u64,
    mtime: u64,
    link: &str,
) -> Result<[u8; 512]> {
    let mut h = [0u8; 512];
    let (prefix, name) = split_name(path)?;
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], mode as u64)?;
    octal(&mut h[108..116], 0)?; // uid
    octal(&mut h[116..124], 0)?; // gid
    octal(&mut h[124..136], size)?;
    octal(&mut h[136..148], mtime)?;
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // uname/gname (265..329) stay empty: owners are numeric.
    octal(&mut h[329..337], 0)?; // devmajor
    octal(&mut h[337..345], 0)?; // devminor
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // Checksum: sum of all bytes with the checksum field read as spaces.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_explicit_and_sorted() {
        let mut t = Tree::new();
        t.add_file("/www/css/site.css", b"body{}".to_vec(), false)
            .unwrap();
        t.add_file("/mote-httpd", b"\x7fELF".to_vec(), true)
            .unwrap();
        t.add_file("/www/index.html", b"hi".to_vec(), false)
            .unwrap();
        let tar = t.to_tar(0).unwrap();
        let mut ar = ::tar::Archive::new(&tar[..]);
        let got: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("mote-httpd".into(), 0o755, 0, 0),
                ("www/".into(), 0o755, 0, 0),
                ("www/css/".into(), 0o755, 0, 0),
                ("www/css/site.css".into(), 0o644, 0, 0),
                ("www/index.html".into(), 0o644, 0, 0),
            ]
        );
    }

    #[test]
    fn long_paths_use_the_prefix_field_and_too_long_ones_fail() {
        let mut t = Tree::new();
        let long = format!("{}/{}/{}", "d".repeat(60), "e".repeat(60), "f".repeat(90));
        t.add_file(&long, b"x".to_vec(), false).unwrap();
        let tar = t.to_tar(5).unwrap();
        let mut ar = ::tar::Archive::new(&tar[..]);
        let paths: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(paths[2], long);

        let mut t = Tree::new();
        t.add_file(&"x".repeat(101), b"x".to_vec(), false).unwrap();
        let err = t.to_tar(0).unwrap_err().to_string();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn conflicts_and_escapes_are_errors() {
        let mut t = Tree::new();
        t.add_file("/a", vec![], false).unwrap();
        assert!(t
            .add_file("/a/b", vec![], false)
            .unwrap_err()
            .to_string()
            .contains("is a file"));
        assert!(t
            .add_file("/a", vec![], false)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(t.add_file("/../etc/passwd", vec![], false).is_err());
    }

    #[test]
    fn checksum_matches_gnu_definition() {
        let h = header("a", b'0', 0o644, 1, 0, "").unwrap();
        let mut copy = h;
        copy[148..156].fill(b' ');
        let sum: u32 = copy.iter().map(|&b| b as u32).sum();
        let field = std::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(field, 8).unwrap(), sum);
    }
}
