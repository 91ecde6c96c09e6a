"""Page images: safe decoding, line cropping, segmentation into lines and layout into blocks.

``images`` turns untrusted bytes (PNG, JPEG, TIFF, PDF) into grayscale pages, ``crop`` cuts a
(rotated) box out of a page, ``segment`` finds text lines and the page skew, ``layout`` cuts a page
into text blocks in reading order, and ``geometry`` defines the box types (``Box``, ``Rect``,
``FloatBox``) the whole library passes around. It may import only :mod:`linerec.infra`; nothing
here knows about the model.
"""
