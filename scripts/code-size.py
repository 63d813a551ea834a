#!/usr/bin/env python3
"""Report the code size of the mote-http demo program for each world it was built for.

ELF programs: the bytes of their allocated sections (code, read-only data, data), which
is what a microcontroller's flash holds. wasm: the size of the module file, as a
browser downloads it. Usage: code-size.py TARGET_DIR
"""
import glob
import os
import struct
import sys

SHF_ALLOC = 0x2
SHT_NOBITS = 8


def elf_alloc_bytes(path):
    """Sum of SHF_ALLOC sections that occupy file bytes: code, read-only data and data.

    Excluded: .bss (no file bytes) and .eh_frame/.eh_frame_hdr, unwind tables that a
    panic=abort program never reads (mote-httpd drops them; see crates/httpd)."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF':
        raise SystemExit(f'{path}: not an ELF file')
    is64 = data[4] == 2
    end = '<' if data[5] == 1 else '>'
    if is64:
        shoff, = struct.unpack_from(end + 'Q', data, 0x28)
        shentsize, shnum = struct.unpack_from(end + 'HH', data, 0x3A)
    else:
        shoff, = struct.unpack_from(end + 'I', data, 0x20)
        shentsize, shnum = struct.unpack_from(end + 'HH', data, 0x2E)
    total = 0
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            _, sh_type, flags, _, _, size = struct.unpack_from(end + 'IIQQQQ', data, off)
        else:
            _, sh_type, flags, _, _, size = struct.unpack_from(end + 'IIIIII', data, off)
        if flags & SHF_ALLOC and sh_type != SHT_NOBITS and not section_name(data, end, is64, shoff,
                                                                                 shentsize, i).startswith(b'.eh_frame'):
            total += size
    return total


def section_name(data, end, is64, shoff, shentsize, index):
    shstrndx, = struct.unpack_from(end + 'H', data, 0x3E if is64 else 0x32)
    fmt = end + ('IIQQQQ' if is64 else 'IIIIII')
    strtab_off = struct.unpack_from(fmt, data, shoff + shstrndx * shentsize)[4]
    name_off = struct.unpack_from(fmt, data, shoff + index * shentsize)[0]
    start = strtab_off + name_off
    return data[start:data.index(b'\0', start)]


def find(target_dir, pattern):
    hits = sorted(glob.glob(os.path.join(target_dir, pattern)), key=os.path.getmtime)
    return hits[-1] if hits else None


def main():
    target_dir = sys.argv[1] if len(sys.argv) > 1 else 'target'
    rows = []
    wasm = find(target_dir, 'worlds*/wasm32-unknown-unknown/release/mote_http_demo.wasm')
    riscv = find(target_dir, 'worlds*/riscv32imc-unknown-none-elf/release/mote-http-demo')
    x86 = find(target_dir, 'worlds/x86_64-unknown-linux-gnu/release/mote-http-demo')
    missing = [n for n, p in (('wasm32', wasm), ('riscv32imc', riscv), ('x86_64', x86)) if not p]
    if missing:
        raise SystemExit('code-size: no build found for ' + ', '.join(missing))
    rows.append(('wasm32-unknown-unknown', 'module file', os.path.getsize(wasm)))
    rows.append(('riscv32imc-unknown-none-elf', 'code+data', elf_alloc_bytes(riscv)))
    rows.append(('x86_64 (no libc, static)', 'code+data', elf_alloc_bytes(x86)))
    print(f'{"target":30} {"measure":18} {"bytes":>8}')
    for t, m, n in rows:
        print(f'{t:30} {m:18} {n:8}')


if __name__ == '__main__':
    main()
