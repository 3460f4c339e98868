"""Worker quality, offline re-consolidation and the what-if by workers per object: figures on the
real ``ic_data`` job checked against plain Python loops over its files, and emulator jobs with
planted careless workers that the flags must find."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
import pandas as pd
import pytest
from hypothesis import strategies as st
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from gtkit import (
    FlagThresholds,
    GtkitError,
    Pricing,
    WorkerAnalysis,
    analyze_workers,
    cluster_boxes,
    dawid_skene,
    majority_vote,
    plot_worker_agreement,
    plot_workers_what_if,
    read_output,
    read_references,
    read_worker_activity,
)
from gtkit._client import LabelingJobClient
from gtkit._manifest import records_from_uris, write_manifest
from gtkit._spec import LabelingJobSpec
from gtkit.emulator import Workforce, emulate, setup_account

from .conftest import FIXTURES

IC = FIXTURES / (
    "aws__amazon-sagemaker-examples/prepare_data/"
    "sm-ground_truth_annotation_consolidation_image_classification/ic_data.tar.gz.extracted/ic_data"
)
IC_PRICE = Pricing(object_fee=0.08, workers=5, task_price=0.012)
DRAWS = 12


# ---------------------------------------------------------------------- the real job, by hand
def _plain_ic() -> dict[str, Any]:
    """ic_data read with json and loops only: answers (object, worker, label), the service's
    label and the true label of each object."""
    names, service = {}, {}
    lines = (IC / "output.manifest").read_text().splitlines()
    for index, line in enumerate(lines):
        record = json.loads(line)
        names[index] = record["source-ref"].rsplit("/", 1)[1]
        service[index] = record["birds-open-images-clone-metadata"]["class-name"]
    truth = {
        f"{t['ImageId']}.jpg": t["Label"] for t in json.loads((IC / "true_labels.json").read_text())
    }
    answers = []
    for iteration in sorted((IC / "worker-response").iterdir()):
        for folder in sorted(iteration.iterdir()):
            for file in sorted(folder.iterdir()):
                for a in json.loads(file.read_text())["answers"]:
                    label = a["answerContent"]["crowd-image-classifier"]["label"]
                    answers.append((int(folder.name), a["workerId"], label))
    labels = sorted({lab for _, _, lab in answers} | set(service.values()) | set(truth.values()))
    true_of = {i: truth.get(names[i]) for i in names}
    return {"answers": answers, "service": service, "truth": true_of, "labels": labels}


def _plain_majority(votes: list[str], labels: list[str], given: Counter[str]) -> str:
    """Most votes; a tie to the label given most often in the whole job, then the first name."""
    best = labels[0]
    for label in labels:  # in name order: an equal key never replaces an earlier name
        if (votes.count(label), given[label]) > (votes.count(best), given[best]):
            best = label
    return best


def _plain_dawid_skene(
    answers: list[tuple[int, str, str]], labels: list[str], *, smoothing: float = 1.0
) -> dict[int, dict[str, float]]:
    """Dawid-Skene written with dictionaries and loops: each worker's confusion rows smoothed
    by ``smoothing`` pseudo-answers spread like the crowd's, until no posterior moves 1e-4."""
    by_object: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for o, w, lab in answers:
        by_object[o].append((w, lab))
    workers = sorted({w for _, w, _ in answers})
    post = {
        o: {k: sum(lab == k for _, lab in given) / len(given) for k in labels}
        for o, given in by_object.items()
    }
    for _ in range(100):
        tally = {(w, lab, k): 0.0 for w in workers for lab in labels for k in labels}
        for o, w, lab in answers:
            for k in labels:
                tally[w, lab, k] += post[o][k]
        crowd = {
            (lab, k): sum(tally[w, lab, k] for w in workers) + 1e-6
            for lab in labels
            for k in labels
        }
        for k in labels:
            column = sum(crowd[lab, k] for lab in labels)
            for lab in labels:
                crowd[lab, k] /= column
        confusion = {}
        for w in workers:
            for k in labels:
                row = {lab: tally[w, lab, k] + smoothing * crowd[lab, k] for lab in labels}
                total = sum(row.values())
                for lab in labels:
                    confusion[w, k, lab] = row[lab] / total
        seen = {k: sum(p[k] for p in post.values()) + 1e-12 for k in labels}
        prior = {k: seen[k] / sum(seen.values()) for k in labels}
        fresh = {}
        for o, given in by_object.items():
            log = {
                k: math.log(prior[k]) + sum(math.log(confusion[w, k, lab]) for w, lab in given)
                for k in labels
            }
            top = max(log.values())
            weights = {k: math.exp(v - top) for k, v in log.items()}
            fresh[o] = {k: v / sum(weights.values()) for k, v in weights.items()}
        change = max(abs(fresh[o][k] - post[o][k]) for o in post for k in labels)
        post = fresh
        if change <= 1e-4:
            break
    return post


