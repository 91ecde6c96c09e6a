"""Label Studio: the one export parser, its field checks, the server client and the OCR project.

``export`` parses OCR exports (a file or the server's) into pages and lines, with ``fields``
validating each field; ``image_fetch`` decides what an image reference may point at and reads it
within limits; ``client`` talks to the server through label-studio-sdk; ``project`` sets up the
labeling project, storage, tasks and pre-annotations; ``regions`` builds the OCR regions every export
the project writes holds. It may import only :mod:`linerec.infra`.
"""
