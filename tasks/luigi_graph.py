"""The pipeline as a Luigi graph, for local runs without an Airflow deployment.

Each Luigi task calls the same step function as the Airflow DAGs and writes the step's output
(ids, counts) to a JSON target under ``$LINEREC_STATE_DIR/luigi``; a task whose target exists is
"done" and skipped. Targets are keyed by the task's parameters.
"""

from __future__ import annotations

import json
from datetime import date

import luigi

from linerec.infra.config import get_settings


class _StepTask(luigi.Task):
    """A step whose output is the JSON its step function returned."""

    def output(self):
        params = "-".join(f"{k}={v}" for k, v in sorted(self.param_kwargs.items()) if v not in (None, ""))
        name = f"{self.get_task_family()}{'-' + params if params else ''}.json".replace("/", "_")
        return luigi.LocalTarget(str(get_settings().state_dir / "luigi" / name))

    def result(self):
        with self.output().open("r") as fh:
            return json.load(fh)

    def write(self, value) -> None:
        with self.output().open("w") as fh:
            json.dump(value, fh, default=str)


class AnnotationSync(_StepTask):
    export_file = luigi.OptionalParameter(default=None)

    def run(self):
        from tasks.annotation_sync import export_annotations, ingest_export

        self.write(ingest_export(export_annotations(self.export_file)))


class BuildDataset(_StepTask):
    export_file = luigi.OptionalParameter(default=None)
    split_seed = luigi.IntParameter(default=0)

    def requires(self):
        return AnnotationSync(export_file=self.export_file)

    def run(self):
        from tasks.dataset import build_dataset

        self.write({"dataset_version_id": build_dataset(seed=self.split_seed)})


class Train(_StepTask):
    export_file = luigi.OptionalParameter(default=None)
    num_processes = luigi.IntParameter(default=2)
    epochs = luigi.IntParameter(default=3)
    steps_per_epoch = luigi.OptionalIntParameter(default=None)

    def requires(self):
        return BuildDataset(export_file=self.export_file)

    def run(self):
        from tasks.evaluate import promote_if_better
        from tasks.training import train_model

        dv = self.input().open().read()
        model_id = train_model(
            json.loads(dv)["dataset_version_id"],
            num_processes=self.num_processes,
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
        )
        self.write(promote_if_better(model_id))


class Recognize(_StepTask):
    run_date = luigi.DateParameter(default=date.today())
    batch_size = luigi.IntParameter(default=32)

    def run(self) -> None:
        from tasks.nightly_recognition import finish_recognition, open_recognition_run, pending_batches, recognize_batch
        from tasks.outputs import write_batch_outputs

        run_id = open_recognition_run(self.run_date)
        for batch in pending_batches(run_id, self.batch_size):
            page_data: dict[int, bytes] | None = {} if get_settings().batch_outputs else None
            stats = recognize_batch(run_id, batch, page_data)
            if page_data is not None:  # the outputs of the documents the batch completed, from its page bytes
                write_batch_outputs(run_id, stats["document_ids"], page_data)
        self.write(finish_recognition(run_id))


def run(task: luigi.Task) -> bool:
    """Build ``task`` and its requirements in this process; returns True on success."""
    return luigi.build([task], local_scheduler=True, workers=1, detailed_summary=False, log_level="WARNING")
