#!/usr/bin/env bash
# Build the size-tuned, static, libc-free mote-httpd for one target (default x86_64).
# Prints the path of the stripped binary on stdout.
#
# The codegen flags below are given through RUSTFLAGS together with an explicit
# --target, so they reach only the target crates (mote-httpd, mote-http, rustix) and
# never the std crates, build scripts or proc-macros of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-x86_64-unknown-linux-gnu}
# -inline-threshold=15 (opt-level z's default is lower): measured 320 bytes smaller on
# x86_64 than 10 (11..15 alike), 16 and above grow the binary again. The steps move
# as the code changes: re-measure (scripts/build-httpd.sh with other values) now and then.
# -min-jump-table-entries=1000: no jump tables. With the static relocation model each
# table entry is an 8-byte absolute address in .rodata; compare chains are ~1 KB smaller
# here (measured on x86_64, 35,568 -> 34,568 bytes) and not measurably slower for
# matches on a handful of states or bytes.
export RUSTFLAGS="-C relocation-model=static -C target-feature=+crt-static -C force-unwind-tables=no -C llvm-args=-inline-threshold=15 -C llvm-args=-min-jump-table-entries=1000 ${MOTE_HTTPD_RUSTFLAGS:-}"
case "$target" in
  x86_64-unknown-linux-gnu) linker_args=() ;;
  aarch64-unknown-linux-gnu) export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc ;;
esac
cargo build --quiet --release -p mote-httpd --target "$target" >&2
bin="${CARGO_TARGET_DIR:-$PWD/target}/$target/release/mote-httpd"

# Stripped builds also lose the section header table and the section names after the
# last loaded byte (~420 bytes), as ELFkickers' sstrip does: the kernel, qemu and goblin
# (mote pack) read only the ELF header and program headers; nothing is compressed or
# packed, every loaded byte stays as the linker wrote it. The unstripped twin of
# size-report.sh (CARGO_PROFILE_RELEASE_STRIP=false) keeps them for nm.
if [[ ${CARGO_PROFILE_RELEASE_STRIP:-true} != false ]] && [[ $(readelf -hW "$bin" | awk '/Number of section headers/ {print $NF}') != 0 ]]; then
  end=0
  while read -r off filesz; do
    (( off + filesz > end )) && end=$(( off + filesz ))
  done < <(readelf -lW "$bin" | awk '$1 == "LOAD" {print $2, $5}')
  # ELF64: e_shoff (8 bytes at 0x28) = 0; e_shnum (0x3c) and e_shstrndx (0x3e) = 0.
  printf '\0\0\0\0\0\0\0\0' | dd of="$bin" bs=1 seek=40 conv=notrunc status=none
  printf '\0\0\0\0' | dd of="$bin" bs=1 seek=60 conv=notrunc status=none
  truncate -s "$end" "$bin"
fi
echo "$bin"
