"""Keeping an emulated account between runs, in a folder, so separate commands share it.

moto and the emulator keep their state in memory, which ends with the process. With a state
folder, :func:`gtkit.emulator.emulate` loads the account when it starts and saves it when it ends:

- ``s3.sqlite``: every S3 object (bucket, key, ETag, bytes); only changed objects are rewritten;
- ``account.json``: the buckets (region, CORS rules, policy, versioning), IAM roles and customer
  managed policies, and the emulator's workteams and labeling jobs (with their simulated
  workers' random state, so a job continues exactly where it stopped).

Everything goes through boto3's API but S3 objects, which are listed, read and written through
moto's S3 backend directly: thousands of objects per command would otherwise take seconds.
Delete the folder to start with an empty account. One command at a time: two commands using the
same folder at once leave the state of whichever ends last.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Mapping
from contextlib import closing, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from gtkit._errors import GtkitError
from gtkit._io import atomic_writer, new_session
from gtkit.emulator._service import Backend, _Job
from gtkit.emulator._simulation import JobState, ModelBehaviour, Workforce

__all__ = ["load_state", "save_state"]

_FORMAT = 1  # bumped whenever account.json changes shape


def load_state(folder: str | os.PathLike[str], backend: Backend) -> None:
    """Recreate the account saved in ``folder`` (nothing if it holds none) in moto and
    ``backend``; moto and the emulator must be running."""
    root = Path(folder)
    doc_path = root / "account.json"
    if not doc_path.exists():
        return
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GtkitError(f"{doc_path}: not an emulator state ({exc}); delete {root}") from None
    if doc.get("format") != _FORMAT:
        raise GtkitError(
            f"{root} holds an emulated account of another gtkit version; delete it to start afresh"
        )
    session = new_session()
    _load_s3(root, doc.get("s3", {}), session)
    _load_iam(doc.get("iam", {}), session)
    _load_sagemaker(doc.get("sagemaker", {}), backend)


def save_state(folder: str | os.PathLike[str], backend: Backend) -> None:
    """Write the account (moto's S3 and IAM, and ``backend``) to ``folder``."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    session = new_session()
    doc = {
        "format": _FORMAT,
        "s3": _save_s3(root, session),
        "iam": _save_iam(session),
        "sagemaker": _save_sagemaker(backend),
    }
    with atomic_writer(root / "account.json", overwrite=True) as f:
        f.write(json.dumps(doc, indent=1, default=_plain).encode())


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot save {type(value).__name__}")


# ---------------------------------------------------------------------- S3
def _moto_s3(session: Any) -> Any:
    from moto.s3.models import s3_backends

    account = session.client("sts").get_caller_identity()["Account"]
    return s3_backends[account]["aws"]


def _objects_db(root: Path) -> sqlite3.Connection:
    db = sqlite3.connect(root / "s3.sqlite")
    db.execute(
        "CREATE TABLE IF NOT EXISTS objects "
        "(bucket TEXT, key TEXT, etag TEXT, body BLOB, PRIMARY KEY (bucket, key))"
    )
    return db


def _load_s3(root: Path, buckets: Mapping[str, Any], session: Any) -> None:
    s3 = session.client("s3")
    for name, b in buckets.items():
        region = b.get("region", "us-east-1")
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        if b.get("versioning"):
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": b["versioning"]}
            )
        if b.get("cors"):
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": b["cors"]})
        if b.get("policy"):
            s3.put_bucket_policy(Bucket=name, Policy=b["policy"])
    if not (root / "s3.sqlite").exists():
        return
    backend = _moto_s3(session)
    with closing(_objects_db(root)) as db:
        for bucket, key, body in db.execute("SELECT bucket, key, body FROM objects"):
            backend.put_object(bucket, key, bytes(body))


def _save_s3(root: Path, session: Any) -> dict[str, Any]:
    s3 = session.client("s3")
    backend = _moto_s3(session)
    buckets: dict[str, Any] = {}
    with closing(_objects_db(root)) as db:
        saved = {(b, k): e for b, k, e in db.execute("SELECT bucket, key, etag FROM objects")}
        present: set[tuple[str, str]] = set()
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            buckets[name] = _bucket_settings(s3, name)
            # moto's own listing: ListObjectsV2 through boto3 takes a second per thousand keys.
            for key, obj in backend.get_bucket(name).keys.items():
                etag = getattr(obj, "etag", None)
                if etag is None:  # a delete marker: the key is gone
                    continue
                present.add((name, key))
                if saved.get((name, key)) != etag:
                    db.execute(
                        "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                        (name, key, etag, obj.value),
                    )
        gone = [k for k in saved if k not in present]
        db.executemany("DELETE FROM objects WHERE bucket = ? AND key = ?", gone)
        db.commit()
    return buckets


def _bucket_settings(s3: Any, name: str) -> dict[str, Any]:
    location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
    settings: dict[str, Any] = {"region": location or "us-east-1"}
    versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
    if versioning:
        settings["versioning"] = versioning
    for key, call, field in (
        ("cors", s3.get_bucket_cors, "CORSRules"),
        ("policy", s3.get_bucket_policy, "Policy"),
    ):
        with suppress(ClientError):  # none set
            settings[key] = call(Bucket=name)[field]
    return settings


