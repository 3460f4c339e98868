"""The ``gtkit`` command: a thin shell over the public API.

Each subcommand parses its arguments, calls public functions a notebook could call, and prints.
Every subcommand exits as :data:`EXIT_STATUSES` says (also shown by ``gtkit --help``). With
``--emulate REFERENCE`` (or ``GTKIT_EMULATE``) every AWS call is served by gtkit's emulator and
moto, the emulated account kept in a state folder between commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from gtkit import __version__
from gtkit._demo import DEMO_TASKS
from gtkit._errors import MAX_PROBLEMS, GtkitError, OverwriteError, SetupError, _MissingPriceError

__all__ = ["EXIT_STATUSES", "build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

#: What ``gtkit``'s exit status means, the same for every subcommand.
EXIT_STATUSES = """\
exit status (the same for every command):
  0    success
  1    internal error: a bug in gtkit (please report it with the traceback shown)
  2    a mistake in the command line, a config, a manifest or the AWS account;
       problems found (manifest check, job check); a job that ended Failed
  130  interrupted (Ctrl-C)
  141  output closed early (as by `| head`), as other Unix tools do
"""

_EMULATE_STATE = "gtkit-emulator"


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give a whole number of at least 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text}: give a number of at least 0")
    return value


_LENIENT_HELP = (
    "skip malformed lines and files, reading bad values as unknown; list the first "
    f"{MAX_PROBLEMS} of each kind with file and line, and count the rest"
)


def _progress_wanted(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False)


# ---------------------------------------------------------------------- manifest
def _manifest_build(args: argparse.Namespace) -> int:
    from gtkit import _manifest as manifest

    extensions = args.ext or manifest.IMAGE_EXTENSIONS
    if args.text:
        try:
            lines = Path(args.source).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise GtkitError(f"{args.source}: cannot read as UTF-8 text ({exc})") from None
        records: Any = manifest.records_from_texts(line for line in lines if line.strip())
    elif args.source.startswith("s3://"):
        records = manifest.records_from_uris(
            manifest.iter_s3_uris(args.source, extensions=extensions)
        )
    elif Path(args.source).is_dir():
        if not args.upload_to:
            raise GtkitError(
                f"{args.source} is a local folder: give --upload-to s3://bucket/prefix"
            )
        report = manifest.upload_folder(args.source, args.upload_to, extensions=extensions)
        print(
            f"uploaded {report.uploaded} file(s), {report.skipped} already there", file=sys.stderr
        )
        records = manifest.records_from_uris(report.uris)
    else:
        raise GtkitError(f"{args.source}: expected an s3:// prefix, a folder, or --text FILE")
    count = manifest.write_manifest(records, args.out, overwrite=args.overwrite)
    print(f"wrote {count} object(s) to {args.out}")
    return 0


def _manifest_check(args: argparse.Namespace) -> int:
    from gtkit._manifest import check_manifest

    report = check_manifest(args.path, max_objects=args.max_objects)
    for problem in report.problems:
        print(problem)
    print(f"{report.objects} object(s), {len(report.problems)} problem(s)")
    return 0 if report.ok else 2


# ---------------------------------------------------------------------- job
def _job_plan(args: argparse.Namespace) -> int:
    from gtkit._spec import load_spec

    spec = load_spec(args.config)
    request = spec.to_request()
    objects = args.objects
    warnings = spec.warnings(objects=objects)
    estimate = spec.estimate(objects if objects is not None else 1000, object_fee=args.object_fee)
    if args.json:
        _emit_json({"request": request, "warnings": warnings, "estimate": estimate.as_dict()})
        return 0
    print(
        f"job {spec.name}: {spec.task} in {spec.region}; the request breaks none of the "
        "service's rules (gtkit job check tests your account)"
    )
    for w in warnings:
        print(f"warning: {w}")
    basis = f"{estimate.objects} objects" + ("" if objects is not None else " (use --objects N)")
    p = estimate.pricing
    print(
        f"cost for {basis}: ${p.object_fee:.3f} fee + {p.workers} x ${p.task_price:.3f} "
        f"= ${p.human_object_cost:.4f} per human-labeled object"
    )
    if spec.auto_labeling:
        print(f"  with automated labeling: ${estimate.low:,.2f} to ${estimate.high:,.2f}")
    print(f"  without automated labeling: ${estimate.without_auto_labeling:,.2f}")
    print("request:")
    _emit_json(request)
    return 0


def _report_problems(output: Any) -> None:
    """Every problem the reader found, on standard error (skipped lines among them)."""
    for problem in output.problems:
        print(f"problem: {problem}", file=sys.stderr)


def _job_client(args: argparse.Namespace, region: str | None = None) -> Any:
    from gtkit._client import LabelingJobClient

    sleep = (lambda _: None) if args.emulated else time.sleep
    return LabelingJobClient(region=region or getattr(args, "region", None), sleep=sleep)


def _status_line(job: Any) -> str:
    c = job["LabelCounters"]
    line = (
        f"{job['LabelingJobName']}: {job['LabelingJobStatus']} - human {c.get('HumanLabeled', 0)}, "
        f"machine {c.get('MachineLabeled', 0)}, failed {c.get('FailedNonRetryableError', 0)}, "
        f"unlabeled {c.get('Unlabeled', 0)}"
    )
    if job.get("FailureReason"):
        line += f"\n  failure: {job['FailureReason']}"
    return line


def _check_account(args: argparse.Namespace, client: Any, spec: Any, out: TextIO) -> Any:
    report = client.check(
        spec,
        short_instructions=getattr(args, "instructions", None) or "",
        image_sizes=not args.no_image_sizes,
        progress=_progress_wanted(args),
    )
    for problem in report.problems:
        print(problem, file=out)
    for warning in report.warnings:
        print(f"warning: {warning}", file=out)
    print(
        f"{report.checked} object(s) checked, {len(report.problems)} problem(s), "
        f"{len(report.warnings)} warning(s)",
        file=out,
    )
    return report


def _job_check(args: argparse.Namespace) -> int:
    from gtkit._spec import load_spec

    spec = load_spec(args.config)
    report = _check_account(args, _job_client(args, spec.region), spec, sys.stdout)
    return 0 if report.ok else 2


def _job_create(args: argparse.Namespace) -> int:
    from gtkit._spec import load_spec

    spec = load_spec(args.config)
    client = _job_client(args, spec.region)
    instructions = args.instructions or ""
    if not args.no_check:  # its findings on stderr, where a refusal goes
        report = _check_account(args, client, spec, sys.stderr)
        if report.problems:
            raise SetupError(report.problems)
    job = client.create(spec, short_instructions=instructions, check=False)
    print(_status_line(job))
    return 0


def _job_status(args: argparse.Namespace) -> int:
    job = _job_client(args).describe(args.name)
    if args.json:
        _emit_json({k: v for k, v in job.items() if k != "ResponseMetadata"})
    else:
        print(_status_line(job))
    return 0


def _job_wait(args: argparse.Namespace) -> int:
    job = _job_client(args).wait(
        args.name,
        progress=_progress_wanted(args),
        timeout=args.timeout,
        initial_delay=args.interval,
        max_delay=max(args.interval, 120.0),
    )
    print(_status_line(job))
    return 0


def _job_stop(args: argparse.Namespace) -> int:
    print(_status_line(_job_client(args).stop(args.name)))
    return 0


def _job_list(args: argparse.Namespace) -> int:
    for job in _job_client(args).list(status=args.status, name_contains=args.name_contains):
        print(_status_line(job))
    return 0


def _job_download(args: argparse.Namespace) -> int:
    path = _job_client(args).download(args.name, args.out, overwrite=args.overwrite)
    print(f"downloaded {args.name} to {path} (with describe.json)")
    return 0


# ---------------------------------------------------------------------- export
def _export(args: argparse.Namespace) -> int:
    from gtkit._export import write_export
    from gtkit._output import read_output

    output = read_output(args.job_output, lenient=args.lenient)
    _report_problems(output)
    path = write_export(
        output, args.format, args.out, attribute=args.attribute, overwrite=args.overwrite
    )
    print(f"wrote {args.format} export to {path}")
    return 0


# ---------------------------------------------------------------------- analysis
def _analysis_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from gtkit._analysis import analyze
    from gtkit._output import read_output
    from gtkit._references import read_references

    output = read_output(args.job_output, lenient=args.lenient)
    _report_problems(output)
    reference = None
    if args.reference:
        reference = read_references(args.reference)
        if args.reference_class:
            reference = reference.renamed(single_class=args.reference_class)
    analysis = analyze(  # without --describe, analyze finds describe.json as the API does
        output,
        reference=reference,
        describe=args.describe,
        workers=args.workers,
        task_price=args.task_price,
        object_fee=args.object_fee,
        matching=args.matching,
        attribute=args.attribute,
    )
    return analysis, output, reference


def _analyze(args: argparse.Namespace) -> int:
    from gtkit._report import headline, report_tables

    analysis, _, _ = _analysis_inputs(args)
    if args.json:
        _emit_json(analysis.to_dict())
        return 0
    print(report_tables(analysis)["iterations"].to_string(index=False))
    for line in headline(analysis):
        print(line)
    return 0


def _report(args: argparse.Namespace) -> int:
    from gtkit._report import headline, write_report

    analysis, output, reference = _analysis_inputs(args)
    workers = None if args.no_workers else _report_workers(analysis, output, reference)
    path = write_report(
        args.out, analysis, output, reference, image_dir=args.images, overwrite=args.overwrite,
        workers=workers,
    )  # fmt: skip
    for line in headline(analysis):
        print(line)
    print(f"report written to {path}")
    return 0


def _workers(args: argparse.Namespace) -> int:
    from gtkit._analysis import resolve_pricing
    from gtkit._describe import find_describe, read_describe
    from gtkit._output import read_output
    from gtkit._references import read_references
    from gtkit._report import workers_headline
    from gtkit._workers import analyze_workers, read_worker_activity

    output = read_output(args.job_output, lenient=args.lenient)
    describe_path = args.describe or find_describe(output)  # where analyze looks for it
    describe = read_describe(describe_path) if describe_path else None
    pricing = None
    if args.task_price is not None or describe is not None:
        # Only the fee and the task price count here (k comes from the answers), so the
        # workers per object may be left out.
        pricing = resolve_pricing(
            describe=describe,
            workers=args.workers or (None if describe is not None else 1),
            task_price=args.task_price,
            object_fee=args.object_fee,
        )
    reference = None
    if args.reference:
        reference = read_references(args.reference)
        if args.reference_class:
            reference = reference.renamed(single_class=args.reference_class)
    result = analyze_workers(
        output,
        reference=reference,
        pricing=pricing,
        matching=args.matching,
        attribute=args.attribute,
        activity=read_worker_activity(args.activity) if args.activity else None,
        draws=args.draws,
        seed=args.seed,
        tolerance=args.tolerance,
    )
    _report_problems(output)
    if args.json:
        _emit_json(result.to_dict())
        return 0
    columns = ["worker", "answers", "agreement", "accuracy", "seconds_median", "pay", "flagged"]
    table = result.workers
    shown = table[(table.index < 20) | table["flagged"]]  # the busiest, and every flagged one
    print(shown[columns].to_string(index=False, na_rep="n/a"))
    if len(shown) < len(table):
        print(f"({len(table) - len(shown)} more workers: --json lists every one)")
    print()
    print(result.methods.to_string(index=False, na_rep="n/a"))
    print()
    print(result.what_if.drop(columns=["against"]).to_string(index=False, na_rep="n/a"))
    print()
    for line in workers_headline(result):
        print(line)
    if pricing is None:
        print("(no prices: give --task-price, or --describe, for pay and cost)")
    return 0


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: give a fraction from 0 to 1")
    return value


def _report_workers(analysis: Any, output: Any, reference: Any) -> Any:
    """The report's worker analysis, where the output has worker answers of a task it covers
    (else None, saying why on standard error)."""
    from gtkit._workers import analyze_workers

    if not len(output.worker_answers):
        return None
    try:
        return analyze_workers(
            output,
            reference=reference,
            pricing=analysis.pricing,
            matching=analysis.matching,
            attribute=analysis.label_attribute,
        )
    except GtkitError as exc:
        print(f"no workers section: {exc}", file=sys.stderr)
        return None


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_output", help="output folder, s3:// prefix, or one output manifest")
    p.add_argument(
        "--reference", help="reference labels: COCO .json, Open Images .csv, CUB folder, .manifest"
    )
    p.add_argument("--reference-class", help="treat every reference box as this class name")
    p.add_argument(
        "--describe", help="saved DescribeLabelingJob JSON (default: describe.json beside)"
    )
    p.add_argument("--workers", type=_positive_int, help="workers per object, for the cost")
    p.add_argument(
        "--task-price", type=_non_negative, help="dollars per task per worker (0 for private)"
    )
    p.add_argument(
        "--object-fee", type=_non_negative, help="dollars per labeled object (default 0.08)"
    )
    p.add_argument(
        "--matching",
        choices=("optimal", "tutorial"),
        default="optimal",
        help="how label boxes are paired with reference boxes for mIoU: optimal (one-to-one, "
        "the largest total IoU) or the AWS tutorial's greedy rule (default optimal)",
    )
    p.add_argument("--attribute", help="label attribute, where the output has several")
    p.add_argument("--lenient", action="store_true", help=_LENIENT_HELP)


# ---------------------------------------------------------------------- demo and emulator
def _demo(args: argparse.Namespace) -> int:
    from gtkit._demo import make_dataset, run_demo

    if args.aws and args.emulate_reference:
        raise GtkitError(
            "gtkit demo --aws runs in your AWS account, but GTKIT_EMULATE or --emulate asks for "
            "the emulator: drop one"
        )
    if args.aws and (not args.bucket or not args.role_arn):
        raise GtkitError("--aws needs --bucket and --role-arn (your bucket and Ground Truth role)")
    if args.data_only:
        reference = make_dataset(args.out, objects=args.objects, seed=args.seed, task=args.task)
        print(f"wrote {args.objects} {args.task} objects to {args.out} and references {reference}")
        return 0
    run_demo(
        args.out,
        task=args.task,
        objects=args.objects,
        seed=args.seed,
        aws=args.aws,
        bucket=args.bucket,
        role_arn=args.role_arn,
        region=args.region,
        overwrite=args.overwrite,
        progress=sys.stderr.isatty() or args.progress,
    )
    return 0


def _emulator_setup(args: argparse.Namespace) -> int:
    from gtkit.emulator import setup_account

    if not args.emulated:
        raise GtkitError(
            "gtkit emulator setup works only offline: give --emulate REFERENCE or set "
            "GTKIT_EMULATE (for a real account, deploy infra/ground-truth.yaml)"
        )
    made = setup_account(
        bucket=args.bucket, region=args.region, role_name=args.role_name, workteam=args.workteam
    )
    print(f"bucket: s3://{made.bucket} ({made.region}, with the worker portal's CORS rule)")
    print(f"role_arn: {made.role_arn}")
    if made.workteam_arn:
        print(f"workforce: {made.workteam_arn}")
    return 0


@contextmanager
def _emulation(reference: str, state: str) -> Iterator[None]:
    """Serve every AWS call from the emulator and moto, the account kept in ``state``."""
    from gtkit.emulator import emulate

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with emulate(references=reference, state=state):
        yield


# ---------------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gtkit`` command with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gtkit",
        description="Amazon SageMaker Ground Truth toolkit: manifests, job specs, jobs, "
        "output reading, cost and label-quality analysis, and an offline emulator.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gtkit {__version__}")
    parser.add_argument(
        "--emulate",
        metavar="REFERENCE",
        dest="emulate_reference",
        default=os.environ.get("GTKIT_EMULATE") or None,
        help="run offline: gtkit's emulator and moto serve every AWS call, simulated workers "
        "copying the labels in REFERENCE (COCO .json, Open Images .csv, ...); default: "
        "$GTKIT_EMULATE",
    )
    parser.add_argument(
        "--emulate-state",
        metavar="DIR",
        default=os.environ.get("GTKIT_EMULATE_STATE") or _EMULATE_STATE,
        help="with --emulate: the folder keeping the emulated account (buckets, objects, roles, "
        f"jobs) between commands; delete it to start afresh (default: $GTKIT_EMULATE_STATE "
        f"or ./{_EMULATE_STATE})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    m = commands.add_parser("manifest", help="build and check input manifests")
    msub = m.add_subparsers(dest="manifest_command", metavar="ACTION", required=True)
    b = msub.add_parser("build", help="build a manifest from an S3 prefix, a folder or texts")
    b.add_argument("source", help="s3://bucket/prefix, a local folder, or a text file (--text)")
    b.add_argument("--out", required=True, help="manifest path or s3:// URI to write")
    b.add_argument("--ext", action="append", help="file extension to keep (repeatable)")
    b.add_argument("--upload-to", help="S3 prefix to upload a local folder to")
    b.add_argument("--text", action="store_true", help="SOURCE is a file of texts, one per line")
    b.add_argument("--overwrite", action="store_true", help="replace an existing manifest")
    b.set_defaults(handler=_manifest_build)
    c = msub.add_parser("check", help="check a manifest against the service's rules")
    c.add_argument("path", help="manifest path or s3:// URI")
    c.add_argument(
        "--max-objects",
        type=_positive_int,
        default=100_000,
        help="object limit (default 100000; 20000 for semantic segmentation)",
    )
    c.set_defaults(handler=_manifest_check)

    j = commands.add_parser("job", help="plan, check, create and follow labeling jobs")
    jsub = j.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    p = jsub.add_parser(
        "plan", help="check a job config offline, estimate its cost, print the request"
    )
    p.add_argument("config", help="YAML or JSON file of the spec's fields")
    p.add_argument(
        "--objects", type=_positive_int, help="number of objects, for the estimate and warnings"
    )
    p.add_argument(
        "--object-fee", type=_non_negative, default=0.08, help="dollars per object (0.08)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_job_plan)
    for action, handler, text in (
        ("check", _job_check, "check your AWS account for a job: buckets, CORS, role, objects"),
        ("create", _job_create, "check the account, upload the job's files and create the job"),
    ):
        jc = jsub.add_parser(action, help=text)
        jc.add_argument("config", help="YAML or JSON file of the spec's fields")
        jc.add_argument(
            "--instructions", help="short instructions shown to workers (in the worker template)"
        )
        jc.add_argument(
            "--no-image-sizes",
            action="store_true",
            help="do not read each image's first 64 KiB for its resolution (sizes in bytes and "
            "existence are still checked)",
        )
        jc.add_argument("--quiet", action="store_true", help="no progress bar")
        if action == "create":
            jc.add_argument(
                "--no-check", action="store_true", help="create without checking the account"
            )
        jc.set_defaults(handler=handler, aws_command=True)
    for action, handler, text in (
        ("wait", _job_wait, "follow a job with a progress bar until it ends"),
        ("status", _job_status, "show a job's status and label counters"),
    ):
        sp = jsub.add_parser(action, help=text)
        sp.add_argument("name", help="labeling job name")
        sp.add_argument("--region", help="AWS region of the job (default: your configuration)")
        sp.set_defaults(handler=handler, aws_command=True)
    jl = jsub.add_parser("list", help="list labeling jobs, newest first")
    jl.add_argument(
        "--status",
        choices=("InProgress", "Completed", "Failed", "Stopping", "Stopped"),
        help="only jobs with this status",
    )
    jl.add_argument("--name-contains", help="only jobs whose name contains this (any case)")
    jl.add_argument("--region", help="AWS region to list (default: your configuration)")
    jl.set_defaults(handler=_job_list, aws_command=True)
    for action, handler, text in (
        ("stop", _job_stop, "stop a running job"),
        ("download", _job_download, "download a job's output tree and describe.json"),
    ):
        sp = jsub.add_parser(action, help=text)
        sp.add_argument("name", help="labeling job name")
        sp.add_argument("--region", help="AWS region of the job (default: your configuration)")
        sp.set_defaults(handler=handler, aws_command=True)
    wait, status, download = (jsub.choices[name] for name in ("wait", "status", "download"))
    status.add_argument("--json", action="store_true", help="print the describe response")
    wait.add_argument("--timeout", type=_non_negative, help="give up after this many seconds")
    wait.add_argument("--quiet", action="store_true", help="no progress bar")
    wait.add_argument(
        "--interval", type=_non_negative, default=10.0, help="first poll delay in seconds (10)"
    )
    download.add_argument(
        "--out", required=True, help="new or empty local folder, written whole or not at all"
    )
    download.add_argument(
        "--overwrite", action="store_true", help="replace an earlier download there, whole"
    )

    a = commands.add_parser("analyze", help="counts, cost and quality of a job's labels")
    _add_analysis_options(a)
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(handler=_analyze)

    r = commands.add_parser("report", help="write a self-contained HTML report")
    _add_analysis_options(r)
    r.add_argument("--out", required=True, help="HTML file to write")
    r.add_argument("--images", help="local folder of the images, to draw boxes on them")
    r.add_argument("--overwrite", action="store_true", help="replace an existing report")
    r.add_argument(
        "--no-workers",
        action="store_true",
        help="leave out the workers section (made where the output has worker answers)",
    )
    r.set_defaults(handler=_report)

    wk = commands.add_parser(
        "workers",
        help="per-worker quality, offline re-consolidation, and what k workers per object "
        "would cost",
    )
    _add_analysis_options(wk)
    wk.add_argument("--activity", help="CloudWatch worker-activity events as JSON Lines, for times")
    wk.add_argument(
        "--draws", type=_positive_int, default=20, help="seeded draws per k in the what-if (20)"
    )
    wk.add_argument("--seed", type=int, default=0, help="seed of the draws (0)")
    wk.add_argument(
        "--tolerance",
        type=_fraction,
        default=0.01,
        help="quality (a fraction) the cheapest k may lose against the full crowd (0.01)",
    )
    wk.add_argument("--json", action="store_true", help="print one JSON object")
    wk.set_defaults(handler=_workers)

    e = commands.add_parser("export", help="export a job's boxes as COCO, YOLO or VOC")
    e.add_argument("job_output", help="output folder, s3:// prefix, or one output manifest")
    e.add_argument(
        "--format",
        required=True,
        choices=("coco", "yolo", "voc"),
        help="coco: one JSON file; yolo and voc: a folder of one text or XML file per image",
    )
    e.add_argument(
        "--out",
        required=True,
        help="COCO JSON file, or a new or empty folder for YOLO/VOC (written whole or not at all)",
    )
    e.add_argument("--attribute", help="label attribute, where the output has several")
    e.add_argument("--lenient", action="store_true", help=_LENIENT_HELP)
    e.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export (file, or folder whole: never mixed with another job)",
    )
    e.set_defaults(handler=_export)

    d = commands.add_parser(
        "demo", help="the whole workflow on 1,000 synthetic images, offline (or --aws)"
    )
    d.add_argument("--out", default="gtkit-demo", help="output folder (default gtkit-demo)")
    d.add_argument(
        "--task",
        choices=DEMO_TASKS,
        default="bounding-box",
        help="the job's task type, one of the four Ground Truth labels automatically "
        "(default bounding-box)",
    )
    d.add_argument(
        "--objects", type=_positive_int, default=1000, help="number of images (default 1000)"
    )
    d.add_argument(
        "--seed", type=int, default=0, help="seed of the pictures and the simulated workers (0)"
    )
    d.add_argument(
        "--data-only",
        action="store_true",
        help="only write the pictures (OUT/images) and their reference boxes "
        "(OUT/reference.json), to try the other commands on",
    )
    d.add_argument("--overwrite", action="store_true", help="replace an earlier demo folder")
    d.add_argument("--progress", action="store_true", help="progress bar even when not a terminal")
    d.add_argument("--aws", action="store_true", help="run against your real AWS account (paid)")
    d.add_argument("--bucket", help="with --aws: your S3 bucket in the region")
    d.add_argument("--role-arn", help="with --aws: the IAM role Ground Truth uses")
    d.add_argument("--region", default="us-east-1", help="AWS region (default us-east-1)")
    d.set_defaults(handler=_demo)  # offline by itself, with its own emulator

    em = commands.add_parser("emulator", help="the offline emulator's own commands")
    esub = em.add_subparsers(dest="emulator_command", metavar="ACTION", required=True)
    es = esub.add_parser(
        "setup",
        help="offline only: make in the emulated account what infra/ground-truth.yaml deploys "
        "in a real one (bucket with CORS rule, role, optional private workteam)",
    )
    es.add_argument("--bucket", required=True, help="name of the data bucket to make")
    es.add_argument("--region", default="us-east-1", help="its region (default us-east-1)")
    es.add_argument(
        "--role-name", default="GroundTruth", help="name of the role (default GroundTruth)"
    )
    es.add_argument("--workteam", help="also make a private workteam of this name")
    es.set_defaults(handler=_emulator_setup, aws_command=True)
    return parser


def _uses_aws(args: argparse.Namespace) -> bool:
    """Whether the command calls AWS: a job or emulator command, or any s3:// argument (the
    emulator's start and state cost a second or two, spared to local work)."""
    if getattr(args, "aws_command", False):
        return True
    return any(isinstance(v, str) and v.startswith("s3://") for v in vars(args).values())


