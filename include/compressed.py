"""Recording files as byte streams, plain or compressed: the one place include/dataset.py opens a file to read.

A recording named ``*.csv.gz``, ``*.csv.bz2``, ``*.csv.xz`` or ``*.csv.zst`` is decompressed as it is read, a
buffer at a time (gzip, bzip2 and xz by the standard library, zstd by the ``zstandard`` package), so memory
does not grow with the file. Multi-member gzip, multi-stream bzip2/xz and multi-frame zstd files read whole.
A truncated or corrupt stream raises one of ``READ_ERRORS``; dataset.py turns it into a DatasetError naming
the file and the line it reached.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import zlib
from pathlib import Path
from typing import BinaryIO

import zstandard

# suffix -> the compression's name, as messages and the dataset summary give it
COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
# What a recording's file name may end in: plain CSV, or CSV in one of COMPRESSIONS.
SUFFIXES = (".csv", *(f".csv{s}" for s in COMPRESSIONS))
# What a damaged compressed stream raises while it is read (a truncated stream: EOFError).
READ_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError)
# Leading bytes of each compression, to name it when a file's name hides it (a gzip file named .csv).
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
READ_SIZE = 64 * 1024


def compression(path: Path | str) -> str | None:
    """The compression a file's name says (``gzip``, ``bzip2``, ``xz``, ``zstd``), None for a plain file."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def is_recording_name(name: str) -> bool:
    """Whether a file name is a recording's: ``*.csv`` or ``*.csv`` compressed (see SUFFIXES)."""
    return name.lower().endswith(SUFFIXES)


def sniff(head: bytes) -> str | None:
    """The compression whose magic bytes ``head`` starts with, if any."""
    return next((name for magic, name in MAGIC.items() if head.startswith(magic)), None)


def open_stream(path: Path) -> BinaryIO:
    """``path``'s bytes, decompressed when its name says so; readline(limit) and read(size) work on it."""
    kind = compression(path)
    if kind is None:
        return path.open("rb")
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bzip2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    return _open_zstd(path)


def decompress_to(path: Path, target: Path) -> int:
    """Write ``path`` decompressed to ``target``, a buffer at a time; returns the bytes written."""
    with open_stream(path) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, READ_SIZE)
        return dst.tell()


def _zstd_frames_end_whole(fh: BinaryIO) -> None:
    """Walk a zstd file's frames and blocks by their headers (seeking past block contents): EOFError when the
    file ends inside one, a ZstdError when a frame does not start with a frame's magic number.

    zstandard's stream reader ends quietly where a truncated file ends (a cut recording would replay in part);
    this walk reads a few bytes per 128 KiB block, and the stream reader then does the decompressing, a buffer
    at a time."""
    size = os.fstat(fh.fileno()).st_size
    at = 0
    while at < size:
        fh.seek(at)
        magic = int.from_bytes(fh.read(4), "little")
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # a skippable frame: its size, then that many bytes
            at += 8 + int.from_bytes(fh.read(4), "little")
            continue
        if magic != 0xFD2FB528:
            raise zstandard.ZstdError(f"no zstd frame at byte {at}")
        descriptor = fh.read(1)[0] if at + 4 < size else 0
        single_segment = descriptor >> 5 & 1
        header = 1 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
        header += (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
        at += 4 + header
        last = False
        while not last:
            fh.seek(at)
            block = fh.read(3)
            if len(block) < 3:
                break
            value = int.from_bytes(block, "little")
            last, kind, length = bool(value & 1), value >> 1 & 3, value >> 3
            at += 3 + (1 if kind == 1 else length)
        at += 4 if descriptor >> 2 & 1 else 0  # the content checksum
        if not last or at > size:
            raise EOFError("the zstd stream ends inside a frame (a truncated file?)")
    fh.seek(0)


def _open_zstd(path: Path) -> BinaryIO:
    raw = path.open("rb")
    try:
        _zstd_frames_end_whole(raw)
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=READ_SIZE, read_across_frames=True,
                                                              closefd=True)
        return io.BufferedReader(reader, READ_SIZE)
    except BaseException:
        raw.close()
        raise
