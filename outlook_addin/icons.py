"""The add-in's icons, drawn in code.

Outlook wants PNGs at several sizes (16, 32, 80 for the button; 64 and 128 for the add-in
list; 192 colour and 32 outline for the unified manifest's app package). Drawing one simple
shape (a rounded square with a check mark) at any size keeps binary files out of the repository
and every size crisp. Only ``zlib`` and ``struct`` are needed to write a PNG.
"""
from __future__ import annotations

import struct
import zlib
from functools import lru_cache

BRAND = (0x1F, 0x6F, 0xEB)  # Stepline blue
WHITE = (0xFF, 0xFF, 0xFF)

SIZES = (16, 32, 64, 80, 128, 192)


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    """Encode 8-bit RGBA rows as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    cx, cy = ax + t * dx, ay + t * dy
    return ((px - cx) ** 2 + (py - cy) ** 2) ** 0.5


def _on_check(x: float, y: float, size: int) -> bool:
    """Whether the point lies on the check mark (two thick strokes)."""
    s = size
    width = max(1.5, s * 0.09)
    a, b, c = (0.27 * s, 0.52 * s), (0.43 * s, 0.68 * s), (0.74 * s, 0.34 * s)
    return min(_segment_distance(x, y, *a, *b), _segment_distance(x, y, *b, *c)) <= width


def _in_rounded_square(x: float, y: float, size: int) -> bool:
    r = size * 0.22
    cx = min(max(x, r), size - r)
    cy = min(max(y, r), size - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


@lru_cache(maxsize=None)
def icon_png(size: int, outline: bool = False) -> bytes:
    """A ``size`` x ``size`` PNG: white check on blue, or (outline) white check on transparent."""
    if size < 8 or size > 512:
        raise ValueError("icon size out of range")
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            x, y = i + 0.5, j + 0.5
            if _on_check(x, y, size):
                row += bytes((*WHITE, 255))
            elif not outline and _in_rounded_square(x, y, size):
                row += bytes((*BRAND, 255))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))
    return _png(size, size, rows)