# ---------------------------------------------------------------------- IAM
def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _save_iam(session: Any) -> dict[str, Any]:
    iam = session.client("iam")
    policies = []
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for p in page["Policies"]:
            version = iam.get_policy_version(PolicyArn=p["Arn"], VersionId=p["DefaultVersionId"])[
                "PolicyVersion"
            ]
            policies.append(
                {"name": p["PolicyName"], "path": p["Path"], "document": _text(version["Document"])}
            )
    roles = []
    for roles_page in iam.get_paginator("list_roles").paginate():
        for listed in roles_page["Roles"]:
            name = listed["RoleName"]
            role = iam.get_role(RoleName=name)["Role"]
            inline = {
                policy: _text(
                    iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                )
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            }
            attached = [
                a["PolicyArn"]
                for a in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            ]
            roles.append(
                {
                    "name": name,
                    "path": role.get("Path", "/"),
                    "description": role.get("Description", ""),
                    "trust": _text(role.get("AssumeRolePolicyDocument", {})),
                    "boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
                    "inline": inline,
                    "attached": attached,
                }
            )
    return {"policies": policies, "roles": roles}


def _load_iam(doc: Mapping[str, Any], session: Any) -> None:
    iam = session.client("iam")
    for p in doc.get("policies", []):
        iam.create_policy(PolicyName=p["name"], Path=p["path"], PolicyDocument=p["document"])
    for r in doc.get("roles", []):
        kwargs: dict[str, Any] = {
            "RoleName": r["name"],
            "Path": r["path"],
            "AssumeRolePolicyDocument": r["trust"],
            "Description": r["description"],
        }
        if r.get("boundary"):
            kwargs["PermissionsBoundary"] = r["boundary"]
        iam.create_role(**kwargs)
        for policy, document in r["inline"].items():
            iam.put_role_policy(RoleName=r["name"], PolicyName=policy, PolicyDocument=document)
        for arn in r["attached"]:
            iam.attach_role_policy(RoleName=r["name"], PolicyArn=arn)


# ---------------------------------------------------------------------- the emulator
def _save_sagemaker(backend: Backend) -> dict[str, Any]:
    return {
        "workteams": [
            {"region": region, **team} for (region, _), team in backend.workteams.items()
        ],
        "jobs": [{"region": region, **_job_doc(job)} for (region, _), job in backend.jobs.items()],
    }


def _load_sagemaker(doc: Mapping[str, Any], backend: Backend) -> None:
    for team in doc.get("workteams", []):
        team = dict(team)
        region = team.pop("region")
        for stamp in ("CreateDate", "LastUpdatedDate"):
            team[stamp] = datetime.fromisoformat(team[stamp])
        backend.workteams[(region, team["WorkteamName"])] = team
    for job_doc in doc.get("jobs", []):
        job = _job_from_doc(job_doc, backend)
        backend.jobs[(job_doc["region"], job.request["LabelingJobName"].lower())] = job


def _job_doc(job: _Job) -> dict[str, Any]:
    doc = {
        "request": job.request,
        "arn": job.arn,
        "created": job.created,
        "status": job.status,
        "failure": job.failure,
        "steps": job.steps,
        "stop_requested": job.stop_requested,
        "steps_since_stop": job.steps_since_stop,
        "state": None,
    }
    if job.state is not None:
        state = {
            f.name: getattr(job.state, f.name)
            for f in dataclasses.fields(JobState)
            if f.name not in ("truth", "rng", "workforce", "model")
        }
        state["failed"] = {str(k): v for k, v in job.state.failed.items()}
        state["rng"] = job.state.rng.bit_generator.state
        state["workforce"] = dataclasses.asdict(job.state.workforce)
        state["model"] = dataclasses.asdict(job.state.model)
        doc["state"] = state
    return doc


def _job_from_doc(doc: Mapping[str, Any], backend: Backend) -> _Job:
    state = None
    if doc["state"] is not None:
        raw = dict(doc["state"])
        rng = np.random.default_rng()
        rng.bit_generator.state = raw.pop("rng")
        raw["created"] = datetime.fromisoformat(raw["created"])
        raw["failed"] = {int(k): v for k, v in raw["failed"].items()}
        raw["results"] = [None if r is None else tuple(r) for r in raw["results"]]
        raw["workforce"] = Workforce(**raw["workforce"])
        raw["model"] = ModelBehaviour(**raw["model"])
        inline = bool(raw.get("inline", False))
        truth = [backend.truth(source, inline=inline) for source in raw["sources"]]
        state = JobState(**raw, rng=rng, truth=truth)
    return _Job(
        request=doc["request"],
        state=state,
        arn=doc["arn"],
        created=datetime.fromisoformat(doc["created"]),
        status=doc["status"],
        failure=doc["failure"],
        steps=doc["steps"],
        stop_requested=doc["stop_requested"],
        steps_since_stop=doc["steps_since_stop"],
    )
