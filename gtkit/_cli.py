"""The ``gtkit`` command: a thin shell over the public API.

Each subcommand parses its arguments, calls public functions a notebook could call, and prints.
User mistakes (any :class:`~gtkit._errors.GtkitError`) print one message and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtkit import __version__
from gtkit._errors import GtkitError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


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
    return 0 if report.ok else 1


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
    print(f"job {spec.name}: {spec.task} in {spec.region}, all checks passed")
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
    from gtkit._analysis import analyze, read_describe, resolve_pricing
    from gtkit._output import read_output
    from gtkit._references import read_references

    output = read_output(args.job_output, lenient=args.lenient)
    _report_problems(output)
    describe_path = args.describe
    if describe_path is None and not args.job_output.startswith("s3://"):
        saved = Path(args.job_output) / "describe.json"
        describe_path = str(saved) if saved.is_file() else None
    describe = read_describe(describe_path) if describe_path else None
    pricing = resolve_pricing(
        describe=describe,
        workers=args.workers,
        task_price=args.task_price,
        object_fee=args.object_fee,
    )
    reference = None
    if args.reference:
        reference = read_references(args.reference)
        if args.reference_class:
            reference = reference.renamed(single_class=args.reference_class)
    analysis = analyze(
        output,
        reference=reference,
        pricing=pricing,
        matching=args.matching,
        attribute=args.attribute,
    )
    return analysis, output, reference


def _analyze(args: argparse.Namespace) -> int:
    from gtkit._report import headline

    analysis, _, _ = _analysis_inputs(args)
    if args.json:
        _emit_json(analysis.to_dict())
        return 0
    print(analysis.iterations.to_string(index=False, na_rep="n/a"))
    for line in headline(analysis):
        print(line)
    if analysis.pricing is None:
        print("(no prices: give --workers and --task-price, or --describe, for cost)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from gtkit._report import headline, write_report

    analysis, output, reference = _analysis_inputs(args)
    path = write_report(
        args.out, analysis, output, reference, image_dir=args.images, overwrite=args.overwrite
    )
    for line in headline(analysis):
        print(line)
    print(f"report written to {path}")
    return 0


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_output", help="output folder, s3:// prefix, or one output manifest")
    p.add_argument(
        "--reference", help="reference labels: COCO .json, Open Images .csv, CUB folder, .manifest"
    )
    p.add_argument("--reference-class", help="treat every reference box as this class name")
    p.add_argument(
        "--describe", help="saved DescribeLabelingJob JSON (default: describe.json beside)"
    )
    p.add_argument("--workers", type=int, help="workers per object")
    p.add_argument("--task-price", type=float, help="dollars per task per worker (0 for private)")
    p.add_argument("--object-fee", type=float, help="dollars per labeled object (default 0.08)")
    p.add_argument("--matching", choices=("optimal", "tutorial"), default="optimal")
    p.add_argument("--attribute", help="label attribute, where the output has several")
    p.add_argument("--lenient", action="store_true", help="skip malformed lines, listing them")


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


def _job_client(args: argparse.Namespace) -> Any:
    from gtkit._client import LabelingJobClient

    return LabelingJobClient(region=getattr(args, "region", None))


def _job_create(args: argparse.Namespace) -> int:
    from gtkit._spec import load_spec

    spec = load_spec(args.config)
    job = _job_client(args).create(spec, short_instructions=args.instructions or "")
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
        progress=not args.quiet,
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


def _demo(args: argparse.Namespace) -> int:
    from gtkit._demo import main_cli

    return main_cli(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gtkit`` command with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gtkit",
        description="Amazon SageMaker Ground Truth toolkit: manifests, job specs, jobs, "
        "output reading, cost and label-quality analysis, and an offline emulator.",
    )
    parser.add_argument("--version", action="version", version=f"gtkit {__version__}")
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
    c.add_argument("--max-objects", type=int, default=100_000, help="object limit (default 100000)")
    c.set_defaults(handler=_manifest_check)

    j = commands.add_parser("job", help="plan, create and follow labeling jobs")
    jsub = j.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    p = jsub.add_parser("plan", help="check a job config, estimate its cost, print the request")
    p.add_argument("config", help="YAML or JSON file of the spec's fields")
    p.add_argument("--objects", type=int, help="number of objects, for the estimate and warnings")
    p.add_argument("--object-fee", type=float, default=0.08, help="dollars per object (0.08)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_job_plan)
    jc = jsub.add_parser("create", help="upload the job's files and create it")
    jc.add_argument("config", help="YAML or JSON file of the spec's fields")
    jc.add_argument("--instructions", help="short instructions shown to workers")
    jc.set_defaults(handler=_job_create)
    for action, handler, text in (
        ("status", _job_status, "show a job's status and label counters"),
        ("wait", _job_wait, "follow a job with a progress bar until it ends"),
        ("stop", _job_stop, "stop a running job"),
        ("download", _job_download, "download a job's output tree and describe.json"),
    ):
        sp = jsub.add_parser(action, help=text)
        sp.add_argument("name", help="labeling job name")
        sp.add_argument("--region", help="AWS region (default: your configuration)")
        sp.set_defaults(handler=handler)
        if action == "status":
            sp.add_argument("--json", action="store_true", help="print the describe response")
        if action == "wait":
            sp.add_argument("--timeout", type=float, help="give up after this many seconds")
            sp.add_argument("--quiet", action="store_true", help="no progress bar")
            sp.add_argument(
                "--interval", type=float, default=10.0, help="first poll delay in seconds (10)"
            )
        if action == "download":
            sp.add_argument("--out", required=True, help="local folder to download into")
            sp.add_argument("--overwrite", action="store_true", help="replace existing files")
    jl = jsub.add_parser("list", help="list labeling jobs, newest first")
    jl.add_argument(
        "--status", choices=("InProgress", "Completed", "Failed", "Stopping", "Stopped")
    )
    jl.add_argument("--name-contains")
    jl.add_argument("--region")
    jl.set_defaults(handler=_job_list)

    e = commands.add_parser("export", help="export a job's boxes as COCO, YOLO or VOC")
    e.add_argument("job_output", help="output folder, s3:// prefix, or one output manifest")
    e.add_argument("--format", required=True, choices=("coco", "yolo", "voc"))
    e.add_argument("--out", required=True, help="COCO JSON file, or folder for YOLO/VOC")
    e.add_argument("--attribute", help="label attribute, where the output has several")
    e.add_argument("--lenient", action="store_true", help="skip malformed lines, listing them")
    e.add_argument("--overwrite", action="store_true", help="replace existing files")
    e.set_defaults(handler=_export)

    d = commands.add_parser(
        "demo", help="the whole workflow on 1,000 synthetic images, offline (or --aws)"
    )
    d.add_argument("--out", default="gtkit-demo", help="output folder (default gtkit-demo)")
    d.add_argument("--objects", type=int, default=1000, help="number of images (1000)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--overwrite", action="store_true", help="replace an earlier demo folder")
    d.add_argument("--progress", action="store_true", help="progress bar even when not a terminal")
    d.add_argument("--aws", action="store_true", help="run against your real AWS account (paid)")
    d.add_argument("--bucket", help="with --aws: your S3 bucket in the region")
    d.add_argument("--role-arn", help="with --aws: the IAM role Ground Truth uses")
    d.add_argument("--region", default="us-east-1")
    d.set_defaults(handler=_demo)

    a = commands.add_parser("analyze", help="counts, cost and quality of a job's labels")
    _add_analysis_options(a)
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(handler=_analyze)

    r = commands.add_parser("report", help="write a self-contained HTML report")
    _add_analysis_options(r)
    r.add_argument("--out", required=True, help="HTML file to write")
    r.add_argument("--images", help="local folder of the images, to draw boxes on them")
    r.add_argument("--overwrite", action="store_true", help="replace an existing report")
    r.set_defaults(handler=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gtkit`` command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except GtkitError as exc:
        print(f"gtkit: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:  # a missing or unreadable file named on the command line
        print(f"gtkit: error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:  # credentials, region, network, permissions
        print(f"gtkit: error: AWS: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gtkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
