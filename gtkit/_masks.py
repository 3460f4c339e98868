"""Segmentation masks as numpy arrays: reading PNGs, decoding colours, and per-image IoU.

A mask is an (height, width) array of class ids, 0 the background. Ground Truth writes a label
mask as a colour PNG and says which colour is which class in the line's ``internal-color-map``
(``{"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff"}, "1": {...}}``); reference masks
are PNGs of class ids, or colour PNGs with such a map. Every step works on whole arrays: no
Python loop ever visits a pixel.

The quality of one image: the IoU of each foreground class present in the label or the
reference, averaged over those classes; 1.0 when neither has a foreground pixel.

>>> label = np.array([[0, 1], [1, 1]])
>>> truth = np.array([[0, 1], [0, 1]])
>>> round(mask_score(label, truth), 3)  # class 1: 2 pixels shared of 3
0.667
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from gtkit._arrays import IntArray
from gtkit._errors import GtkitError

__all__ = [
    "colors_to_ids", "decode_mask", "hex_code", "mask_score", "read_mask", "read_png", "write_png",
]  # fmt: skip


def hex_code(color: str) -> int:
    """A ``#rrggbb`` colour as one integer (``0xrrggbb``); ValueError if it is not one.

    >>> hex(hex_code("#FF8000"))
    '0xff8000'
    """
    text = color.strip().removeprefix("#")
    if len(text) != 6:
        raise ValueError(f"{color!r} is not a #rrggbb colour")
    return int(text, 16)


def read_png(data: bytes, *, name: str, rgb: bool = False) -> npt.NDArray[np.uint8]:
    """A PNG's pixels: (height, width, 3) RGB with ``rgb`` (alpha dropped, palettes looked
    up), else as stored: (height, width) for one-channel and palette images (the values or
    palette indexes), RGB for colour images. ``name`` (the file) is for the error raised
    when ``data`` is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if not rgb and image.mode in ("L", "P", "I", "I;16"):
                return np.asarray(image)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise GtkitError(f"{name}: not a PNG image ({exc})") from None


def read_mask(data: bytes, colors: Mapping[int, str] | None, *, name: str) -> IntArray:
    """A mask PNG as class ids: decoded by its colours with ``colors`` (class id ->
    ``#rrggbb``), else its stored values (see :func:`decode_mask`)."""
    return decode_mask(read_png(data, name=name, rgb=colors is not None), colors, name=name)


def write_png(mask: npt.ArrayLike, colors: Mapping[int, str] | None = None) -> bytes:
    """A mask of class ids (0 to 255) as PNG bytes: a palette image whose palette paints each
    id in the colour ``colors`` gives it (read as RGB, its pixels are those colours), else one
    channel of the ids themselves."""
    ids = np.asarray(mask)
    if ids.min(initial=0) < 0 or ids.max(initial=0) > 255:
        raise GtkitError("class ids of a mask PNG must be 0 to 255")
    image = Image.fromarray(ids.astype(np.uint8), mode="L")
    if colors is not None:
        palette = np.zeros((256, 3), dtype=np.uint8)
        for class_id, color in colors.items():
            code = hex_code(color)
            palette[class_id] = ((code >> 16) & 255, (code >> 8) & 255, code & 255)
        image = image.convert("P")
        image.putpalette(palette.ravel().tolist())
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def colors_to_ids(colors: Mapping[int, str], *, name: str) -> tuple[IntArray, IntArray]:
    """A colour map (class id -> ``#rrggbb``) as sorted colour codes and their class ids."""
    try:
        codes = np.array([hex_code(c) for c in colors.values()], dtype=np.int64)
    except ValueError as exc:
        raise GtkitError(f"{name}: colour map: {exc}") from None
    ids = np.array(list(colors.keys()), dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    return codes[order], ids[order]


def decode_mask(
    pixels: npt.NDArray[np.uint8], colors: Mapping[int, str] | None, *, name: str
) -> IntArray:
    """Class ids of each pixel. With ``colors`` (class id -> ``#rrggbb``) an RGB image is
    decoded by its colours, and a pixel of a colour the map lacks is an error naming the file
    and the colour; without, the pixels are class ids already (a one-channel image)."""
    if colors is None:
        if pixels.ndim != 2:
            raise GtkitError(
                f"{name}: a colour image, but no colour map says which colour is which class "
                "(give a one-channel PNG of class ids, or a colour map)"
            )
        return pixels.astype(np.int64)
    if pixels.ndim == 2:  # a grey image read with a colour map: grey levels are colours
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    rgb = pixels.astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    codes, ids = colors_to_ids(colors, name=name)
    if not len(codes):
        raise GtkitError(f"{name}: the colour map is empty")
    at = np.minimum(np.searchsorted(codes, code), len(codes) - 1)
    unknown = codes[at] != code
    if unknown.any():
        seen = np.unique(code[unknown])
        shown = ", ".join(f"#{c:06x}" for c in seen[:5])
        allowed = ", ".join(f"#{c:06x}" for c in codes)
        raise GtkitError(
            f"{name}: {int(unknown.sum())} pixel(s) of colours not in its colour map "
            f"({shown}{', ...' if len(seen) > 5 else ''}); the map has {allowed}"
        )
    out: IntArray = ids[at]
    return out


def mask_score(label: npt.ArrayLike, reference: npt.ArrayLike, *, name: str = "mask") -> float:
    """Mean IoU over the foreground classes (ids above 0) present in either mask; 1.0 when
    neither has a foreground pixel. Both masks are (height, width) arrays of class ids."""
    a, b = np.asarray(label, dtype=np.int64), np.asarray(reference, dtype=np.int64)
    if a.shape != b.shape:
        raise GtkitError(
            f"{name}: the label mask is {a.shape[1]} x {a.shape[0]} pixels, its reference "
            f"{b.shape[1]} x {b.shape[0]}: masks of one image must be the same size"
        )
    if (a < 0).any() or (b < 0).any():
        raise GtkitError(f"{name}: negative class ids in a mask")
    n = int(max(a.max(initial=0), b.max(initial=0))) + 1
    joint = np.bincount((a * n + b).ravel(), minlength=n * n).reshape(n, n)
    inter = np.diag(joint)[1:]
    union = joint.sum(axis=1)[1:] + joint.sum(axis=0)[1:] - inter
    present = union > 0
    if not present.any():
        return 1.0
    return float((inter[present] / union[present]).mean())