@pytest.fixture(scope="module")
def ic() -> tuple[WorkerAnalysis, dict[str, Any]]:
    out = read_output(IC)
    result = analyze_workers(
        out, reference=read_references(IC / "true_labels.json"), pricing=IC_PRICE, draws=DRAWS
    )
    return result, _plain_ic()


def test_real_job_per_worker_table_matches_loops_over_its_files(
    ic: tuple[WorkerAnalysis, dict[str, Any]],
) -> None:
    result, plain = ic
    answers, service, truth = plain["answers"], plain["service"], plain["truth"]
    assert len(answers) == 1510 and len({w for _, w, _ in answers}) == 97
    table = result.workers.set_index("worker")
    assert len(table) == 97 and int(table["answers"].sum()) == 1510
    for worker in {w for _, w, _ in answers}:
        mine = [(o, lab) for o, w, lab in answers if w == worker]
        row = table.loc[worker]
        assert row["answers"] == len(mine)
        assert row["objects"] == len({o for o, _ in mine})
        assert row["agreement"] == pytest.approx(
            sum(lab == service[o] for o, lab in mine) / len(mine)
        )
        assert row["accuracy"] == pytest.approx(sum(lab == truth[o] for o, lab in mine) / len(mine))
        assert row["pay"] == pytest.approx(len(mine) * 0.012)
        assert math.isnan(row["seconds_median"]) and math.isnan(row["hourly_pay"])  # no times
    assert list(result.workers["answers"]) == sorted(result.workers["answers"], reverse=True)
    # The low-agreement flag by its documented rule, computed by hand.
    per_answer = [float(lab == service[o]) for o, _, lab in answers]
    spread = statistics.pstdev(per_answer)
    agreement = {}
    for worker in {w for _, w, _ in answers}:
        mine = [float(lab == service[o]) for o, w, lab in answers if w == worker]
        agreement[worker] = (sum(mine) / len(mine), len(mine))
    crowd = statistics.median(a for a, n in agreement.values() if n >= 10)
    flagged = {
        w for w, (a, n) in agreement.items()
        if n >= 10 and crowd - a >= 0.2 and crowd - a >= 3 * spread / math.sqrt(n)
    }  # fmt: skip
    assert set(result.flagged) == flagged and len(flagged) == 2
    assert result.crowd["agreement"] == pytest.approx(crowd)


