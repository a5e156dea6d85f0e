"""The checked-in app icons are what brapped.web.icons draws, and look like icons."""

from __future__ import annotations

import struct
import zlib

from brapped.web.icons import ICONS, SIZES, draw


def _pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the RGBA rows (filter bytes dropped) of an unfiltered 8-bit RGBA PNG."""
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 6)
    idat = b""
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            idat += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 4 * width
    return width, height, b"".join(raw[r * stride + 1 : (r + 1) * stride] for r in range(height))


def test_checked_in_icons_match_the_drawing() -> None:
    for name, (side, maskable) in SIZES.items():
        committed = (ICONS / name).read_bytes()
        width, height, pixels = _pixels(committed)
        assert (width, height) == (side, side)
        if side < 512:  # the big ones take seconds to redraw; same code, bigger numbers
            assert committed == draw(side, maskable), name
        alphas = pixels[3::4]
        if maskable:
            # Launchers crop maskable icons to any shape: no transparent pixel anywhere.
            assert set(alphas) == {255}, name
        else:
            assert alphas[0] == 0 and alphas[(side // 2) * side + side // 2] == 255, name
