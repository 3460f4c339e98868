"""Box geometry and per-image label quality against reference boxes.

Boxes are columnar: ``(n, 4)`` float arrays of ``left, top, width, height`` in pixels. Two named
matching rules score an image (``ground-truth-facts.md``, section 6):

- ``optimal`` (default): one-to-one matching with maximal total IoU; pairs of IoU 0 dropped;
  score = sum of matched IoUs / (label boxes + reference boxes - matched pairs).
- ``tutorial``: label boxes by descending confidence each take the free reference box of highest
  IoU, if above 0; same score formula.

Boxes of different classes never match. Both sets empty scores 1; exactly one empty scores 0.

>>> a = np.array([[0.0, 0.0, 10.0, 10.0]])
>>> b = np.array([[5.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
>>> iou_matrix(a, b).round(4).tolist()
[[0.3333, 1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from gtkit._arrays import FloatArray, IntArray
from gtkit._errors import GtkitError

__all__ = [
    "MATCHING_RULES",
    "Matching",
    "class_codes",
    "image_scores",
    "iou_matrix",
    "match_optimal",
    "match_tutorial",
]

Matching = Literal["optimal", "tutorial"]
MATCHING_RULES: tuple[str, ...] = ("optimal", "tutorial")

_BRUTE_FORCE_MAX = 720  # assignments per group shape enumerated at once (6 x 6 boxes)
# Work is done a part at a time, so that memory stays bounded. Small parts are faster too:
# their temporaries are reused where large ones would be given back to the system and asked
# for again (measured at 100,000 images: a third of the page faults, 0.1 s less).
_BATCH_IMAGES = 1 << 11  # groups of one shape matched together
_SLICE_IMAGES = 1 << 13  # images grouped by class at a time


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box in ``a`` (n, 4) with every box in ``b`` (m, 4), as an (n, m) array.

    Boxes are ``left, top, width, height`` in any one unit; boxes of zero area have IoU 0.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax0, ay0 = a[:, 0:1], a[:, 1:2]
    ax1, ay1 = ax0 + a[:, 2:3], ay0 + a[:, 3:4]
    bx0, by0 = b[:, 0], b[:, 1]
    bx1, by1 = bx0 + b[:, 2], by0 + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    out: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def _pair_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Element-wise IoU of two (k, 4) arrays of boxes."""
    ax0, ay0, aw, ah = a.T.copy()  # contiguous columns, and temporaries reused in place
    bx0, by0, bw, bh = b.T.copy()
    iw = np.minimum(ax0 + aw, bx0 + bw)
    iw -= np.maximum(ax0, bx0)
    ih = np.minimum(ay0 + ah, by0 + bh)
    ih -= np.maximum(ay0, by0)
    inter = np.maximum(iw, 0.0, out=iw)
    inter *= np.maximum(ih, 0.0, out=ih)
    union = aw * ah
    union += bw * bh
    union -= inter
    out: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def _hungarian(cost: FloatArray) -> IntArray:
    """Columns assigned to each row minimising total cost, for an (n, m) matrix with n <= m."""
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, dtype=np.int64)  # p[j]: row (1-based) matched to column j
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    rows = np.full(n, -1, dtype=np.int64)
    for j in range(1, m + 1):
        if p[j]:
            rows[p[j] - 1] = j - 1
    return rows


def match_optimal(iou: FloatArray) -> tuple[float, int]:
    """Total IoU and matched pairs (IoU > 0) of the best one-to-one matching of one image."""
    iou = np.asarray(iou, dtype=np.float64)
    if iou.size == 0:
        return 0.0, 0
    flip = iou.shape[0] > iou.shape[1]
    work = iou.T if flip else iou
    cols = _hungarian(-work)
    chosen = work[np.arange(work.shape[0]), cols]
    positive = chosen > 0
    return float(chosen[positive].sum()), int(positive.sum())


def match_tutorial(iou: FloatArray, confidence: FloatArray) -> tuple[float, int]:
    """Total IoU and matched pairs under the tutorial's greedy rule for one image."""
    iou = np.asarray(iou, dtype=np.float64)
    if iou.size == 0:
        return 0.0, 0
    free = np.ones(iou.shape[1], dtype=bool)
    total, pairs = 0.0, 0
    order = np.argsort(
        -np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=-1.0), kind="stable"
    )
    for i in order:
        row = np.where(free, iou[i], -1.0)
        j = int(np.argmax(row))
        if row[j] > 0:
            free[j] = False
            total += float(row[j])
            pairs += 1
    return total, pairs


