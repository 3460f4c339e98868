"""Box quality against an independent computation: brute-force permutations on small images,
scipy's assignment on larger ones, and hand-worked examples."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from gtkit import _boxes as boxes
from gtkit._boxes import image_scores, iou_matrix, match_optimal, match_tutorial
from gtkit._errors import GtkitError


def brute_score(iou: np.ndarray) -> float:
    """Best one-to-one matching by trying every assignment; ties prefer more matched pairs."""
    n, m = iou.shape
    if n == 0 and m == 0:
        return 1.0
    if n == 0 or m == 0:
        return 0.0
    flip = n > m
    work = iou.T if flip else iou
    best = (-1.0, -1)
    for perm in permutations(range(work.shape[1]), work.shape[0]):
        vals = [work[i, j] for i, j in enumerate(perm)]
        total = sum(v for v in vals if v > 0)
        pairs = sum(v > 0 for v in vals)
        if total > best[0] + 1e-12 or (abs(total - best[0]) <= 1e-12 and pairs > best[1]):
            best = (total, pairs)
    return best[0] / (n + m - best[1])


def random_images(
    rng: np.random.Generator, count: int, max_boxes: int, spread: float = 60
) -> dict[str, np.ndarray]:
    n = rng.integers(0, max_boxes + 1, count)
    m = rng.integers(0, max_boxes + 1, count)

    def boxes(k: int) -> np.ndarray:
        xy = rng.uniform(0, spread, (k, 2))
        wh = rng.uniform(5, 40, (k, 2))
        return np.hstack([xy, wh])

    return {
        "li": np.repeat(np.arange(count), n), "lb": boxes(int(n.sum())), "lc": rng.integers(0, 2, int(n.sum())),
        "ri": np.repeat(np.arange(count), m), "rb": boxes(int(m.sum())), "rc": rng.integers(0, 2, int(m.sum())),
    }  # fmt: skip


def per_image_iou(d: dict[str, np.ndarray], img: int) -> np.ndarray:
    lmask, rmask = d["li"] == img, d["ri"] == img
    iou = iou_matrix(d["lb"][lmask], d["rb"][rmask])
    iou[d["lc"][lmask][:, None] != d["rc"][rmask][None, :]] = 0
    return iou


def test_hand_worked_examples() -> None:
    a = np.array([[0.0, 0, 10, 10]])
    assert iou_matrix(a, np.array([[5.0, 0, 10, 10]]))[0, 0] == pytest.approx(50 / 150)
    # One label box, two reference boxes, one perfect match: 1.0 / (1 + 2 - 1) = 0.5
    scores = image_scores(
        3, np.array([0, 2]), np.array([[0.0, 0, 10, 10], [0, 0, 1, 1]]), np.array([0, 0]),
        np.array([0, 0, 2]), np.array([[0.0, 0, 10, 10], [50, 50, 5, 5], [0, 0, 1, 1]]), np.array([0, 0, 1]),
    )  # fmt: skip
    # image 1: both empty -> 1; image 2: classes differ -> 0 / (1 + 1 - 0) = 0
    assert scores.tolist() == [0.5, 1.0, 0.0]


def test_one_side_empty_scores_zero() -> None:
    s = image_scores(2, np.array([0]), np.array([[0.0, 0, 5, 5]]), np.array([0]),
                     np.array([1]), np.array([[0.0, 0, 5, 5]]), np.array([0]))  # fmt: skip
    assert s.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("spread", [20, 60, 150])  # crowded (boxes contend) to sparse
def test_optimal_agrees_with_brute_force_on_small_images(spread: float) -> None:
    rng = np.random.default_rng(1)
    d = random_images(rng, 600, 5, spread)
    got = image_scores(600, d["li"], d["lb"], d["lc"], d["ri"], d["rb"], d["rc"])
    expected = [brute_score(per_image_iou(d, i)) for i in range(600)]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_optimal_agrees_with_scipy_on_large_images() -> None:
    rng = np.random.default_rng(2)
    d = random_images(rng, 30, 14)
    got = image_scores(30, d["li"], d["lb"], d["lc"], d["ri"], d["rb"], d["rc"])
    for img in range(30):
        iou = per_image_iou(d, img)
        n, m = iou.shape
        if n == 0 or m == 0:
            assert got[img] == float(n == 0 and m == 0)
            continue
        r, c = linear_sum_assignment(iou, maximize=True)
        vals = iou[r, c]
        total, pairs = vals[vals > 0].sum(), int((vals > 0).sum())
        assert got[img] == pytest.approx(total / (n + m - pairs), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.floats(0, 1), min_size=1, max_size=5), min_size=1, max_size=5).filter(
        lambda rows: len({len(r) for r in rows}) == 1
    )
)
def test_match_optimal_total_equals_brute_force(rows: list[list[float]]) -> None:
    iou = np.array(rows)
    total, _ = match_optimal(iou)
    flip = iou.T if iou.shape[0] > iou.shape[1] else iou
    best = max(
        sum(flip[i, j] for i, j in enumerate(p))
        for p in permutations(range(flip.shape[1]), flip.shape[0])
    )
    assert total == pytest.approx(best, abs=1e-9)


def test_tutorial_rule_is_greedy_by_confidence() -> None:
    iou = np.array([[0.6, 0.5], [0.7, 0.0]])
    # The confident second box takes reference 0 first; the first then takes reference 1.
    assert match_tutorial(iou, np.array([0.1, 0.9])) == (pytest.approx(1.2), 2)
    assert match_tutorial(iou, np.array([0.9, 0.1])) == (pytest.approx(0.6), 1)
    total, pairs = match_optimal(iou)
    assert (total, pairs) == (pytest.approx(1.2), 2)
    with pytest.raises(GtkitError, match="allowed: optimal, tutorial"):
        image_scores(
            0,
            *(np.zeros(0, dtype=np.int64),) * 0,
            np.zeros(0, dtype=np.int64),
            np.zeros((0, 4)),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros((0, 4)),
            np.zeros(0, dtype=np.int64),
            matching="best",
        )


def test_box_order_does_not_matter() -> None:
    rng = np.random.default_rng(3)
    d = random_images(rng, 300, 5)
    expected = image_scores(300, d["li"], d["lb"], d["lc"], d["ri"], d["rb"], d["rc"])
    lp, rp = rng.permutation(len(d["li"])), rng.permutation(len(d["ri"]))
    got = image_scores(
        300, d["li"][lp], d["lb"][lp], d["lc"][lp], d["ri"][rp], d["rb"][rp], d["rc"][rp]
    )
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_images_matched_in_slices_score_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # Large jobs are matched a slice of images at a time; slices of 7 images change nothing.
    rng = np.random.default_rng(5)
    d = random_images(rng, 100, 4, spread=20)
    d["li"][d["li"] == 13] = 12  # an image with no boxes inside a slice, one with many
    d["ri"][d["ri"] == 13] = 12
    expected = [brute_score(per_image_iou(d, i)) for i in range(100)]
    monkeypatch.setattr("gtkit._boxes._SLICE_IMAGES", 7)
    got = image_scores(100, d["li"], d["lb"], d["lc"], d["ri"], d["rb"], d["rc"])
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_class_codes_only_say_which_boxes_may_match() -> None:
    # Images are matched class by class: codes far apart, negative or sparse give the same
    # scores as 0 and 1, and against brute force over each whole image with many classes.
    rng = np.random.default_rng(4)
    d = random_images(rng, 400, 5, spread=20)
    expected = image_scores(400, d["li"], d["lb"], d["lc"], d["ri"], d["rb"], d["rc"])
    remap = np.array([-7, 10**6])
    got = image_scores(400, d["li"], d["lb"], remap[d["lc"]], d["ri"], d["rb"], remap[d["rc"]])
    np.testing.assert_allclose(got, expected, atol=1e-12)
    d["lc"], d["rc"] = rng.integers(-2, 3, len(d["lc"])), rng.integers(-2, 3, len(d["rc"]))
    got = image_scores(400, d["li"], d["lb"], d["lc"], d["ri"], d["rb"], d["rc"])
    np.testing.assert_allclose(got, [brute_score(per_image_iou(d, i)) for i in range(400)])


def test_a_box_outside_the_images_is_an_error() -> None:
    one = (np.array([0]), np.array([[0.0, 0, 5, 5]]), np.array([0]))
    for image in (1, -1):
        with pytest.raises(GtkitError, match=r"out of range \(0 to 0\)"):
            image_scores(1, *one, np.array([image]), np.array([[0.0, 0, 5, 5]]), np.array([0]))


def test_boxes_may_come_as_columns() -> None:
    rng = np.random.default_rng(5)
    d = random_images(rng, 200, 4)
    expected = image_scores(200, d["li"], d["lb"], d["lc"], d["ri"], d["rb"], d["rc"])
    columns = [d["lb"][:, j].copy() for j in range(4)]
    got = image_scores(200, d["li"], columns, d["lc"], d["ri"], d["rb"], d["rc"])
    assert got.tolist() == expected.tolist()


_names = st.lists(st.sampled_from(["bird", "Bird", "cat", "éa", "", None]), max_size=25)


@settings(max_examples=150, deadline=None)
@given(labels=_names, references=_names, copies=st.booleans())
def test_boxes_share_a_class_code_exactly_when_their_names_are_equal(
    labels: list[str | None], references: list[str | None], copies: bool
) -> None:
    def column(names: list[str | None], categories: bool) -> pd.Series:
        out = np.empty(len(names), dtype=object)
        # Equal names as distinct objects, or shared ones.
        out[:] = [(n + ".")[:-1] if n and copies else n for n in names]
        series = pd.Series(out, dtype=object)
        return series.astype("category") if categories else series

    # Texts as the readers give them (categories) or as users may (plain objects), mixed.
    for left, right in ((True, True), (True, False), (False, True), (False, False)):
        l_codes, r_codes = boxes.class_codes(column(labels, left), column(references, right))
        names = labels + references
        codes = np.concatenate([l_codes, r_codes]).tolist()
        assert len(codes) == len(names)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                assert (codes[i] == codes[j]) == (a == b), (left, right, a, b)


def test_class_names_that_are_not_text_are_coded_by_pandas() -> None:
    labels = pd.Series(["bird", 3, "bird", 3.5], dtype=object)
    references = pd.Series([3, "bird", None], dtype=object)
    l_codes, r_codes = boxes.class_codes(labels, references)
    assert l_codes.tolist()[0] == l_codes.tolist()[2] == r_codes.tolist()[1]
    assert l_codes[1] == r_codes[0]
    assert len({*l_codes.tolist(), r_codes[2]}) == 4
