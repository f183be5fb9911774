"""Command line: `python -m workers.engine assess ...` runs a suite without Django and works as a CI gate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def _tuple_of(kind, text: str | None, what: str):
    if text is None:
        return None
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{what} must be comma-separated numbers, got {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workers.engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    assess = commands.add_parser(
        "assess", help="assess one model against a profile; exit 1 when a threshold fails"
    )
    assess.add_argument(
        "--model", help="model file (TorchScript .pt, skops, ONNX); omit for --format endpoint"
    )
    assess.add_argument(
        "--format", required=True, choices=["torchscript", "sklearn-skops", "onnx", "endpoint"]
    )
    assess.add_argument("--endpoint", help='endpoint settings as JSON, e.g. \'{"url": "https://..."}\'')
    assess.add_argument("--data", required=True, help="evaluation data: .npz (x, y), .csv, or builtin:digits")
    assess.add_argument("--label-column", default="label", help="label column of a CSV file")
    assess.add_argument("--train", help="training data (.npz/.csv) for checks that need it")
    assess.add_argument("--holdout", help="holdout (non-member) data (.npz/.csv)")
    assess.add_argument("--registered-sha256", help="the evaluation file's SHA-256 recorded at registration")
    assess.add_argument(
        "--profile", default="quick", help="quick, standard, thorough, or a JSON profile file"
    )
    assess.add_argument("--risk-tier", choices=["minimal", "limited", "high"])
    assess.add_argument("--json", dest="json_path", help="write the full result as JSON here")
    assess.add_argument("--input-shape", help="per-sample input shape, e.g. 1,8,8 (default: from the data)")
    assess.add_argument("--classes", type=int, help="number of classes (default: from one forward pass)")
    assess.add_argument("--clip", help="value range min,max (default: the data's min and max)")
    assess.add_argument("--seed", type=int, default=0)
    assess.add_argument(
        "--device", default=None, help="auto, cpu, cuda or cuda:N (default: RISKAPP_DEVICE or auto)"
    )
    assess.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _load_data(spec: str, label_column: str, input_shape):
    from workers.engine.data import builtin_dataset, file_sha256, load_csv, load_npz

    if spec.startswith("builtin:"):
        return builtin_dataset(spec.split(":", 1)[1]), None
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    if path.suffix.lower() == ".csv":
        x, y = load_csv(path, label_column, input_shape=input_shape)
    else:
        x, y = load_npz(path, input_shape=input_shape)
    return {"evaluation": (x, y)}, file_sha256(path)


def _suite(profile: str):
    from workers.engine.suite import PROFILES

    if profile in PROFILES:
        return profile
    path = Path(profile)
    if not path.is_file():
        raise ValueError(f"profile must be one of {', '.join(PROFILES)} or a JSON file, not {profile!r}")
    return json.loads(path.read_text())


def assess(args: argparse.Namespace) -> int:
    from workers.engine.data import validate_arrays
    from workers.engine.loaders import load_model
    from workers.engine.suite import run_suite, suite_spec
    from workers.engine.types import SuiteData

    input_shape = _tuple_of(int, args.input_shape, "--input-shape")
    clip = _tuple_of(float, args.clip, "--clip")
    if clip is not None and len(clip) != 2:
        raise ValueError("--clip needs exactly two numbers: min,max")
    splits, eval_hash = _load_data(args.data, args.label_column, input_shape)
    x_eval, y_eval = splits["evaluation"]
    extra = {}
    for name, option in (("train", args.train), ("holdout", args.holdout)):
        if option:
            more, digest = _load_data(option, args.label_column, input_shape)
            extra[name] = (*more["evaluation"], digest)
        elif name in splits:
            extra[name] = (*splits[name], None)

    endpoint = json.loads(args.endpoint) if args.endpoint else None
    if clip is None:
        clip = (float(x_eval.min()), float(x_eval.max()))
    model = load_model(
        args.model,
        args.format,
        input_shape=input_shape,
        nb_classes=args.classes,
        clip_values=clip,
        device=args.device,
        endpoint=endpoint,
        sample=x_eval,
    )
    x_eval, y_eval = validate_arrays(
        x_eval, y_eval, input_shape=model.input_shape, nb_classes=model.nb_classes
    )
    data = SuiteData(
        x_eval=x_eval, y_eval=y_eval, eval_sha256=eval_hash, registered_eval_sha256=args.registered_sha256
    )
    if "train" in extra:
        data.x_train, data.y_train, data.train_sha256 = extra["train"]
    if "holdout" in extra:
        data.x_holdout, data.y_holdout, data.holdout_sha256 = extra["holdout"]
    spec = suite_spec(_suite(args.profile), risk_tier=args.risk_tier)

    progress_bar = None
    if not args.no_progress:
        from tqdm import tqdm

        progress_bar = tqdm(
            total=1000, file=sys.stderr, unit="‰", bar_format="{l_bar}{bar}| {elapsed}", leave=True
        )

    def progress(fraction: float, step: str) -> None:
        if progress_bar is not None:
            progress_bar.n = int(round(fraction * 1000))
            progress_bar.set_description_str(step[:60], refresh=False)
            progress_bar.refresh()

    try:
        result = run_suite(model, data, spec, seed=args.seed, progress=progress)
    finally:
        if progress_bar is not None:
            progress_bar.close()

    payload = {**result.to_dict(), "model": model.describe()}
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(payload, indent=2, allow_nan=False))
    for check in result.checks:
        print(f"{check.status.upper():8} {check.kind:30} {check.verdict or check.reason}")
    if result.unreliable:
        print("EVALUATION UNRELIABLE: " + "; ".join(result.unreliable_reasons))
    if any(c.status == "error" for c in result.checks):
        return EXIT_ERROR
    return EXIT_PASSED if result.passed else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return assess(args)
    except Exception as exc:  # the CLI is a CI gate: any failure to assess is exit code 2 with the reason
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


__all__ = ["main"]
