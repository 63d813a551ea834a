//! Checks that a binary can be the only program in an image: an ELF executable for
//! the right architecture, statically linked.

use std::fmt;

use anyhow::{bail, Result};
use goblin::elf::header;

/// A Linux platform architecture, named as OCI names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
    Riscv64,
    Ppc64le,
    S390x,
    I386,
}

impl Arch {
    /// Accepts OCI names and the common kernel/Rust spellings.
    pub fn parse(s: &str) -> Result<Arch> {
        Ok(match s {
            "amd64" | "x86_64" | "x86-64" => Arch::Amd64,
            "arm64" | "aarch64" => Arch::Arm64,
            "riscv64" => Arch::Riscv64,
            "ppc64le" => Arch::Ppc64le,
            "s390x" => Arch::S390x,
            "386" | "i386" | "i686" => Arch::I386,
            other => bail!(
                "unknown architecture {other:?}: use amd64, arm64, riscv64, ppc64le, s390x or 386"
            ),
        })
    }

    /// The GOARCH-style name used in OCI platforms.
    pub fn oci(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Riscv64 => "riscv64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::I386 => "386",
        }
    }

    /// The kernel's name, as `uname -m` and ELF tools print it.
    pub fn kernel(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
            Arch::Riscv64 => "riscv64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::I386 => "i386",
        }
    }

    /// The OCI platform variant, where the spec defines one.
    pub fn variant(self) -> Option<&'static str> {
        match self {
            Arch::Arm64 => Some("v8"),
            _ => None,
        }
    }

    /// A Rust target that builds static binaries for this architecture.
    pub fn musl_target(self) -> String {
        match self {
            Arch::Ppc64le => "powerpc64le-unknown-linux-musl".into(),
            Arch::Riscv64 => "riscv64gc-unknown-linux-musl".into(),
            Arch::I386 => "i686-unknown-linux-musl".into(),
            a => format!("{}-unknown-linux-musl", a.kernel()),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oci())
    }
}

/// What the checks found in a binary that passed them.
#[derive(Clone, Debug)]
pub struct ElfInfo {
    pub arch: Arch,
    /// Position-independent (static-pie) rather than fixed-address.
    pub pie: bool,
}

/// Checks `bytes` (read from `name`) is a static Linux executable, optionally for
/// `expected` architecture. Errors name what was found and what to do.
pub fn check_static(name: &str, bytes: &[u8], expected: Option<Arch>) -> Result<ElfInfo> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        let start: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        bail!(
            "{name} is not an ELF executable (it starts with bytes {start:?}, not 7f454c46); \
             mote packs statically linked Linux programs"
        );
    }
    let elf = match goblin::elf::Elf::parse(bytes) {
        Ok(e) => e,
        Err(e) => bail!("{name} is a malformed or truncated ELF file: {e}"),
    };
    let h = &elf.header;
    let arch = match (h.e_machine, elf.is_64, elf.little_endian) {
        (header::EM_X86_64, true, true) => Arch::Amd64,
        (header::EM_AARCH64, true, true) => Arch::Arm64,
        (header::EM_RISCV, true, true) => Arch::Riscv64,
        (header::EM_PPC64, true, true) => Arch::Ppc64le,
        (header::EM_S390, true, false) => Arch::S390x,
        (header::EM_386, false, true) => Arch::I386,
        (m, is64, le) => bail!(
            "{name} is an ELF for machine {} ({}-bit, {} endian), which mote cannot name as an OCI platform; \
             supported: amd64, arm64, riscv64, ppc64le, s390x, 386",
            header::machine_to_str(m),
            if is64 { 64 } else { 32 },
            if le { "little" } else { "big" }
        ),
    };
    if let Some(want) = expected {
        if want != arch {
            bail!(
                "{name} is an ELF for {} ({}), but it was given as {} ({}); \
                 pass it as {}={name} or build it for {}",
                arch.oci(),
                arch.kernel(),
                want.oci(),
                want.kernel(),
                arch.oci(),
                want.musl_target()
            );
        }
    }
    let pie = match h.e_type {
        header::ET_EXEC => false,
        header::ET_DYN => true,
        t => bail!(
            "{name} is an ELF {} file, not an executable; link it into a program first",
            header::et_to_str(t)
        ),
    };
    if elf.interpreter.is_some() || !elf.libraries.is_empty() {
        let mut found = Vec::new();
        if let Some(i) = elf.interpreter {
            found.push(format!("interpreter {i}"));
        }
        if !elf.libraries.is_empty() {
            found.push(format!("needs {}", elf.libraries.join(", ")));
        }
        bail!(
            "{name} is dynamically linked: {}; build it statically (e.g. --target {})",
            found.join(", "),
            arch.musl_target()
        );
    }
    if pie && elf.entry == 0 {
        bail!("{name} is a shared library (no entry point), not an executable");
    }
    Ok(ElfInfo { arch, pie })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf() {
        let e = check_static("x.sh", b"#!/bin/sh\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.sh is not an ELF"), "{e}");
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    fn names_interpreter_and_libraries_of_a_dynamic_binary() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        // The test harness is a glibc-linked executable.
        let e = check_static("harness", &bytes, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("harness is dynamically linked: interpreter /lib"),
            "{e}"
        );
        assert!(e.contains("libc.so.6"), "{e}");
        assert!(e.contains("x86_64-unknown-linux-musl"), "{e}");
    }

    #[test]
    fn arch_names() {
        assert_eq!(Arch::parse("aarch64").unwrap(), Arch::Arm64);
        assert_eq!(Arch::parse("amd64").unwrap().kernel(), "x86_64");
        assert!(Arch::parse("mips").is_err());
    }
}
