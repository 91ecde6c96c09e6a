"""Judging recognition: CER, line detection scores, evaluation on shards, peers and monitoring.

``metrics`` is the one edit distance and CER every figure uses; ``layout_metrics`` scores line
detection; ``evaluate`` runs a recognizer over shards; ``tesseract`` and ``peers`` run the other
OCR systems the same way; ``monitoring`` (pure) and ``monitoring_report`` compute and draw a run's
quality signals; ``plots`` draws shared figures. It may import :mod:`linerec.infra`,
:mod:`linerec.vision`, :mod:`linerec.model` and :mod:`linerec.datasets`.
"""