def _by_image(
    image: IntArray, boxes: FloatArray, classes: IntArray, confidence: FloatArray
) -> tuple[IntArray, FloatArray, IntArray, FloatArray]:
    """The boxes ordered by image (left as they are when they already are, as usual)."""
    image = np.asarray(image, dtype=np.int64)
    if len(image) < 2 or bool((image[1:] >= image[:-1]).all()):
        return image, boxes, np.asarray(classes), np.asarray(confidence)
    order = np.argsort(image, kind="stable")
    conf = np.asarray(confidence)
    return (
        image[order],
        boxes[order],
        np.asarray(classes)[order],
        conf[order] if len(conf) else conf,
    )


def _group_bounds(image: IntArray, n_images: int) -> tuple[IntArray, IntArray]:
    counts = np.bincount(image, minlength=n_images).astype(np.int64)
    starts = np.zeros(n_images, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return counts, starts


def image_scores(
    n_images: int,
    label_image: IntArray,
    label_boxes: Boxes,
    label_class: IntArray,
    ref_image: IntArray,
    ref_boxes: Boxes,
    ref_class: IntArray,
    *,
    label_confidence: FloatArray | None = None,
    matching: str = "optimal",
) -> FloatArray:
    """Per-image quality scores (0 to 1) for ``n_images`` images, vectorised over images.

    ``*_image`` give each box's image (0 to n_images - 1); ``*_class`` are integer class codes
    (boxes of different codes never match); boxes are (k, 4) ``left, top, width, height`` in
    pixels, or those four columns (a table's own columns: no copy). The optimal matching
    is made class by class within each image; groups with the same box counts are matched
    together in numpy, and a group whose matching would need more than 720 assignments to
    try is matched on its own (the Hungarian algorithm).
    """
    if matching not in MATCHING_RULES:
        raise GtkitError(f"matching {matching!r}; allowed: {', '.join(MATCHING_RULES)}")
    for image in (label_image, ref_image):
        if len(image) and not 0 <= int(np.min(image)) <= int(np.max(image)) < n_images:
            raise GtkitError(f"a box's image is out of range (0 to {n_images - 1})")
    return _numpy_scores(
        n_images, label_image, _array(label_boxes), label_class, ref_image, _array(ref_boxes),
        ref_class, label_confidence=label_confidence, matching=matching,
    )  # fmt: skip


Boxes = FloatArray | Sequence[FloatArray]  # (k, 4), or its four columns


def _array(boxes: Boxes) -> FloatArray:
    if isinstance(boxes, np.ndarray):
        return boxes
    out: FloatArray = np.stack([np.asarray(c, dtype=np.float64) for c in boxes], axis=1)
    return out.reshape(-1, 4)


def class_codes(labels: pd.Series, references: pd.Series) -> tuple[IntArray, IntArray]:
    """Class names of label and reference boxes (columns of texts, categories or not) as
    int64 codes, one code per name across both sides: boxes are matched by class name, and a
    code compares in one instruction. A missing name is a name like any other."""
    l_codes, l_names = _name_codes(labels)
    r_codes, r_names = _name_codes(references)
    both = pd.factorize(np.concatenate([l_names, r_names]), use_na_sentinel=False)[0]
    shared = both.astype(np.int64)
    return shared[: len(l_names)][l_codes], shared[len(l_names) :][r_codes]


def _name_codes(names: pd.Series) -> tuple[IntArray, np.ndarray]:
    """Codes of names and the distinct names (a missing name last), from a category's own
    codes where the column is one (no name is hashed per box)."""
    if isinstance(names.dtype, pd.CategoricalDtype):
        codes = names.cat.codes.to_numpy(dtype=np.int64)
        distinct = np.asarray([*names.cat.categories, None], dtype=object)
        codes[codes < 0] = len(distinct) - 1
        return codes, distinct
    factorized, uniques = pd.factorize(names.to_numpy(dtype=object), use_na_sentinel=False)
    return factorized.astype(np.int64), np.asarray(uniques, dtype=object)


class _Groups(NamedTuple):
    """Groups of boxes to match (an image's, or an image's of one class): group ``g`` has
    ``n[g]`` label boxes from ``lstart[g]`` in ``lb`` (class codes ``lc``) and ``m[g]``
    reference boxes from ``rstart[g]`` in ``rb`` (``rc``); boxes are (k, 4) in pixels."""

    n: IntArray
    m: IntArray
    lstart: IntArray
    rstart: IntArray
    lb: FloatArray
    lc: IntArray
    rb: FloatArray
    rc: IntArray


def _numpy_scores(
    n_images: int,
    label_image: IntArray,
    label_boxes: FloatArray,
    label_class: IntArray,
    ref_image: IntArray,
    ref_boxes: FloatArray,
    ref_class: IntArray,
    *,
    label_confidence: FloatArray | None = None,
    matching: str = "optimal",
) -> FloatArray:
    """:func:`image_scores` in numpy."""
    li, lb, lc, lconf = _by_image(
        label_image,
        np.asarray(label_boxes, dtype=np.float64),
        label_class,
        np.zeros(len(label_image)) if label_confidence is None else label_confidence,
    )
    ri, rb, rc, _ = _by_image(
        ref_image, np.asarray(ref_boxes, dtype=np.float64), ref_class, np.zeros(0)
    )
    n, lstart = _group_bounds(li, n_images)
    m, rstart = _group_bounds(ri, n_images)
    total = np.zeros(n_images)
    pairs = np.zeros(n_images, dtype=np.int64)

    if matching == "optimal":
        # In slices of images (their boxes are contiguous), so that memory stays bounded.
        lend, rend = lstart + n, rstart + m
        for first in range(0, n_images, _SLICE_IMAGES):
            last = min(first + _SLICE_IMAGES, n_images)
            ls, rs = slice(lstart[first], lend[last - 1]), slice(rstart[first], rend[last - 1])
            total[first:last], pairs[first:last] = _optimal_by_class(
                last - first, li[ls] - first, lb[ls], lc[ls], ri[rs] - first, rb[rs], rc[rs]
            )
    else:
        images = _Groups(n, m, lstart, rstart, lb, lc, rb, rc)
        for img in np.flatnonzero((n > 0) & (m > 0)):
            iou = _image_iou(int(img), images)
            conf = lconf[lstart[img] : lstart[img] + n[img]]
            total[img], pairs[img] = match_tutorial(iou, conf)

    denominator = n + m - pairs
    scores: FloatArray = np.divide(
        total, denominator, out=np.zeros(n_images), where=denominator > 0
    )
    scores[(n == 0) & (m == 0)] = 1.0
    return scores


def _optimal_by_class(
    n_images: int,
    li: IntArray,
    lb: FloatArray,
    lc: IntArray,
    ri: IntArray,
    rb: FloatArray,
    rc: IntArray,
) -> tuple[FloatArray, IntArray]:
    """Total IoU and matched pairs of each image's best matching. Boxes of different classes
    never match, so an image's best matching is the best matching of each of its classes:
    (image, class) groups are matched, smaller than their images and with fewer pairs."""
    low = int(min(lc.min(initial=0), rc.min(initial=0)))
    width = int(max(lc.max(initial=0), rc.max(initial=0))) - low + 1
    lkey, rkey = li * width + (lc - low), ri * width + (rc - low)
    lorder, rorder = np.argsort(lkey, kind="stable"), np.argsort(rkey, kind="stable")
    lkey, rkey = lkey[lorder], rkey[rorder]
    lstart = np.flatnonzero(np.diff(lkey, prepend=-1))  # each label group's first box
    keys = lkey[lstart]
    n = np.diff(np.append(lstart, len(lkey)))
    rstart = np.searchsorted(rkey, keys, "left")
    m = np.searchsorted(rkey, keys, "right") - rstart
    both = m > 0  # a group with boxes on one side only matches nothing
    group_total, group_pairs = _optimal(
        _Groups(
            n[both], m[both], lstart[both], rstart[both],
            lb.take(lorder, axis=0), lc[lorder], rb.take(rorder, axis=0), rc[rorder],
        )
    )  # fmt: skip
    image = keys[both] // width
    total: FloatArray = np.bincount(image, group_total, n_images).astype(np.float64)
    pairs: IntArray = np.bincount(image, group_pairs, n_images).astype(np.int64)
    return total, pairs


def _optimal(groups: _Groups) -> tuple[FloatArray, IntArray]:
    """Total IoU and matched pairs of the best matching of each group (each with boxes on both
    sides). Groups of the same shape are matched together in numpy; a group whose matching
    would need more than :data:`_BRUTE_FORCE_MAX` assignments to try, on its own (the
    Hungarian algorithm)."""
    n, m = groups.n, groups.m
    total = np.zeros(len(n))
    pairs = np.zeros(len(n), dtype=np.int64)
    radix = int(m.max(initial=0)) + 1
    shape = n * radix + m  # one code per (rows, cols)
    order = np.argsort(shape, kind="stable")
    ordered = shape[order]
    starts = np.flatnonzero(np.diff(ordered, prepend=-1))  # already sorted: no np.unique
    codes = ordered[starts]
    ends = np.append(starts[1:], len(order))[: len(starts)]
    for code, start, end in zip(codes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        same_shape = order[start:end]
        rows, cols = divmod(code, radix)
        k = min(rows, cols)
        count = 1
        for x in range(max(rows, cols) - k + 1, max(rows, cols) + 1):
            count *= x
        if count <= _BRUTE_FORCE_MAX:
            # In slices, so that memory stays bounded however many groups share a shape.
            for at in range(0, len(same_shape), _BATCH_IMAGES):
                part = same_shape[at : at + _BATCH_IMAGES]
                total[part], pairs[part] = _brute_force(part, rows, cols, groups)
        else:
            for g in same_shape:
                total[g], pairs[g] = match_optimal(_image_iou(int(g), groups))
    return total, pairs


def _image_iou(g: int, groups: _Groups) -> FloatArray:
    """The IoU matrix of group ``g``'s boxes, 0 between boxes of different classes."""
    n, m, lstart, rstart, lb, lc, rb, rc = groups
    ls, rs = slice(lstart[g], lstart[g] + n[g]), slice(rstart[g], rstart[g] + m[g])
    iou: FloatArray = iou_matrix(lb[ls], rb[rs])
    iou[lc[ls][:, None] != rc[rs][None, :]] = 0.0
    return iou


def _brute_force(
    which: IntArray, rows: int, cols: int, groups: _Groups
) -> tuple[FloatArray, IntArray]:
    """Best assignment for many groups (``which`` of ``groups``, each of one class) of the
    same (rows, cols) shape at once."""
    g = len(which)
    # Each (group, label row, reference column) pair: the boxes' places, row-major.
    li = (groups.lstart[which][:, None] + np.arange(rows)[None, :]).repeat(cols, axis=1).ravel()
    ri = np.tile(groups.rstart[which][:, None] + np.arange(cols)[None, :], (1, rows)).ravel()
    iou = _pair_iou(groups.lb.take(li, axis=0), groups.rb.take(ri, axis=0))
    iou = iou.reshape(g, rows, cols)
    if rows > cols:
        iou = iou.transpose(0, 2, 1)
        rows, cols = cols, rows
    # Each row (the smaller side) can score at most its best IoU, so where the rows' best
    # columns are all different, taking them is optimal; only the other images need a search.
    row_best = iou.max(axis=2)
    row_pick = iou.argmax(axis=2)
    scoring = row_best > 0
    clash = (
        (row_pick[:, :, None] == row_pick[:, None, :])
        & scoring[:, :, None]
        & scoring[:, None, :]
        & ~np.eye(rows, dtype=bool)[None, :, :]
    ).any(axis=(1, 2))
    best = row_best.sum(axis=1)
    count = scoring.sum(axis=1).astype(np.int64)
    if clash.any():
        perms = np.array(list(permutations(range(cols), rows)), dtype=np.int64)  # (P, rows)
        chosen = iou[clash][:, np.arange(rows)[None, :], perms]  # (g', P, rows)
        sums = chosen.sum(axis=2)
        positive = (chosen > 0).sum(axis=2)
        best[clash] = sums.max(axis=1)
        # Among assignments of equal total IoU, the one with the most matched pairs wins.
        tie = sums >= best[clash][:, None] - 1e-12
        count[clash] = np.where(tie, positive, -1).max(axis=1)
    return best, count
