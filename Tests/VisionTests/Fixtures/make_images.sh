#!/bin/sh
# Regenerates the image fixtures for VisionTests (run from anywhere; needs ImageMagick 6 `convert`
# and python3). Sources are raw 8x6 pixel patterns given by formulas below, so PNG expectations are
# exact: the tests recompute the same formulas. JPEG expectations are ImageMagick's own decodes
# (raw bytes in *.jpg.raw), compared with a small tolerance.
set -eu
cd "$(dirname "$0")/images"
W=8 H=6

python3 - <<'PY'
W, H = 8, 6
def rgba(x, y):  # the reference pattern, mirrored in ImageDecodingTests.pattern
    return (x * 30 + 5, y * 40 + 10, (x * 7 + y * 13) % 256, 255 - x * 20 - y * 5)
def wide(v, lo):  # a 16-bit sample whose high byte is v
    return bytes([v, lo])
with open("/tmp/vision_src.rgba", "wb") as f:
    for y in range(H):
        for x in range(W):
            f.write(bytes(rgba(x, y)))
with open("/tmp/vision_src16.rgba", "wb") as f:
    for y in range(H):
        for x in range(W):
            f.write(b"".join(wide(v, (x * 11 + y * 17 + i * 3) % 256) for i, v in enumerate(rgba(x, y))))
with open("/tmp/vision_src.gray", "wb") as f:
    for y in range(H):
        for x in range(W):
            f.write(bytes([(x * 31 + y * 17) % 256]))
with open("/tmp/vision_src16.gray", "wb") as f:
    for y in range(H):
        for x in range(W):
            f.write(wide((x * 31 + y * 17) % 256, (x * 5 + y) % 256))
with open("/tmp/vision_src.bits", "wb") as f:  # a checkerboard for 1-bit gray
    for y in range(H):
        for x in range(W):
            f.write(bytes([255 if (x + y) % 2 else 0]))
PY

SRC8="-size ${W}x${H} -depth 8"
SRC16="-size ${W}x${H} -depth 16 -endian MSB"
convert $SRC8 gray:/tmp/vision_src.gray -define png:color-type=0 -define png:bit-depth=8 gray8.png
convert $SRC16 gray:/tmp/vision_src16.gray -define png:color-type=0 -define png:bit-depth=16 gray16.png
convert $SRC8 gray:/tmp/vision_src.bits -define png:color-type=0 -define png:bit-depth=1 gray1.png
convert $SRC8 rgba:/tmp/vision_src.rgba -define png:color-type=4 -colorspace Gray -define png:bit-depth=8 grayalpha8.png
convert $SRC8 rgba:/tmp/vision_src.rgba -alpha off -define png:color-type=2 -define png:bit-depth=8 rgb8.png
convert $SRC16 rgba:/tmp/vision_src16.rgba -alpha off -define png:color-type=2 -define png:bit-depth=16 rgb16.png
convert $SRC8 rgba:/tmp/vision_src.rgba -define png:color-type=6 -define png:bit-depth=8 rgba8.png
convert $SRC16 rgba:/tmp/vision_src16.rgba -define png:color-type=6 -define png:bit-depth=16 rgba16.png
convert $SRC8 rgba:/tmp/vision_src.rgba -alpha off -define png:color-type=3 palette.png
convert $SRC8 rgba:/tmp/vision_src.rgba -alpha off -define png:color-type=2 -interlace PNG interlaced.png
# Gray+alpha decodes to RGBA; record ImageMagick's gray values for it.
convert grayalpha8.png -depth 8 rgba:grayalpha8.png.raw

convert $SRC8 rgba:/tmp/vision_src.rgba -alpha off -quality 90 baseline.jpg
convert $SRC8 rgba:/tmp/vision_src.rgba -alpha off -quality 90 -interlace JPEG progressive.jpg
convert $SRC8 gray:/tmp/vision_src.gray -quality 90 gray.jpg
convert $SRC8 rgba:/tmp/vision_src.rgba -alpha off -colorspace CMYK cmyk.jpg
for f in baseline progressive; do convert $f.jpg -depth 8 rgb:$f.jpg.raw; done
convert gray.jpg -depth 8 gray:gray.jpg.raw

# Hostile files: a valid PNG header claiming 100000x100000, and a JPEG whose first Huffman table
# claims more codes than fit (libjpeg: "Bogus Huffman table definition").
python3 - <<'PY'
import struct, zlib
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
idat = zlib.compress(b"\x00" * 64)
open("huge.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
# Palette with per-entry alpha (tRNS), written by hand: ImageMagick reduces such alpha to on/off.
W, H = 8, 6
def rgba(x, y):
    return (x * 30 + 5, y * 40 + 10, (x * 7 + y * 13) % 256, 255 - x * 20 - y * 5)
colors = [rgba(x, y) for y in range(H) for x in range(W)]
plte = b"".join(bytes(c[:3]) for c in colors)
trns = bytes(c[3] for c in colors)
rows = b"".join(b"\x00" + bytes(range(y * W, y * W + W)) for y in range(H))
ihdr = struct.pack(">IIBBBBB", W, H, 8, 3, 0, 0, 0)
open("palette_trns.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"PLTE", plte) +
                                     chunk(b"tRNS", trns) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
data = bytearray(open("baseline.jpg", "rb").read())
at = data.index(b"\xff\xc4")
# Segment: FFC4, length(2), class/id(1), 16 code-length counts. Make every count 255.
for i in range(16):
    data[at + 5 + i] = 255
open("bad_huffman.jpg", "wb").write(bytes(data))
PY
rm -f /tmp/vision_src.rgba /tmp/vision_src16.rgba /tmp/vision_src.gray /tmp/vision_src16.gray /tmp/vision_src.bits
file *.png *.jpg
