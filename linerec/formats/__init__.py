"""Output formats written from one document model (:mod:`linerec.document.model`).

``hocr`` (:mod:`.hocr`), ``alto`` (:mod:`.alto`), ``page`` (PAGE XML, :mod:`.pagexml`; one file a
page) and ``pdf`` (searchable PDF, :mod:`.pdf`). :func:`export_file` recognizes one scan file and
writes it in one format; :func:`export_files` does that for several files, reporting the ones that
fail without stopping (``linerec recognize --format ...``). It may import :mod:`linerec.infra`,
:mod:`linerec.vision`, :mod:`linerec.model` and :mod:`linerec.document`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

#: Format name -> file suffix.
SUFFIXES = {"hocr": ".hocr", "alto": ".alto.xml", "page": ".page.xml", "pdf": ".pdf"}


def render(
    fmt: str, name: str, pages: list, data: bytes | None = None, software: str = "linerec", version: str = ""
) -> list[bytes]:
    """Encode recognized pages in ``fmt``.

    Parameters
    ----------
    fmt : {"hocr", "alto", "page", "pdf"}
        Output format.
    name : str
        The source file's name (recorded in the output).
    pages : list of linerec.document.reader.PageResult
        Every page of the file, with blocks and words.
    data : bytes, optional
        The file's bytes (``pdf`` only: its page images).
    software, version : str
        Producer and model version.

    Returns
    -------
    list of bytes
        One document; for ``page`` one document per page.
    """
    if fmt == "hocr":
        from linerec.formats.hocr import to_hocr

        return [to_hocr(name, pages, system=f"{software} {version}".strip())]
    if fmt == "alto":
        from linerec.formats.alto import to_alto

        return [to_alto(name, pages, software=software, version=version)]
    if fmt == "page":
        from linerec.formats.pagexml import to_page_xml

        return [to_page_xml(name, page, creator=f"{software} {version}".strip()) for page in pages]
    if fmt == "pdf":
        from linerec.formats.pdf import page_images, to_pdf
        from linerec.vision.images import PDF_DPI

        if data is None:
            raise ValueError("the pdf format needs the file's bytes")
        return [to_pdf(pages, list(page_images(data, PDF_DPI)), title=name)]
    raise ValueError(f"unknown format {fmt!r}; one of {sorted(SUFFIXES)}")


def output_paths(target: Path, count: int, fmt: str) -> list[Path]:
    """Where ``count`` documents of one output go: ``target`` itself, or ``STEM_0001SUFFIX``... for several.

    ``SUFFIX`` is the format's (:data:`SUFFIXES`) when ``target`` ends with it, else its last suffix.
    """
    if count == 1:
        return [target]
    suffix = SUFFIXES[fmt] if target.name.endswith(SUFFIXES[fmt]) else target.suffix
    stem = target.name[: len(target.name) - len(suffix)]
    return [target.with_name(f"{stem}_{n:04d}{suffix}") for n in range(1, count + 1)]


def _write(path: Path, body: bytes) -> None:
    """Write through a temporary file in the same folder, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(body)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def export_file(path: str, recognizer, fmt: str, target: Path, decoder: str = "greedy") -> list[Path]:
    """Recognize one scan file (blocks, lines, words) and write it to ``target`` in ``fmt``.

    Returns
    -------
    list of Path
        The files written (``page`` writes one per page, see :func:`output_paths`).

    Raises
    ------
    linerec.document.reader.InputError
        The file cannot be read; nothing is written.
    """
    from linerec.document.reader import read_file, recognize_pages

    pages = list(recognize_pages(path, recognizer, decoder, words=True))
    data = read_file(path) if fmt == "pdf" else None
    docs = render(fmt, os.path.basename(str(path)), pages, data, version=str(getattr(recognizer, "model_version", "")))
    paths = output_paths(Path(target), len(docs), fmt)
    for out, body in zip(paths, docs):
        _write(out, body)
    return paths


def export_files(
    paths: Iterable[str],
    recognizer,
    fmt: str,
    output: str | os.PathLike,
    decoder: str = "greedy",
    on_error: Callable[[str], None] | None = None,
) -> list[str]:
    """:func:`export_file` for several files; a file that fails is reported and the others go on.

    Parameters
    ----------
    paths : iterable of str
        Scan files.
    recognizer : linerec.model.recognizer.Recognizer
        The loaded model.
    fmt : {"hocr", "alto", "page", "pdf"}
        Output format.
    output : path
        With one input: the output file. With several: a folder (created), each input written
        to ``NAME`` + the format's suffix (:data:`SUFFIXES`).
    decoder : {"greedy", "beam"}
        CTC decoding.
    on_error : callable, optional
        Called with ``"PATH: reason"`` for every file that fails.

    Returns
    -------
    list of str
        The error messages (empty when every file was written).
    """
    from linerec.document.reader import InputError

    paths = list(paths)
    output = Path(output)
    if len(paths) > 1:
        output.mkdir(parents=True, exist_ok=True)
    errors = []
    for path in paths:
        target = output / (Path(path).name + SUFFIXES[fmt]) if len(paths) > 1 else output
        try:
            export_file(path, recognizer, fmt, target, decoder)
        except InputError as exc:
            errors.append(str(exc))
        except OSError as exc:
            raise OSError(f"{target}: cannot write ({exc.strerror or exc})") from exc
        except Exception as exc:  # one bad file never stops the others
            log.debug("exporting %s failed", path, exc_info=True)
            errors.append(f"{path}: cannot recognize ({type(exc).__name__}: {exc})")
        else:
            continue
        if on_error:
            on_error(errors[-1])
    return errors