def test_real_job_majority_vote_and_dawid_skene_against_true_labels(
    ic: tuple[WorkerAnalysis, dict[str, Any]],
) -> None:
    result, plain = ic
    answers, service, truth, labels = (
        plain["answers"],
        plain["service"],
        plain["truth"],
        plain["labels"],
    )
    given = Counter(lab for _, _, lab in answers)
    votes: dict[int, list[str]] = defaultdict(list)
    for o, _, lab in answers:
        votes[o].append(lab)
    mv = {o: _plain_majority(v, labels, given) for o, v in votes.items()}
    post = _plain_dawid_skene(answers, labels)
    ds = {o: max(labels, key=lambda k, p=p: p[k]) for o, p in post.items()}
    assert all(truth[o] is not None for o in votes)  # every object has a true label

    def accuracy(chosen: dict[int, str]) -> float:
        return sum(chosen[o] == truth[o] for o in votes) / len(votes)

    methods = result.methods.set_index("method")
    assert methods.loc["majority-vote", "quality"] == pytest.approx(accuracy(mv))
    assert methods.loc["dawid-skene", "quality"] == pytest.approx(accuracy(ds))
    assert methods.loc["service", "quality"] == pytest.approx(accuracy(service))
    assert methods.loc["majority-vote", "agreement_with_service"] == pytest.approx(
        sum(mv[o] == service[o] for o in votes) / len(votes)
    )
    assert (methods["objects"] == 302).all()
    labels_table = result.labels.set_index("index")
    assert labels_table["majority-vote"].to_dict() == mv
    assert labels_table["dawid-skene"].to_dict() == ds
    # The figures as found (pinned, so that a change of method shows): on this job the
    # service's consolidation, majority vote and Dawid-Skene all land near 90%.
    assert accuracy(service) == pytest.approx(272 / 302)  # 0.901
    assert accuracy(mv) == pytest.approx(273 / 302)  # 0.904
    assert accuracy(ds) == pytest.approx(269 / 302)  # 0.891
    # Dawid-Skene's estimate of each worker's accuracy: the mean posterior of their answers.
    table = result.workers.set_index("worker")
    for worker in (
        "public.us-east-1.ZZ5SPF4ZTJ75ILQ64JAHMY6K4Y",
        "public.us-east-1.XA2O6GWCRSYU6OIU43IGQ4JXOE",
    ):
        mine = [(o, lab) for o, w, lab in answers if w == worker]
        expected = sum(post[o][lab] for o, lab in mine) / len(mine)
        assert table.loc[worker, "estimated_accuracy"] == pytest.approx(expected, abs=1e-6)


def test_real_job_what_if_for_one_to_five_workers(
    ic: tuple[WorkerAnalysis, dict[str, Any]],
) -> None:
    result, plain = ic
    answers, truth, labels = plain["answers"], plain["truth"], plain["labels"]
    given = Counter(lab for _, _, lab in answers)
    votes: dict[int, list[str]] = defaultdict(list)
    for o, _, lab in answers:
        votes[o].append(lab)
    table = result.what_if
    assert sorted(set(table["k"])) == [1, 2, 3, 4, 5]
    assert set(table["method"]) == {"majority-vote", "dawid-skene"}
    for k in range(1, 6):
        rows = table[table["k"] == k]
        # The job at k workers: 302 human objects at $0.08 plus k tasks at $0.012 each.
        assert rows["cost"].tolist() == pytest.approx([302 * (0.08 + k * 0.012)] * 2)
        assert (rows["draws"] == (DRAWS if k < 5 else 1)).all()
        # Majority vote's expected accuracy with k of each object's 5 answers, over every
        # subset of k answers of every object (ties as in the whole job).
        expected = 0.0
        for o, v in votes.items():
            subsets = list(itertools.combinations(v, k))
            expected += sum(
                _plain_majority(list(s), labels, given) == truth[o] for s in subsets
            ) / len(subsets)
        expected /= len(votes)
        mv = rows[rows["method"] == "majority-vote"].iloc[0]
        if k == 5:
            assert mv["quality_mean"] == pytest.approx(expected) and mv["quality_sd"] == 0
        else:  # the mean of DRAWS draws, within four standard errors of the expectation
            assert (
                abs(mv["quality_mean"] - expected) <= 4 * mv["quality_sd"] / math.sqrt(DRAWS) + 1e-9
            )
    full = table[table["k"] == 5].set_index("method")["quality_mean"]
    methods = result.methods.set_index("method")["quality"]
    assert full["dawid-skene"] == pytest.approx(methods["dawid-skene"])
    assert full["majority-vote"] == pytest.approx(methods["majority-vote"])
    best = result.cheapest()
    assert best is not None and best["target"] == pytest.approx(full.max())
    chosen = table[(table["k"] == best["k"]) & (table["method"] == best["method"])].iloc[0]
    assert chosen["quality_mean"] >= full.max() - 0.01
    cheaper = table[table["k"] < best["k"]]
    assert (cheaper["quality_mean"] < full.max() - 0.01).all()  # nothing cheaper is good enough


