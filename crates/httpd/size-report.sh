#!/usr/bin/env bash
# Size report for mote-httpd: the stripped binary against the 20,480-byte budget, its
# sections, and the 25 largest symbols of an unstripped twin (same flags, strip=false).
# Exits non-zero when the stripped x86_64 binary is over budget.
#
# The one size trade made outside the compiler flags: .eh_frame and .comment are
# discarded at link time (crates/httpd/build.rs). panic = "abort" means nothing unwinds,
# so the unwind tables were several KB of dead bytes. And scripts/build-httpd.sh drops the
# section header table of the stripped binary (sstrip; nothing that runs or packs the
# binary reads it); the unstripped twin keeps its sections for nm.
set -euo pipefail
cd "$(dirname "$0")/../.."
budget=20480
target=${1:-x86_64-unknown-linux-gnu}
bin=$(scripts/build-httpd.sh "$target")
size=$(stat -c %s "$bin")
base=${CARGO_TARGET_DIR:-$PWD/target}
full=$(CARGO_TARGET_DIR="$base/size-unstripped" CARGO_PROFILE_RELEASE_STRIP=false scripts/build-httpd.sh "$target")
echo "mote-httpd $target stripped: $size bytes (budget $budget)"
echo "sections:"
size -A "$full" | awk '$1 ~ /^\./ && $1 !~ /debug|comment|symtab|strtab/ {printf "  %-10s %7d\n", $1, $2}'
echo "25 largest symbols:"
nm --size-sort -S -C "$full" | tail -25 | tac | while read -r _addr sz _type name; do
  printf "  %7d  %s\n" "$((16#$sz))" "$name"
done
if ((size > budget)); then
  echo "FAIL: mote-httpd is $size bytes, $((size - budget)) over the $budget-byte budget" >&2
  exit 1
fi
echo "OK: $((budget - size)) bytes of headroom"
