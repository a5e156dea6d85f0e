"""The app icons a phone asks for, drawn in plain Python (no imaging library for four small PNGs).

The header's brand mark (a green-to-violet rounded square) with a dark "b" cut into it. `any` icons
are the mark on transparent corners; `maskable` ones put it inside the safe circle (80 % of the side)
on a full-bleed background, since launchers crop those to their own shape. The PNGs are checked in
under static/icons/; `python -m brapped.web.icons` redraws them and a test keeps them equal to this code.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parent / "static" / "icons"
BACKGROUND = (0x0B, 0x0D, 0x12)
GREEN = (0x1E, 0xD7, 0x60)
VIOLET = (0x7C, 0x5C, 0xFF)
# name -> (side in pixels, maskable)
SIZES = {
    "icon-192.png": (192, False),
    "icon-512.png": (512, False),
    "maskable-192.png": (192, True),
    "maskable-512.png": (512, True),
    "apple-touch-icon.png": (180, True),  # iOS fills transparency with black: full bleed too
}


def _glyph(x: float, y: float) -> float:
    """Signed distance to a "b" drawn in a unit box centred on 0: a stem and a bowl."""
    stem = _rounded_rect(x + 0.25, y + 0.05, 0.075, 0.42, 0.07)
    ring = abs(math.hypot(x - 0.04, y - 0.14) - 0.2) - 0.075
    return min(stem, ring)


def _rounded_rect(x: float, y: float, half_w: float, half_h: float, radius: float) -> float:
    """Signed distance from (x, y) to a rectangle centred on 0 with rounded corners."""
    qx, qy = abs(x) - half_w + radius, abs(y) - half_h + radius
    return math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - radius


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def draw(side: int, maskable: bool) -> bytes:
    """The icon as RGBA PNG bytes."""
    # The mark's half side, in pixels: the whole icon, or inside the maskable safe circle.
    half = side * (0.27 if maskable else 0.5)
    centre = side / 2
    glyph = 2 * half * 0.7  # the "b" spans 70 % of the mark
    rows = []
    for py in range(side):
        row = bytearray(b"\x00")  # PNG filter: none
        y = py + 0.5 - centre
        for px in range(side):
            x = px + 0.5 - centre
            # Coverage of one pixel from the signed distance: smooth edges without supersampling.
            mark = min(max(0.5 - _rounded_rect(x, y, half, half, half * 0.42), 0.0), 1.0)
            t = min(max((x + y) / (4 * half) + 0.5, 0.0), 1.0)
            colour = _mix(GREEN, VIOLET, t)
            ink = min(max(0.5 - _glyph(x / glyph, y / glyph) * glyph, 0.0), 1.0)
            colour = _mix((round(colour[0]), round(colour[1]), round(colour[2])), BACKGROUND, ink)
            if maskable:
                r, g, b = _mix(BACKGROUND, (round(colour[0]), round(colour[1]), round(colour[2])), mark)
                row += bytes((round(r), round(g), round(b), 255))
            else:
                row += bytes((round(colour[0]), round(colour[1]), round(colour[2]), round(255 * mark)))
        rows.append(bytes(row))
    return _png(side, side, b"".join(rows))


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def write_all(folder: Path = ICONS) -> list[Path]:
    """Draw every icon into `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (side, maskable) in SIZES.items():
        path = folder / name
        path.write_bytes(draw(side, maskable))
        written.append(path)
    return written


if __name__ == "__main__":
    write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else ICONS)
