"""A pipeline's client for a riskapp service: upload a model version, assess it, wait, exit with the verdict.

    python -m riskapp.client submit --asset "Digits CNN" --file model.pt --format torchscript \\
        --input-shape 1,8,8 --classes 10 --data eval.npz --profile quick --wait

It needs only the service's URL and an API token (RISKAPP_URL, RISKAPP_TOKEN) and speaks the public REST API,
nothing else. Exit codes are the engine CLI's: 0 thresholds met, 1 not met, 2 error, 3 no verdict (a check the
profile counts on was not measured, or the evaluation was unreliable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

EXIT_MET, EXIT_NOT_MET, EXIT_ERROR, EXIT_NO_VERDICT = 0, 1, 2, 3
FINISHED_RUN = {"succeeded", "failed", "cancelled"}


class ClientError(Exception):
    """The service refused a request or a step did not finish; the message says what to fix."""


class Service:
    """The REST API of one riskapp service, authenticated with a bearer token."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        if not url or not token:
            raise ClientError("Give the service URL and an API token (--url/--token or RISKAPP_URL/RISKAPP_TOKEN).")
        self.base = url.rstrip("/") + "/api/v1/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(method, self.base + path.lstrip("/"), timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                detail = json.dumps(response.json(), ensure_ascii=False)
            except ValueError:
                detail = response.text[:500]
            raise ClientError(f"{method} {path} answered {response.status_code}: {detail}")
        return response.json() if response.content else None

    def all(self, path: str, **params) -> list[dict]:
        """Every row of a paginated list."""
        rows, page = [], 1
        while True:
            body = self.request("GET", path, params={**params, "page": page})
            if isinstance(body, list):
                return body
            rows.extend(body.get("results", []))
            if not body.get("next"):
                return rows
            page += 1