def test_real_job_what_if_of_dawid_skene_against_loops_on_subsets_drawn_here(
    ic: tuple[WorkerAnalysis, dict[str, Any]],
) -> None:
    """Dawid-Skene is fitted over the whole crowd at once, so its expected quality at k cannot
    be enumerated per object as majority vote's is: the loop version is run on k-subsets drawn
    here instead, and the two means must agree within sampling error (the per-draw spread the
    table reports, over both numbers of draws). k=1 is cheap, k=4 the fullest subset drawn."""
    result, plain = ic
    answers, truth, labels = plain["answers"], plain["truth"], plain["labels"]
    by_object: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for answer in answers:
        by_object[answer[0]].append(answer)
    rng = random.Random(16)
    table = result.what_if.set_index(["k", "method"])
    for k, draws in ((1, 8), (4, 2)):
        found = []
        for _ in range(draws):
            subset = [a for given in by_object.values() for a in rng.sample(given, k)]
            post = _plain_dawid_skene(subset, labels)
            chosen = {o: max(labels, key=lambda c, p=p: p[c]) for o, p in post.items()}
            found.append(sum(chosen[o] == truth[o] for o in chosen) / len(chosen))
        row = table.loc[(k, "dawid-skene")]
        spread = row["quality_sd"] * math.sqrt(1 / row["draws"] + 1 / draws)
        assert abs(row["quality_mean"] - statistics.fmean(found)) <= 4 * spread + 1e-9, (k, found)


