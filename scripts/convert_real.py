"""Convert the real scanned data sets (SROIE, FUNSD) into a Label Studio OCR export.

The export is what an annotator's export of those pages would be: ``OUT/export.json`` (one task
a page, one annotation with a rectangle and a transcription per usable line), ``OUT/images/``
(symlinks to the page images, never copies in the repository), ``OUT/rejected.jsonl`` (every
line or row left out, with its reason) and ``OUT/manifest.json`` (counts, held-out documents).
Ingest it like any export::

    .venv/bin/python scripts/convert_real.py --source all --out .state/real
    .venv/bin/linerec run sync --export-file .state/real/export.json

Without the data folder (``LINEREC_REAL_DATA``, default ``../shared/datasets``) it says why,
prints "skipped" and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linerec.datasets import realdata  # noqa: E402


def _summary(pages: list, split: str) -> list[str]:
    """Lines of the printed summary for one source's pages."""
    training, held_out = realdata.split_pages(pages)
    chosen = {"train": training, "heldout": held_out, "all": pages}[split]
    usable = sum(ln.flag is None for p in chosen for ln in p.lines)
    reasons = Counter(ln.flag for p in chosen for ln in p.lines if ln.flag is not None)
    reasons.update(realdata.reason_kind(reason) for p in chosen for _, reason in p.rejected)
    out = [
        f"  pages: {len(chosen)} written ({len(training)} train, {len(held_out)} held out of {len(pages)})",
        f"  lines: {usable} exported, {sum(reasons.values())} rejected",
    ]
    out += [f"    {reason}: {n}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    held_lines = sum(ln.flag is None for p in held_out for ln in p.lines)
    out.append(
        f"  held out: {len(held_out)} pages, {held_lines} usable lines: " + ", ".join(p.document for p in held_out)
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=(*realdata.SOURCES, "all"), default="all")
    parser.add_argument("--out", type=Path, required=True, help="output folder (not inside the repository)")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="folder holding sroie-train/ and funsd-train/ (default: LINEREC_REAL_DATA)",
    )
    parser.add_argument("--split", choices=realdata.SPLITS, default="all")
    parser.add_argument("--copy", action="store_true", help="copy the images instead of linking them")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    sources = realdata.SOURCES if args.source == "all" else (args.source,)
    pages, lines = [], []
    for source in sources:
        reason = realdata.available(source, args.root)
        if reason is not None:
            lines += [f"{source}: skipped", f"  {reason}"]
            continue
        loaded = realdata.load_pages(source, args.root)
        pages += loaded
        lines += [f"{source}:", *_summary(loaded, args.split)]
    if not pages:
        print("\n".join(lines))
        print("skipped: no real data set found")
        return 0
    try:
        export = realdata.write_export(pages, args.out, split=args.split, link="copy" if args.copy else "symlink")
    except ValueError as exc:  # e.g. an output folder inside the repository
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    print(f"wrote {export} (+ rejected.jsonl, manifest.json, images/)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
