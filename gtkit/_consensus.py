"""Consolidating worker answers offline: majority vote and Dawid-Skene for classes, IoU
clustering for boxes. Everything works on columnar numpy arrays, one entry per answer (or per
box), never one Python object per answer.

Answers are integer codes: ``obj`` (the object each answer is about, 0 to n_objects - 1),
``worker`` (0 to n_workers - 1) and ``label`` (0 to n_labels - 1).

>>> obj = np.array([0, 0, 0, 1, 1, 1])
>>> label = np.array([2, 2, 0, 1, 0, 1])
>>> majority_vote(obj, label, n_objects=2, n_labels=3).tolist()
[2, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtkit._arrays import FloatArray, IntArray
from gtkit._boxes import _pair_iou
from gtkit._errors import GtkitError

__all__ = [
    "CLUSTER_IOU",
    "CLUSTER_SHARE",
    "BoxClusters",
    "DawidSkene",
    "cluster_boxes",
    "dawid_skene",
    "majority_vote",
    "vote_counts",
]

#: IoU (a fraction) above which a worker's box joins a cluster of other workers' boxes of the
#: same class: the usual "same object" bar, and the one the emulator's consolidation uses.
CLUSTER_IOU = 0.5
#: Share of an object's workers (a fraction) whose boxes a cluster must hold to be kept: at
#: least half of them, as Ground Truth's documented consolidation keeps the boxes most workers
#: drew.
CLUSTER_SHARE = 0.5


def _check_codes(name: str, codes: IntArray, size: int) -> IntArray:
    out = np.asarray(codes, dtype=np.int64)
    if len(out) and not 0 <= int(out.min()) <= int(out.max()) < size:
        raise GtkitError(f"{name} codes out of range (0 to {size - 1})")
    return out


def vote_counts(obj: IntArray, label: IntArray, *, n_objects: int, n_labels: int) -> FloatArray:
    """Votes per object and label: an (n_objects, n_labels) array of answer counts."""
    obj = _check_codes("object", obj, n_objects)
    label = _check_codes("label", label, n_labels)
    flat = np.bincount(obj * n_labels + label, minlength=n_objects * n_labels)
    counts: FloatArray = flat.reshape(n_objects, n_labels).astype(np.float64)
    return counts


def majority_vote(
    obj: IntArray,
    label: IntArray,
    *,
    n_objects: int,
    n_labels: int,
    tie_rank: IntArray | None = None,
) -> IntArray:
    """The label most answers gave each object; -1 for an object without answers.

    A tie goes to the label of highest ``tie_rank`` (n_labels distinct integers); by default,
    the label given most often over all the answers, then the lowest code (with codes made
    from sorted names, the name first in order): with nothing else to go on, the commoner
    label is the likelier.
    """
    counts = vote_counts(obj, label, n_objects=n_objects, n_labels=n_labels)
    if tie_rank is None:
        tie_rank = frequency_rank(label, n_labels)
    rank = np.asarray(tie_rank, dtype=np.float64)
    if rank.shape != (n_labels,):
        raise GtkitError(f"tie_rank: expected shape ({n_labels},), got {rank.shape}")
    # Counts are whole numbers and ranks below n_labels: count first, rank second.
    key = counts * (n_labels + 1) + rank[None, :]
    winner: IntArray = np.argmax(key, axis=1).astype(np.int64)
    winner[counts.sum(axis=1) == 0] = -1
    return winner


def frequency_rank(label: IntArray, n_labels: int) -> IntArray:
    """Each label's rank by how often it was given (0 the rarest, n_labels - 1 the commonest);
    among labels given equally often, the lower code ranks higher."""
    given = np.bincount(np.asarray(label, dtype=np.int64), minlength=n_labels)
    order = np.lexsort((-np.arange(n_labels), given))  # ascending count, then descending code
    rank = np.empty(n_labels, dtype=np.int64)
    rank[order] = np.arange(n_labels)
    return rank


@dataclass(frozen=True)
class DawidSkene:
    """The result of :func:`dawid_skene`.

    ``posterior`` (n_objects, n_labels): each object's probability of each true label (rows
    of objects without answers are the prior); ``confusion`` (n_workers, n_labels, n_labels):
    ``confusion[w, k, l]`` the probability that worker ``w`` answers ``l`` when the truth is
    ``k``; ``prior`` (n_labels,): the share of each true label; ``labels`` (n_objects,): the
    most probable label (-1 without answers); ``iterations`` run and whether the posteriors
    ``converged`` (no change above the tolerance).
    """

    posterior: FloatArray
    confusion: FloatArray
    prior: FloatArray
    labels: IntArray
    iterations: int
    converged: bool

    def answer_correct(self, obj: IntArray, label: IntArray) -> FloatArray:
        """Each answer's probability of being right: its object's posterior of its label."""
        out: FloatArray = self.posterior[np.asarray(obj), np.asarray(label)]
        return out


def dawid_skene(
    obj: IntArray,
    worker: IntArray,
    label: IntArray,
    *,
    n_objects: int,
    n_workers: int,
    n_labels: int,
    smoothing: float = 1.0,
    max_iterations: int = 100,
    tolerance: float = 1e-4,
) -> DawidSkene:
    """Dawid and Skene's (1979) expectation-maximisation over per-worker confusion matrices.

    Starts from the majority-vote shares of each object's answers, then alternates: estimate
    each worker's confusion matrix and the label prior from the current posteriors (M step),
    and each object's posterior from the prior and the confusion entries of its answers (E
    step), until no posterior moves by more than ``tolerance`` or ``max_iterations`` have run.
    Each row of a worker's confusion matrix gets ``smoothing`` pseudo-answers spread like the
    whole crowd's answers for that true label: a worker seen on few objects is taken to be
    like the average worker until their answers say otherwise (an even spread instead would
    make them a guesser, and sweep rare labels into common ones).
    """
    obj = _check_codes("object", obj, n_objects)
    worker = _check_codes("worker", worker, n_workers)
    label = _check_codes("label", label, n_labels)
    if len(obj) != len(worker) or len(obj) != len(label):
        raise GtkitError("obj, worker and label must have one entry per answer")
    if not smoothing > 0 or max_iterations < 1 or n_labels < 1:
        raise GtkitError("smoothing must be > 0, max_iterations >= 1, n_labels >= 1")
    # Answers ordered by object, so that an object's answers are one slice (summed by reduceat).
    order = np.argsort(obj, kind="stable")
    o, w, lab = obj[order], worker[order], label[order]
    answered, local = np.unique(o, return_inverse=True)
    starts = np.searchsorted(o, answered)
    counts = vote_counts(local, lab, n_objects=len(answered), n_labels=n_labels)
    post = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # answered objects only
    # Confusion is kept as [worker, answer, truth]: one answer's entries are one row.
    key = w * n_labels + lab
    cells = (key[:, None] * n_labels + np.arange(n_labels)[None, :]).ravel()
    size = n_workers * n_labels * n_labels
    by_answer = np.zeros((n_workers, n_labels, n_labels))
    prior = np.full(n_labels, 1.0 / n_labels)
    converged = False
    iterations = 0
    while iterations < max_iterations and len(answered):
        iterations += 1
        # M step: counts[w, l, k] = sum over w's answers l of posterior[o, k], then smoothed.
        mass = post[local]  # (answers, K): the truth each answer may have been about
        tally = np.bincount(cells, weights=mass.ravel(), minlength=size)
        tally = tally.reshape(n_workers, n_labels, n_labels)
        crowd = tally.sum(axis=0) + 1e-6  # (L, K): every worker's answers pooled
        crowd /= crowd.sum(axis=0, keepdims=True)
        by_answer = tally + smoothing * crowd[None, :, :]
        by_answer /= by_answer.sum(axis=1, keepdims=True)
        seen = post.sum(axis=0) + 1e-12
        prior = seen / seen.sum()
        # E step: log posterior = log prior + sum of log confusion[w, l, :] over the answers.
        per_answer = np.log(by_answer.reshape(n_workers * n_labels, n_labels))[key]
        log_post = np.log(prior)[None, :] + np.add.reduceat(per_answer, starts, axis=0)
        log_post -= log_post.max(axis=1, keepdims=True)
        fresh = np.exp(log_post)
        fresh /= fresh.sum(axis=1, keepdims=True)
        change = float(np.abs(fresh - post).max(initial=0.0))
        post = fresh
        if change <= tolerance:
            converged = True
            break
    posterior = np.tile(prior, (n_objects, 1))
    posterior[answered] = post
    confusion: FloatArray = by_answer.transpose(0, 2, 1).copy()
    labels: IntArray = np.argmax(posterior, axis=1).astype(np.int64)
    unanswered = np.ones(n_objects, dtype=bool)
    unanswered[answered] = False
    labels[unanswered] = -1
    return DawidSkene(posterior, confusion, prior, labels, iterations, converged)


@dataclass(frozen=True)
class BoxClusters:
    """Boxes consolidated from several workers' boxes (:func:`cluster_boxes`).

    ``obj`` (c,) each kept box's object; ``boxes`` (c, 4) ``left, top, width, height`` in the
    answers' unit (pixels), the mean of its cluster; ``label`` (c,) its class code;
    ``support`` (c,) how many workers drew a box of the cluster; ``confidence`` (c,) the share
    of the object's workers who did times their boxes' mean IoU with the mean box (0 to 1).
    ``member_cluster`` (m,) gives each input box's cluster among the kept ones, -1 where its
    cluster was dropped.
    """

    obj: IntArray
    boxes: FloatArray
    label: IntArray
    support: IntArray
    confidence: FloatArray
    member_cluster: IntArray


def cluster_boxes(
    obj: IntArray,
    slot: IntArray,
    boxes: FloatArray,
    label: IntArray,
    workers: IntArray,
    *,
    min_iou: float = CLUSTER_IOU,
    min_share: float = CLUSTER_SHARE,
) -> BoxClusters:
    """Ground Truth's documented box consolidation, offline: cluster the workers' boxes of
    each object by IoU, average each cluster, keep the clusters enough workers drew.

    Each box has its object ``obj``, its worker's ``slot`` among that object's answers (0,
    1, ...), its geometry ``boxes`` (m, 4) and class code ``label``; ``workers`` (n_objects,)
    counts each object's answers, those without boxes included. The first slot's boxes start
    clusters; each next slot's boxes join the cluster of the same class whose mean box they
    overlap most (IoU above ``min_iou``), one box per cluster and worker, best pairs first
    (repeated rounds of mutual best matches: the greedy matching by IoU); boxes left over
    start clusters of their own. A cluster is kept when at least ``min_share`` of the
    object's workers drew it. All objects are worked on at once, slot after slot.
    """
    obj = np.asarray(obj, dtype=np.int64)
    slot = np.asarray(slot, dtype=np.int64)
    label = np.asarray(label, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    workers = np.asarray(workers, dtype=np.int64)
    m = len(obj)
    if not (len(slot) == len(label) == len(boxes) == m):
        raise GtkitError("obj, slot, boxes and label must have one entry per box")
    _check_codes("object", obj, len(workers))
    assign = np.full(m, -1, dtype=np.int64)  # each box's cluster (all clusters, kept or not)
    c_obj = np.zeros(0, dtype=np.int64)
    c_label = np.zeros(0, dtype=np.int64)
    c_sum = np.zeros((0, 4))
    c_n = np.zeros(0, dtype=np.int64)
    for s in np.unique(slot).tolist():
        rows = np.flatnonzero(slot == s)
        matched = _match_to_clusters(
            obj[rows], label[rows], boxes[rows], c_obj, c_label, c_sum / c_n[:, None], min_iou
        )
        hit = matched >= 0
        np.add.at(c_sum, matched[hit], boxes[rows[hit]])
        np.add.at(c_n, matched[hit], 1)
        assign[rows[hit]] = matched[hit]
        new = rows[~hit]
        assign[new] = len(c_obj) + np.arange(len(new))
        c_obj = np.concatenate([c_obj, obj[new]])
        c_label = np.concatenate([c_label, label[new]])
        c_sum = np.concatenate([c_sum, boxes[new]])
        c_n = np.concatenate([c_n, np.ones(len(new), dtype=np.int64)])
    mean = c_sum / np.maximum(c_n, 1)[:, None]
    keep = c_n >= min_share * workers[c_obj] - 1e-9
    fit = _pair_iou(boxes, mean[assign]) if m else np.zeros(0)
    mean_fit = np.bincount(assign, weights=fit, minlength=len(c_n)) / np.maximum(c_n, 1)
    share = c_n / np.maximum(workers[c_obj], 1)
    kept = np.flatnonzero(keep)
    renumber = np.full(len(c_n), -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    return BoxClusters(
        obj=c_obj[kept],
        boxes=mean[kept],
        label=c_label[kept],
        support=c_n[kept],
        confidence=(share * mean_fit)[kept],
        member_cluster=renumber[assign] if m else np.zeros(0, dtype=np.int64),
    )


def _match_to_clusters(
    obj: IntArray,
    label: IntArray,
    boxes: FloatArray,
    c_obj: IntArray,
    c_label: IntArray,
    c_mean: FloatArray,
    min_iou: float,
) -> IntArray:
    """Each box's cluster (-1 for none): pairs of the same object and class above
    ``min_iou``, matched one to one by rounds of mutual best IoU."""
    n = len(obj)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(c_obj) == 0:
        return out
    # Candidate pairs: each box with every cluster of its object and class.
    radix = int(max(label.max(initial=0), c_label.max(initial=0))) + 1
    c_key = c_obj * radix + c_label
    order = np.argsort(c_key, kind="stable")
    sorted_keys = c_key[order]
    key = obj * radix + label
    lo = np.searchsorted(sorted_keys, key, side="left")
    hi = np.searchsorted(sorted_keys, key, side="right")
    per = hi - lo
    box = np.repeat(np.arange(n), per)
    offset = np.arange(len(box)) - np.repeat(np.cumsum(per) - per, per)
    cluster = order[np.repeat(lo, per) + offset]
    iou = _pair_iou(boxes[box], c_mean[cluster])
    good = iou > min_iou
    box, cluster, iou = box[good], cluster[good], iou[good]
    while len(box):
        # Each box's best cluster and each cluster's best box; a pair both pick is matched.
        by_box = np.lexsort((-iou, box))
        first_box = by_box[np.r_[True, box[by_box][1:] != box[by_box][:-1]]]
        by_cluster = np.lexsort((-iou, cluster))
        first_cluster = by_cluster[np.r_[True, cluster[by_cluster][1:] != cluster[by_cluster][:-1]]]
        mutual = np.intersect1d(first_box, first_cluster, assume_unique=True)
        if not len(mutual):  # only ties in a cycle: the best pair of all goes first
            mutual = np.array([int(np.argmax(iou))])
        out[box[mutual]] = cluster[mutual]
        taken_box = np.zeros(n, dtype=bool)
        taken_box[box[mutual]] = True
        taken_cluster = np.zeros(len(c_obj), dtype=bool)
        taken_cluster[cluster[mutual]] = True
        free = ~taken_box[box] & ~taken_cluster[cluster]
        box, cluster, iou = box[free], cluster[free], iou[free]
    return out