def test_answers_come_in_file_order_so_that_the_draws_are_reproducible(
    ic: tuple[WorkerAnalysis, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The what-if's draws give each answer a random number in table order: the answers of one
    file (an object's five) must come in the file's order on every read, as the loops read
    them, however many threads the engine runs (ordering by file alone left them shuffled)."""
    result, plain = ic
    expected = [(o, w) for o, w, _ in plain["answers"]]
    monkeypatch.setenv("GTKIT_WORKERS", "8")
    for _ in range(3):
        answers = read_output(IC).worker_answers
        assert list(zip(answers["index"].tolist(), answers["worker"], strict=True)) == expected
    again = analyze_workers(
        read_output(IC), reference=read_references(IC / "true_labels.json"), pricing=IC_PRICE,
        draws=DRAWS,
    )  # fmt: skip
    assert again.what_if.equals(result.what_if)


def test_json_document_has_the_issue_s_shape(ic: tuple[WorkerAnalysis, dict[str, Any]]) -> None:
    doc = json.loads(json.dumps(ic[0].to_dict()))
    assert {"workers", "methods", "what_if"} <= set(doc)
    assert {"worker", "answers", "agreement", "accuracy", "pay", "hourly_pay", "flags"} <= set(
        doc["workers"][0]
    )
    assert [m["method"] for m in doc["methods"]] == ["majority-vote", "dawid-skene", "service"]
    assert {"method", "quality", "agreement_with_service"} <= set(doc["methods"][0])
    assert {"k", "method", "quality_mean", "quality_sd", "cost"} <= set(doc["what_if"][0])
    assert doc["workers"][0]["seconds_median"] is None  # unknown, not NaN
    # Only the prices: workers per object is each what-if row's k, not one figure.
    assert doc["pricing"] == {"object_fee": 0.08, "task_price": 0.012}


def test_worker_activity_events_give_times_where_answers_have_none(tmp_path: Path) -> None:
    """CloudWatch events, as exported lines or as log records whose message is the event,
    matched to workers by the last part of their id."""
    worker = "public.us-east-1.ZZ5SPF4ZTJ75ILQ64JAHMY6K4Y"
    tail = worker.rsplit(".", 1)[1]
    events = []
    for n, seconds in enumerate([12, 30, 18]):
        event = {
            "worker_id": tail, "cognito_sub_id": "d6947aeb-0650-447a-ab5d-894db61017fd",
            "task_accepted_time": f"Wed Aug 14 16:0{n}:00 UTC 2019",
            "task_submitted_time": f"Wed Aug 14 16:0{n}:{seconds:02d} UTC 2019",
            "task_returned_time": "", "task_declined_time": "",
            "labeling_job_arn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/birds-open-images-clone",
            "event_type": "TasksSubmitted", "event_timestamp": "1565798464",
        }  # fmt: skip
        events.append(event if n else {"timestamp": 1, "message": json.dumps(event)})
    other_job = {
        **events[1],
        "worker_id": tail,
        "labeling_job_arn": "arn:aws:sagemaker:us-east-1:1:labeling-job/x",
    }
    path = tmp_path / "activity.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in [*events, other_job]))
    activity = read_worker_activity(path)
    assert activity["seconds"].tolist() == [12.0, 30.0, 18.0, 30.0]
    assert str(activity["accepted"].dt.tz) == "UTC"
    result = analyze_workers(
        read_output(IC), pricing=IC_PRICE, activity=activity, draws=1,
        thresholds=FlagThresholds(min_answers=3, fast_fraction=0.5),
    )  # fmt: skip
    row = result.workers.set_index("worker").loc[worker]
    assert row["seconds_median"] == 18.0 and row["seconds_total"] == 60.0  # the job's 3 events
    assert row["hourly_pay"] == pytest.approx(3 * 0.012 / (60 / 3600))
    assert result.against == "full-crowd"  # no references: the what-if against all answers
    assert result.what_if[result.what_if["k"] == 5]["quality_mean"].tolist() == [1.0, 1.0]
    with pytest.raises(GtkitError, match="no such"):
        read_worker_activity(tmp_path / "missing.jsonl")


_EVENT = st.tuples(
    st.text(alphabet=st.sampled_from('abcXYZ019-_.é"\\ '), min_size=1, max_size=12),
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2030, 12, 31)),
    st.one_of(st.none(), st.integers(min_value=0, max_value=86_400)),
    st.booleans(),  # a log record whose message is the event, or the event itself
    st.booleans(),  # CloudWatch's time format, or ISO 8601
)


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(st.lists(_EVENT, min_size=1, max_size=6))
def test_worker_activity_read_back_as_written(
    events: list[tuple[str, datetime, int | None, bool, bool]],
) -> None:
    """Any worker ids, times in either format, events wrapped or not, tasks submitted or not:
    each event read back with its worker, acceptance time and seconds, in file order."""
    lines = []
    for worker, accepted, seconds, wrapped, cloudwatch in events:
        accepted = accepted.replace(microsecond=0)

        def written(moment: datetime, cloudwatch: bool = cloudwatch) -> str:
            return (
                moment.strftime("%a %b %d %H:%M:%S UTC %Y")
                if cloudwatch
                else moment.isoformat() + "Z"
            )

        event = {
            "worker_id": worker,
            "task_accepted_time": written(accepted),
            "task_submitted_time": ""
            if seconds is None
            else written(accepted + timedelta(seconds=seconds)),
            "event_type": "TasksSubmitted" if seconds is not None else "TasksReturned",
        }
        lines.append(json.dumps({"message": json.dumps(event)} if wrapped else event))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "activity.jsonl"
        path.write_text("\n".join(lines) + "\n")
        read = read_worker_activity(path)
    assert read["worker"].tolist() == [e[0] for e in events]
    assert [None if pd.isna(s) else s for s in read["seconds"]] == [e[2] for e in events]
    assert read["accepted"].tolist() == [
        pd.Timestamp(e[1].replace(microsecond=0), tz="UTC") for e in events
    ]


def test_worker_activity_times_that_are_no_time_are_named(tmp_path: Path) -> None:
    event = {"worker_id": "a", "task_accepted_time": "Wed Aug 14 16:00:00 UTC 2019"}
    path = tmp_path / "activity.jsonl"
    lines = [{**event, "task_submitted_time": "yesterday"}, {**event, "task_accepted_time": "x"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(GtkitError) as caught:  # both at once, not a time quietly unknown
        read_worker_activity(path)
    assert "task_accepted_time 'x'" in str(caught.value)
    assert "task_submitted_time 'yesterday'" in str(caught.value)


def test_outputs_it_cannot_analyse_say_why(tmp_path: Path) -> None:
    with pytest.raises(GtkitError, match="no worker answers"):  # a manifest alone has none
        analyze_workers(read_output(IC / "output.manifest"))
    line = {
        "source-ref": "s3://b/a.png", "seg-ref": "s3://b/a-mask.png",
        "seg-ref-metadata": {"type": "groundtruth/semantic-segmentation", "human-annotated": "yes",
                             "internal-color-map": {"0": {"class-name": "BACKGROUND"}}},
    }  # fmt: skip
    (tmp_path / "output.manifest").write_text(json.dumps(line) + "\n")
    folder = tmp_path / "annotations" / "worker-response" / "iteration-1" / "0"
    folder.mkdir(parents=True)
    answer = {
        "workerId": "private.us-east-1.abc",
        "answerContent": {"crowd-semantic-segmentation": {}},
    }
    (folder / "2024-01-01_00:00:00.json").write_text(json.dumps({"answers": [answer]}))
    with pytest.raises(GtkitError, match="semantic-segmentation job"):
        analyze_workers(read_output(tmp_path))


# ---------------------------------------------------------------------- the methods on arrays
def test_majority_vote_ties_and_objects_without_answers() -> None:
    obj = np.array([0, 0, 1, 1, 2])
    label = np.array([0, 1, 2, 1, 1])
    # Label 1 is given most often: it wins both ties; object 3 has no answer.
    assert majority_vote(obj, label, n_objects=4, n_labels=3).tolist() == [1, 1, 1, -1]
    rank = np.array([2, 0, 1])  # a fixed order instead: label 0 first, then 2
    assert majority_vote(obj, label, n_objects=4, n_labels=3, tie_rank=rank).tolist() == [
        0,
        2,
        1,
        -1,
    ]


def test_dawid_skene_trusts_the_worker_who_is_usually_right() -> None:
    """Worker 0 is right on all 40 objects; workers 1 and 2 copy one wrong label on the last 8
    (right elsewhere). Majority vote follows the pair; Dawid-Skene learns whom to trust."""
    truth = np.arange(40) % 3
    wrong = (truth + 1) % 3
    obj = np.repeat(np.arange(40), 3)
    worker = np.tile([0, 1, 2], 40)
    label = np.column_stack([truth, truth, truth])
    label[32:, 1:] = wrong[32:, None]
    label[:8, 1] = wrong[:8]  # worker 1 also errs alone early on
    label[8:16, 2] = wrong[8:16]  # and so does worker 2
    answers = label.ravel()
    mv = majority_vote(obj, answers, n_objects=40, n_labels=3)
    ds = dawid_skene(obj, worker, answers, n_objects=40, n_workers=3, n_labels=3)
    assert (mv[32:] == wrong[32:]).all()
    assert (ds.labels == truth).all() and ds.converged
    assert ds.confusion.shape == (3, 3, 3)
    np.testing.assert_allclose(ds.confusion.sum(axis=2), 1.0)
    assert ds.confusion[0].trace() / 3 > ds.confusion[1].trace() / 3


def test_cluster_boxes_averages_what_most_workers_drew() -> None:
    # Object 0, three workers: two birds each drew, plus one stray box of worker 2, and a box
    # of another class over the first bird; object 1: one worker of two drew one box.
    boxes = np.array([
        [10, 10, 20, 20], [50, 50, 30, 30],   # worker 0
        [12, 10, 20, 20], [52, 48, 30, 30],   # worker 1
        [11, 12, 20, 20], [90, 90, 10, 10],   # worker 2: one bird, one stray
        [10, 10, 20, 20],                      # worker 2: another class over the first bird
        [5, 5, 10, 10],                        # object 1, worker 0
    ], dtype=float)  # fmt: skip
    obj = np.array([0, 0, 0, 0, 0, 0, 0, 1])
    slot = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    label = np.array([0, 0, 0, 0, 0, 0, 1, 0])
    made = cluster_boxes(obj, slot, boxes, label, np.array([3, 2]))
    order = np.argsort(made.boxes[:, 0])
    np.testing.assert_allclose(
        made.boxes[order], [[5, 5, 10, 10], [11, 32 / 3, 20, 20], [51, 49, 30, 30]]
    )
    assert made.obj[order].tolist() == [1, 0, 0] and made.support[order].tolist() == [1, 3, 2]
    assert made.label.tolist() == [0, 0, 0]
    assert made.member_cluster[5] == -1 and made.member_cluster[6] == -1  # stray and lone class
    assert made.confidence.min() > 0 and made.confidence.max() <= 1


# ---------------------------------------------------------------------- emulator jobs, planted workers
CREW = Workforce.with_crew(12, careless=2, seed=1, miss=0.0, extra=0.0)


def _crew_job(folder: Path, task: str, objects: int, *, private: bool = False) -> tuple[Path, Path]:
    """A job of ``objects`` images labeled by the crew, all by humans; its output folder and
    reference file."""
    rng = np.random.default_rng(5)
    names = [f"img-{i:04d}.jpg" for i in range(objects)]
    if task == "bounding-box":
        images, annotations = [], []
        for i, name in enumerate(names):
            images.append({"id": i + 1, "file_name": name, "width": 200, "height": 150})
            for _ in range(int(rng.integers(1, 4))):
                w, h = float(rng.uniform(20, 60)), float(rng.uniform(15, 40))
                xy = [float(rng.uniform(0, 200 - w)), float(rng.uniform(0, 150 - h))]
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": i + 1,
                        "category_id": 1,
                        "bbox": [*xy, w, h],
                    }
                )
        doc: Any = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "bird"}],
        }
        labels: tuple[str, ...] = ("bird",)
    else:
        labels = ("cat", "dog", "owl", "fox", "elk")
        doc = [{"file_name": n, "Label": labels[int(rng.integers(len(labels)))]} for n in names]
    reference = folder / "reference.json"
    reference.write_text(json.dumps(doc))
    with emulate(references=reference, seed=3, workforce=CREW):
        ready = setup_account(bucket="crew-data", workteam="crew-team" if private else None)
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for name in names:
            backend.put_object("crew-data", f"images/{name}", b"")
        write_manifest(
            records_from_uris(f"s3://crew-data/images/{n}" for n in names),
            "s3://crew-data/in/input.manifest",
        )
        spec = LabelingJobSpec(
            name="crew", task=task, region="us-east-1", manifest="s3://crew-data/in/input.manifest",
            output="s3://crew-data/out", role_arn=ready.role_arn, labels=labels, workers=5,
            workforce=ready.workteam_arn if private else "public",
            task_price=None if private else ("0.036" if task == "bounding-box" else "0.012"),
            auto_labeling=False,
        )  # fmt: skip
        client = LabelingJobClient(sleep=lambda _: None)
        client.create(spec, check=False)
        client.wait("crew", progress=False)
        return client.download("crew", folder / "out"), reference


@pytest.fixture(scope="module")
def crew_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Path]]]:
    folder = tmp_path_factory.mktemp("crew")
    (folder / "classes").mkdir()
    (folder / "boxes").mkdir()
    with pytest.MonkeyPatch.context() as env:  # made once for the module: its own fake account
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(key, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        jobs = {
            "classes": _crew_job(folder / "classes", "image-classification", 150, private=True),
            "boxes": _crew_job(folder / "boxes", "bounding-box", 120),
        }
    yield jobs


@pytest.mark.parametrize("task", ["classes", "boxes"])
def test_planted_careless_workers_are_flagged_and_skills_recovered(
    crew_jobs: dict[str, tuple[Path, Path]], task: str
) -> None:
    folder, reference = crew_jobs[task]
    prefix = "private.us-east-1." if task == "classes" else "public.us-east-1."
    planted = {w.worker_id(prefix) for w in CREW.crew if w.careless}
    assert len(planted) == 2
    describe = json.loads((folder / "describe.json").read_text())
    result = analyze_workers(
        read_output(folder), reference=read_references(reference), describe=describe, draws=4
    )
    assert result.task == task
    assert set(result.flagged) == planted
    table = result.workers.set_index("worker")
    assert set(table.index[table["low_agreement"]]) == planted
    assert set(table.index[table["too_fast"]]) == planted
    assert set(table.index) == {w.worker_id(prefix) for w in CREW.crew}
    for w in CREW.crew:
        row = table.loc[w.worker_id(prefix)]
        error = math.sqrt(w.skill * (1 - w.skill) / row["answers"])
        # Against the references, and (Dawid-Skene, or agreement with the service) without.
        assert abs(row["accuracy"] - w.skill) <= 4 * error, (w, row["accuracy"])
        assert abs(row["estimated_accuracy"] - w.skill) <= 4 * error + 0.02, (
            w,
            row["estimated_accuracy"],
        )
        assert row["seconds_median"] == pytest.approx(w.seconds_per_task, rel=0.25)
    if task == "classes":  # a private workforce: no task price, workers' metadata in the files
        assert result.pricing is not None and result.pricing.task_price == 0.0
        assert (table["pay"] == 0).all()
        response = next((folder / "annotations" / "worker-response").rglob("*.json"))
        answer = json.loads(response.read_text())["answers"][0]
        assert answer["workerMetadata"]["identityData"]["identityProviderType"] == "Cognito"
        assert len(answer["workerId"].rsplit(".", 1)[1]) == 16
    else:
        assert (table["pay"] == table["answers"] * 0.036).all()
        methods = result.methods.set_index("method")
        assert methods.loc["iou-clustering", "agreement_with_service"] > 0.9
        assert (
            abs(methods.loc["iou-clustering", "quality"] - methods.loc["service", "quality"]) < 0.03
        )
    assert len(result.what_if) == 5 * len(result.methods[result.methods["method"] != "service"])


def test_plots_draw_into_given_axes(crew_jobs: dict[str, tuple[Path, Path]]) -> None:
    from matplotlib.figure import Figure

    folder, reference = crew_jobs["boxes"]
    result = analyze_workers(read_output(folder), reference=read_references(reference), draws=2)
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot_worker_agreement(result, ax=left) is fig
    assert plot_workers_what_if(result, ax=right) is fig
    assert len(left.collections) == 2  # careful and flagged workers
    assert plot_worker_agreement(result) is not fig


def test_references_of_the_other_kind_are_refused_not_ignored(
    crew_jobs: dict[str, tuple[Path, Path]],
) -> None:
    """Image classes cannot score boxes, nor boxes classes: a clear error, not quality quietly
    measured against the crowd instead of the references the user gave."""
    boxes_folder, boxes_reference = crew_jobs["boxes"]
    with pytest.raises(GtkitError, match="image classes but no boxes"):
        analyze_workers(
            read_output(boxes_folder), reference=read_references(IC / "true_labels.json")
        )
    with pytest.raises(GtkitError, match="boxes but no image classes"):
        analyze_workers(read_output(IC), reference=read_references(boxes_reference))