def _wait(fetch, *, done, timeout: float, interval: float, what: str, on_update=None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = fetch()
        if on_update is not None:
            on_update(row)
        if done(row):
            return row
        if time.monotonic() > deadline:
            raise ClientError(f"Gave up waiting for {what} after {timeout:.0f} s (it is still {row.get('status')}).")
        time.sleep(interval)


def run_exit_code(run: dict) -> int:
    """The verdict of a finished run as an exit code."""
    if run["status"] != "succeeded":
        return EXIT_ERROR
    verdict = run.get("verdict")
    if verdict is not None:
        return {"met": EXIT_MET, "not_met": EXIT_NOT_MET}.get(verdict, EXIT_NO_VERDICT)
    if run.get("unreliable"):
        return EXIT_NO_VERDICT
    return EXIT_MET if run.get("passed") else EXIT_NOT_MET


def submit(service: Service, args: argparse.Namespace, say=print) -> tuple[int, dict]:
    """Find or create the asset, upload the version and data, start the run and (with --wait) wait for its verdict."""
    assets = service.all("assets/", name=args.asset)
    asset = next((a for a in assets if a["name"] == args.asset), None)
    if asset is None:
        asset = service.request("POST", "assets/", json={"name": args.asset, "task": args.task})
        say(f"created asset #{asset['id']} {asset['name']}")
    fields = {"format": args.format, "input_shape": args.input_shape, "nb_classes": str(args.classes)}
    if args.label:
        fields["label"] = args.label
    if args.clip:
        fields["clip_min"], fields["clip_max"] = args.clip.split(",", 1)
    with open(args.file, "rb") as handle:
        version = service.request("POST", f"assets/{asset['id']}/versions/", data=fields,
                                  files={"artifact": (Path(args.file).name, handle)})
    say(f"uploaded version {version['label']} (sha256 {version['sha256'][:16]}…)")
    datasets = {}
    for role, path in (("evaluation", args.data), ("training", args.training), ("holdout", args.holdout)):
        if path:
            with open(path, "rb") as handle:
                data_fields = {"name": f"{args.asset} {version['label']} {role}", "role": role, "asset": asset["id"]}
                if args.label_column:
                    data_fields["label_column"] = args.label_column
                datasets[role] = service.request("POST", "datasets/", data=data_fields,
                                                 files={"file": (Path(path).name, handle)})
    if args.builtin:
        datasets["evaluation"] = service.request("POST", "datasets/", json={
            "name": f"{args.builtin} evaluation", "role": "evaluation", "builtin_name": args.builtin,
            "asset": asset["id"]})

    version = _wait(lambda: service.request("GET", f"assets/{asset['id']}/versions/{version['id']}/"),
                    done=lambda row: row["status"] != "pending", timeout=args.timeout, interval=args.poll,
                    what="the version's validation")
    if version["status"] != "validated":
        raise ClientError(f"Version {version['label']} was rejected: {version.get('status_reason', '')}")
    say(f"version {version['label']} validated")
    for role, dataset in datasets.items():
        dataset = _wait(lambda d=dataset: service.request("GET", f"datasets/{d['id']}/"),
                        done=lambda row: row["status"] != "pending", timeout=args.timeout, interval=args.poll,
                        what=f"the {role} data's validation")
        if dataset["status"] != "validated":
            raise ClientError(f"The {role} data was rejected: {dataset.get('status_reason', '')}")
        datasets[role] = dataset

    profiles = service.all("profiles/")
    profile = next((p for p in profiles if p.get("slug") == args.profile or str(p["id"]) == args.profile), None)
    if profile is None:
        raise ClientError(f"No profile {args.profile!r}; choose one of: "
                          + ", ".join(sorted(p.get("slug") or str(p["id"]) for p in profiles)))
    body = {"asset": asset["id"], "profile": profile["id"], "version": version["id"]}
    body.update({f"{role}_dataset": dataset["id"] for role, dataset in datasets.items()})
    run = service.request("POST", "runs/", json=body)
    say(f"run #{run['id']} queued ({profile.get('name', args.profile)})")
    if not args.wait:
        return EXIT_MET, run

    last = [None]

    def progress(row):
        line = f"  {row['status']} {row.get('progress', 0)}% {row.get('current_step', '')}".rstrip()
        if line != last[0]:
            say(line)
            last[0] = line

    run = _wait(lambda: service.request("GET", f"runs/{run['id']}/"), done=lambda row: row["status"] in FINISHED_RUN,
                timeout=args.timeout, interval=args.poll, what=f"run #{run['id']}", on_update=progress)
    code = run_exit_code(run)
    verdict = run.get("verdict") or {EXIT_MET: "met", EXIT_NOT_MET: "not met", EXIT_NO_VERDICT: "no verdict",
                                     EXIT_ERROR: "error"}[code]
    say(f"run #{run['id']} {run['status']}: {verdict}" + (f" — {run['error']}" if run.get("error") else ""))
    for check in run.get("checks", []):
        say(f"  {check['kind']}: {check['status']} {check.get('verdict', '')}".rstrip())
    return code, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskapp.client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("RISKAPP_URL", ""), help="service URL (RISKAPP_URL)")
    parser.add_argument("--token", default=os.environ.get("RISKAPP_TOKEN", ""), help="API token (RISKAPP_TOKEN)")
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("submit", help="upload a version, assess it and (with --wait) exit with its verdict")
    sub.add_argument("--asset", required=True, help="asset name; created when it does not exist")
    sub.add_argument("--task", default="image_classification",
                     choices=["image_classification", "tabular_classification"], help="task of a new asset")
    sub.add_argument("--file", required=True, help="the model artifact (TorchScript, skops or ONNX)")
    sub.add_argument("--format", required=True, choices=["torchscript", "sklearn-skops", "onnx"])
    sub.add_argument("--input-shape", required=True, help="per-sample input shape, e.g. 1,8,8 or 30")
    sub.add_argument("--classes", type=int, required=True, help="number of classes the model outputs")
    sub.add_argument("--label", default="", help="version label (default: the next free one)")
    sub.add_argument("--clip", default="", help="input value range min,max (default 0,1)")
    data = sub.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="evaluation data: .npz with x and y, or .csv with a label column")
    data.add_argument("--builtin", choices=["digits", "breast_cancer", "iris", "wine"], help="a built-in dataset")
    sub.add_argument("--training", help="training data (unlocks privacy, poisoning and defence checks)")
    sub.add_argument("--holdout", help="holdout (non-member) data")
    sub.add_argument("--label-column", default="", help="label column of CSV data")
    sub.add_argument("--profile", default="quick", help="profile slug or id (default quick)")
    sub.add_argument("--wait", action="store_true", help="wait for the verdict and exit with it")
    sub.add_argument("--timeout", type=float, default=3600, help="seconds to wait for each step")
    sub.add_argument("--poll", type=float, default=2.0, help="seconds between status checks")
    sub.add_argument("--json", help="write the finished run (with its checks) to this file")
    args = parser.parse_args(argv)
    try:
        service = Service(args.url, args.token)
        code, run = submit(service, args)
    except (ClientError, OSError, requests.RequestException) as exc:
        print(f"riskapp: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        Path(args.json).write_text(json.dumps(run, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
