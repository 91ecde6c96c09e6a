"""Documents: scan files read into pages, blocks, lines and words with their boxes.

``model`` is the document model the output formats are written from; ``reader`` decodes scan
files, cuts pages into blocks and lines and recognizes them page by page. It may import
:mod:`linerec.infra`, :mod:`linerec.vision` and :mod:`linerec.model`.
"""
