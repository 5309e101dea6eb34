"""Regenerates the PIL/torchvision reference outputs for VisionTests (transform tests).

Run with a Python that has torch, torchvision and Pillow:
    /opt/torchenv/bin/python Tests/VisionTests/Fixtures/make_references.py
Every output is a lossless PNG; the source patterns are formulas that the tests recompute.
"""
import os
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "references")
os.makedirs(out, exist_ok=True)

def rgb_source():  # mirrored in TransformTests.rgbSource
    w, h = 37, 23
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 7 + y * 3) % 256, (x * y * 5 + 17) % 256, (255 - x * 6 + y * 11) % 256)
                 for y in range(h) for x in range(w)])
    return img

def gray_source():  # mirrored in TransformTests.graySource
    w, h = 29, 31
    img = Image.new("L", (w, h))
    img.putdata([(x * x + 3 * y * y + 7 * x * y) % 256 for y in range(h) for x in range(w)])
    return img

rgb, gray = rgb_source(), gray_source()
rgb.save(os.path.join(out, "source_rgb.png"))
gray.save(os.path.join(out, "source_gray.png"))
B = Image.BILINEAR
def save(img, name):
    img.save(os.path.join(out, name + ".png"))

save(rgb.resize((11, 7), B), "rgb_resize_11x7")
save(rgb.resize((8, 16), B), "rgb_resize_8x16")
save(rgb.resize((50, 40), B), "rgb_resize_50x40")
save(F.resize(rgb, 16), "rgb_resize_short16")         # torchvision: shorter side to 16
save(gray.resize((9, 13), B), "gray_resize_9x13")
save(gray.resize((64, 20), B), "gray_resize_64x20")
save(F.center_crop(rgb, [10, 15]), "rgb_centercrop_10x15")
save(F.center_crop(gray, [40, 35]), "gray_centercrop_40x35")  # larger than the image: zero padding
save(F.rotate(rgb, 30.0, interpolation=InterpolationMode.NEAREST), "rgb_rotate30_nearest")
save(F.rotate(gray, -45.0, interpolation=InterpolationMode.NEAREST, fill=7), "gray_rotate-45_nearest_fill7")
save(F.rotate(rgb, 30.0, interpolation=InterpolationMode.BILINEAR), "rgb_rotate30_bilinear")
save(F.adjust_brightness(rgb, 1.4), "rgb_brightness1.4")
save(F.adjust_contrast(rgb, 0.6), "rgb_contrast0.6")
save(F.adjust_saturation(rgb, 0.3), "rgb_saturation0.3")
save(F.adjust_hue(rgb, 0.1), "rgb_hue0.1")
save(F.rgb_to_grayscale(rgb, num_output_channels=1), "rgb_grayscale")
save(F.hflip(rgb), "rgb_hflip")
