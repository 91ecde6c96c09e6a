"""linerec: the line text recognizer library behind the pipeline.

Parts by role (each subpackage's docstring says what it holds and what it may import; the import
graph is checked by ``tests/unit/test_layering.py``):

- ``infra``: settings, retry policy, service endpoints, the embedded servers, S3 and Postgres;
- ``vision``: decoding page images, line cropping, segmentation and layout (blocks, reading order);
- ``model``: character set, CTC, the CRNN, line preprocessing, the recognizer and ONNX Runtime;
- ``datasets``: TFRecord shards and the real scan sets with ground truth;
- ``eval``: CER and detection metrics, evaluation on shards, peers (Tesseract, PaddleOCR),
  quality monitoring and figures;
- ``training``: the Horovod training entry point;
- ``synth``: synthetic pages and line sheets, fonts and text corpora;
- ``labelstudio``: export parsing, field checks, the server client, project setup;
- ``document`` and ``formats``: scan files read into documents, and hOCR/ALTO/PAGE/PDF.

Entry points at the top: ``cli`` (the ``linerec`` command, ``python -m linerec``) and
``ocrmypdf_plugin``. The library never imports ``tasks`` (the pipeline steps) or ``dags``.
"""
