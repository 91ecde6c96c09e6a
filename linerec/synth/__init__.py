"""Synthetic training data: scanned-looking pages, line sheets, fonts and text corpora.

``pages`` renders documents (``layouts`` places multi-column pages, ``text`` supplies content and
draws lines) with a Label Studio export; ``lines`` renders sheets of independent lines; ``fonts``
lists the machine's fonts with a fixed held-out split; ``corpora`` and ``text_kinds`` build text
of many kinds offline. It may import :mod:`linerec.infra`, :mod:`linerec.vision`,
:mod:`linerec.model` (for the character set) and :mod:`linerec.labelstudio` (the regions of its exports).
"""
