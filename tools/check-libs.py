#!/usr/bin/env python3
"""Checks the addon's libraries the way a loader would see them, with lief (reads ELF,
PE and Mach-O): the format and architecture each platform needs, the GDExtension entry
symbol exported, stripped, only the system's own libraries imported, and for macOS both
architectures in one file, a deployment target no newer than Godot 4's minimum, the
install name @rpath/..., and an ad-hoc code signature whose page hashes match the file.

    python tools/check-libs.py BIN_DIR [PLATFORM ...]

Prints one line per check; exits 1 when any fails. PLATFORM is linux-x86_64, linux-arm64,
windows-x86_64 or macos-universal (all four when none is named).
"""

import hashlib
import re
import struct
import sys
from pathlib import Path

import lief

lief.logging.disable()
ENTRY = "gdext_rust_init"
FILES = {
    "linux-x86_64": "libgodot_websocket_server.so",
    "linux-arm64": "libgodot_websocket_server.arm64.so",
    "windows-x86_64": "godot_websocket_server.dll",
    "macos-universal": "libgodot_websocket_server.dylib",
}
# What a Linux build may link: the C library and its parts, and GCC's unwinder.
LINUX_LIBS = {"libc.so.6", "libm.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2",
              "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "librt.so.1"}
# Windows' own DLLs (no libgcc, libwinpthread or other DLL to ship).
WINDOWS_DLLS = {"kernel32.dll", "ws2_32.dll", "bcrypt.dll", "bcryptprimitives.dll",
                "ntdll.dll", "advapi32.dll", "userenv.dll", "msvcrt.dll", "user32.dll",
                "shell32.dll", "ole32.dll", "oleaut32.dll", "crypt32.dll", "secur32.dll",
                "api-ms-win-core-synch-l1-2-0.dll"}
# Godot 4's minimum macOS: 10.13 on Intel, 11.0 on Apple silicon (the first arm64 macOS).
MACOS_MIN = {"x86_64": (10, 13), "arm64": (11, 0)}
INSTALL_NAME = "@rpath/libgodot_websocket_server.dylib"
# The entry point, and what the linker and zig's compiler-rt export with it.
MACHO_EXPORTS = {"_" + ENTRY, "__mh_dylib_header", "___dso_handle", "___isOSVersionAtLeast",
                 "___isPlatformVersionAtLeast"}

failures = 0


def check(ok, what):
    global failures
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures += 1


def glibc_needed(elf):
    versions = set()
    for req in elf.symbols_version_requirement:
        for aux in req.get_auxiliary_symbols():
            m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?", aux.name)
            if m:
                versions.add(tuple(int(x or 0) for x in m.groups()))
    return max(versions) if versions else None


def check_elf(name, path, machine):
    elf = lief.ELF.parse(str(path))
    check(elf is not None and elf.header.machine_type == machine,
          f"{name}: ELF shared object for {machine.name}")
    if elf is None:
        return
    exports = sorted(f.name for f in elf.exported_functions)
    check(ENTRY in exports, f"{name}: exports {ENTRY} ({', '.join(exports)})")
    check(not any(s.name == ".symtab" for s in elf.sections), f"{name}: stripped (no .symtab)")
    libs = set(elf.libraries)
    check(libs <= LINUX_LIBS, f"{name}: links only the C library ({', '.join(sorted(libs))})")
    glibc = glibc_needed(elf)
    print(f"      {name}: needs glibc {'.'.join(map(str, glibc)) if glibc else '(none)'} or newer")


def check_pe(name, path):
    pe = lief.PE.parse(str(path))
    check(pe is not None and pe.header.machine == lief.PE.Header.MACHINE_TYPES.AMD64
          and pe.header.has_characteristic(lief.PE.Header.CHARACTERISTICS.DLL),
          f"{name}: PE DLL for x86_64")
    if pe is None:
        return
    check(any(e.name == ENTRY for e in pe.get_export().entries), f"{name}: exports {ENTRY}")
    check(pe.header.numberof_symbols == 0 and pe.header.pointerto_symbol_table == 0,
          f"{name}: stripped (no COFF symbol table)")
    dlls = {i.name.lower() for i in pe.imports}
    check(dlls <= WINDOWS_DLLS, f"{name}: imports only Windows' own DLLs ({', '.join(sorted(dlls))})")


def fat_slices(data):
    """(cpu type, offset, size) of each architecture in a universal (fat) Mach-O."""
    magic, count = struct.unpack_from(">II", data, 0)
    if magic != 0xCAFEBABE:
        return []
    out = []
    for i in range(count):
        cputype, _, offset, size, _ = struct.unpack_from(">iiIII", data, 8 + 20 * i)
        out.append((cputype, offset, size))
    return out


def signature_valid(macho, data):
    """True when the slice's code signature is ad hoc and every CodeDirectory in it
    matches: the hash of each page of the file up to the signature, and of each blob the
    directory names in a special slot (requirements, entitlements)."""
    sig = macho.code_signature
    blob = data[sig.data_offset:sig.data_offset + sig.data_size]
    magic, _, count = struct.unpack_from(">III", blob, 0)
    if magic != 0xFADE0CC0:  # the embedded signature's SuperBlob
        return False, "no SuperBlob"
    blobs = {}
    for i in range(count):
        slot, offset = struct.unpack_from(">II", blob, 12 + 8 * i)
        length = struct.unpack_from(">I", blob, offset + 4)[0]
        blobs[slot] = (offset, blob[offset:offset + length])
    directories = [blobs[s] for s in [0, 0x1000, 0x1001, 0x1002] if s in blobs]
    if not directories:
        return False, "no CodeDirectory"
    seen = []
    for offset, cd in directories:
        (cd_magic, _, _, flags, hash_offset, ident_offset, n_special, n_code, code_limit,
         hash_size, hash_type, _, page_log2) = struct.unpack_from(">IIIIIIIIIBBBB", cd, 0)
        if cd_magic != 0xFADE0C02:
            return False, "not a CodeDirectory"
        algo = {1: hashlib.sha1, 2: hashlib.sha256}.get(hash_type)
        if algo is None:
            return False, f"hash type {hash_type}"
        if not flags & 0x2:
            return False, "not ad hoc"
        page = 1 << page_log2
        if code_limit != sig.data_offset:
            return False, f"code limit {code_limit} is not the signature's offset {sig.data_offset}"
        for n in range(n_code):
            want = cd[hash_offset + n * hash_size:hash_offset + (n + 1) * hash_size]
            got = algo(data[n * page:min((n + 1) * page, code_limit)]).digest()[:hash_size]
            if want != got:
                return False, f"page {n} hash differs"
        for n in range(1, n_special + 1):
            want = cd[hash_offset - n * hash_size:hash_offset - (n - 1) * hash_size]
            if n in blobs:
                if algo(blobs[n][1]).digest()[:hash_size] != want:
                    return False, f"special slot {n} hash differs"
            elif want != bytes(hash_size):
                return False, f"special slot {n} names a blob that is missing"
        ident = cd[ident_offset:cd.index(b"\0", ident_offset)].decode()
        seen.append(f"{algo().name} over {n_code} pages, identifier {ident}")
    return True, "ad hoc; " + "; ".join(seen)


def macos_min(macho):
    for cmd in macho.commands:
        if isinstance(cmd, lief.MachO.BuildVersion):
            return tuple(cmd.minos[:2])
        if isinstance(cmd, lief.MachO.VersionMin):
            return tuple(cmd.version[:2])
    return None


def check_macho(name, path):
    data = path.read_bytes()
    slices = fat_slices(data)
    arches = {0x01000007: "x86_64", 0x0100000C: "arm64"}
    found = sorted(arches.get(c, hex(c)) for c, _, _ in slices)
    check(found == ["arm64", "x86_64"], f"{name}: universal, x86_64 and arm64 ({', '.join(found) or 'not fat'})")
    for cputype, offset, size in slices:
        arch = arches.get(cputype, hex(cputype))
        part = data[offset:offset + size]
        macho = lief.MachO.parse(list(part)).at(0)
        check(macho.header.file_type == lief.MachO.Header.FILE_TYPE.DYLIB, f"{name} [{arch}]: dylib")
        exports = {s.name for s in macho.exported_symbols}
        check("_" + ENTRY in exports and exports <= MACHO_EXPORTS,
              f"{name} [{arch}]: exports _{ENTRY} and no Rust symbol ({', '.join(sorted(exports))})")
        minimum = macos_min(macho)
        check(minimum is not None and minimum <= MACOS_MIN[arch],
              f"{name} [{arch}]: deployment target {minimum} <= {MACOS_MIN[arch]}")
        ids = [c.name for c in macho.commands if c.command == lief.MachO.LoadCommand.TYPE.ID_DYLIB]
        check(ids == [INSTALL_NAME], f"{name} [{arch}]: install name {', '.join(ids)}")
        libs = [c.name for c in macho.commands if c.command == lief.MachO.LoadCommand.TYPE.LOAD_DYLIB]
        check(all(lib.startswith(("/usr/lib/", "/System/Library/")) for lib in libs),
              f"{name} [{arch}]: links only system libraries ({', '.join(libs)})")
        local = [s for s in macho.symbols if not s.raw_type & 0x01 and not s.raw_type & 0xE0]
        check(len(local) == 0, f"{name} [{arch}]: stripped ({len(local)} local symbols)")
        if macho.has_code_signature:
            ok, why = signature_valid(macho, part)
            check(ok, f"{name} [{arch}]: code signature valid ({why})")
        else:
            check(False, f"{name} [{arch}]: code signature present")


def main():
    bin_dir = Path(sys.argv[1])
    platforms = sys.argv[2:] or list(FILES)
    for platform in platforms:
        path = bin_dir / FILES[platform]
        if not path.is_file():
            check(False, f"{platform}: {path} exists")
            continue
        print(f"      {platform}: {path.name}, {path.stat().st_size / 1e6:.1f} MB")
        if platform == "linux-x86_64":
            check_elf(platform, path, lief.ELF.ARCH.X86_64)
        elif platform == "linux-arm64":
            check_elf(platform, path, lief.ELF.ARCH.AARCH64)
        elif platform == "windows-x86_64":
            check_pe(platform, path)
        else:
            check_macho(platform, path)
    print(f"check-libs: {failures} failed" if failures else "check-libs: all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