def _in_cli_words(exc: GtkitError, args: argparse.Namespace) -> str:
    """The error's message, with what to do in flags rather than Python arguments."""
    if isinstance(exc, OverwriteError) and exc.target is not None:
        flag = exc.argument
        if flag is not None and hasattr(args, flag):
            return f"{exc.target} {exc.reason}; add --{flag.replace('_', '-')} to replace it"
        return f"{exc.target} {exc.reason}; gtkit never replaces it: remove it first"
    if isinstance(exc, _MissingPriceError) and hasattr(args, exc.missing):
        describe = " (or --describe)" if hasattr(args, "describe") else ""
        flag = exc.missing.replace("_", "-")
        return f"cost needs workers and task price: give --{flag}{describe}"
    if isinstance(exc, SetupError) and hasattr(args, "no_check"):
        return f"{exc}\n(fix these, or add --no-check to create the job anyway)"
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gtkit`` command line; returns the process exit status (see EXIT_STATUSES)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    emulate = args.emulate_reference and _uses_aws(args)
    args.emulated = bool(emulate)
    try:
        if emulate:
            with _emulation(args.emulate_reference, args.emulate_state):
                return handler(args)
        return handler(args)
    except GtkitError as exc:
        print(f"gtkit: error: {_in_cli_words(exc, args)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:  # a missing or unreadable file named on the command line
        print(f"gtkit: error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:  # credentials, region, network, permissions
        print(f"gtkit: error: AWS: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gtkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        traceback.print_exc()
        print(
            f"gtkit: internal error: {type(exc).__name__}: {exc} (a bug in gtkit: please report "
            "it with the traceback above)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
