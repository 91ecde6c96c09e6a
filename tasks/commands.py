"""The pipeline's commands of the ``linerec`` command line: local runs, intake, the model, Label Studio.

:func:`register` is the ``linerec.commands`` entry point (``pyproject.toml``): :mod:`linerec.cli`
calls it with its sub-command parsers, so ``linerec run``, ``linerec ingest``, ``linerec
bootstrap-model`` and ``linerec labelstudio`` sit beside the library's commands while the library
imports nothing from here.
"""

from __future__ import annotations

import json

from linerec.cli import progress


def _cmd_run(args) -> int:
    from tasks import luigi_graph as g

    task = {
        "sync": lambda: g.AnnotationSync(export_file=args.export_file),
        "dataset": lambda: g.BuildDataset(export_file=args.export_file),
        "train": lambda: g.Train(
            export_file=args.export_file,
            num_processes=args.np,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
        ),
        "recognize": lambda: g.Recognize(batch_size=args.batch_size),
    }[args.step]()
    ok = g.run(task)
    if ok:
        print(json.dumps(task.result(), indent=2, default=str))
    return 0 if ok else 1


def _cmd_ingest(args) -> int:
    from tasks.intake import ingest_files

    total: dict = {"pages": [], "rejected": 0, "files": []}
    bar = progress(args.paths, desc="ingest", unit="file")
    for path in bar:  # one file at a time: each is its own idempotent registration
        result = ingest_files([path])
        total["pages"] += result["pages"]
        total["rejected"] += result["rejected"]
        total["files"] += result.get("files", [])
        bar.set_postfix(pages=len(total["pages"]), rejected=total["rejected"])
    print(json.dumps(total))
    return 0


def _cmd_bootstrap(args) -> int:
    from tasks.registry import register_bundled_model

    print(json.dumps(register_bundled_model(args.model_dir), default=str))
    return 0


def _cmd_labelstudio(args) -> int:
    from tasks.labelstudio import push_production_predictions, setup_labelstudio

    if args.action == "setup":
        result = setup_labelstudio(
            title=args.title, s3_endpoint=args.s3_endpoint, send_s3_credentials=args.send_s3_credentials
        )
    else:
        result = push_production_predictions()
    print(json.dumps(result, default=str))
    return 0


def register(sub) -> None:
    """Add the pipeline's sub-commands to ``linerec``'s sub-parsers ``sub``."""
    s = sub.add_parser("run", help="run pipeline steps locally with Luigi (finished steps are skipped)")
    s.add_argument("step", choices=["sync", "dataset", "train", "recognize"])
    s.add_argument("--export-file", default=None)
    s.add_argument("--np", type=int, default=2, help="Horovod processes")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--steps-per-epoch", type=int, default=None)
    s.add_argument("--batch-size", type=int, default=32)
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("ingest", help="register scanned page images for recognition")
    s.add_argument("paths", nargs="+")
    s.set_defaults(func=_cmd_ingest)

    s = sub.add_parser("bootstrap-model", help="register the model shipped in the repo as production")
    s.add_argument("--model-dir", default=None)
    s.set_defaults(func=_cmd_bootstrap)

    s = sub.add_parser(
        "labelstudio",
        help="Label Studio: set up the OCR project and import new pages (setup), "
        "or also send the production model's predictions (push-predictions)",
    )
    s.add_argument("action", choices=["setup", "push-predictions"])
    s.add_argument("--title", default=None, help="project title (when LABEL_STUDIO_PROJECT_ID is unset)")
    s.add_argument(
        "--s3-endpoint",
        default=None,
        help="S3 endpoint as the Label Studio server reaches it (default: the server's S3_ENDPOINT)",
    )
    s.add_argument(
        "--send-s3-credentials",
        action="store_true",
        help="store linerec's S3 keys in the project's storage (default: the server's AWS_* settings)",
    )
    s.set_defaults(func=_cmd_labelstudio)
