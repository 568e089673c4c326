"""Draw the sample's tabBar icons (81x81 PNG, WeChat's recommended size) with the standard library only.

    python3 clients/miniprogram/tools/make_icons.py     # rewrites clients/miniprogram/images/*.png

Shapes are described as distance tests and supersampled 4x4 per pixel for smooth edges.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

SIZE = 81
SAMPLES = 4
COLOURS = {"": (0x5F, 0x66, 0x70), "-active": (0x05, 0x7A, 0x3F)}  # app.json's tabBar color / selectedColor
IMAGES = Path(__file__).resolve().parent.parent / "images"

Shape = Callable[[float, float], bool]


def segment(ax: float, ay: float, bx: float, by: float, width: float) -> Shape:
    def inside(x: float, y: float) -> bool:
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
        return math.hypot(x - ax - t * dx, y - ay - t * dy) <= width / 2

    return inside


def ring_arc(cx: float, cy: float, r: float, width: float, upper_only: bool) -> Shape:
    def inside(x: float, y: float) -> bool:
        return abs(math.hypot(x - cx, y - cy) - r) <= width / 2 and (not upper_only or y <= cy)

    return inside


def disc(cx: float, cy: float, r: float) -> Shape:
    return lambda x, y: math.hypot(x - cx, y - cy) <= r


def outline(points: list[tuple[float, float]], width: float) -> list[Shape]:
    return [segment(*points[i], *points[(i + 1) % len(points)], width) for i in range(len(points))]


SHAPES: dict[str, list[Shape]] = {
    # a shopping bag: the bag's outline and its handle
    "shop": [*outline([(16, 28), (65, 28), (61, 68), (20, 68)], 6), ring_arc(40.5, 28, 12, 6, upper_only=True)],
    # a list: three bullets and three lines
    "orders": [
        shape
        for y in (22, 40.5, 59)
        for shape in (disc(18, y, 4.5), segment(30, y, 65, y, 6))
    ],
}


def png(pixels: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + row for row in pixels)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def draw(shapes: list[Shape], colour: tuple[int, int, int]) -> bytes:
    rows = []
    for py in range(SIZE):
        row = bytearray()
        for px in range(SIZE):
            hits = sum(
                any(shape(px + (sx + 0.5) / SAMPLES, py + (sy + 0.5) / SAMPLES) for shape in shapes)
                for sx in range(SAMPLES)
                for sy in range(SAMPLES)
            )
            row += bytes((*colour, round(255 * hits / SAMPLES**2)))
        rows.append(bytes(row))
    return png(rows)


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    for name, shapes in SHAPES.items():
        for suffix, colour in COLOURS.items():
            (IMAGES / f"tab-{name}{suffix}.png").write_bytes(draw(shapes, colour))


if __name__ == "__main__":
    main()
