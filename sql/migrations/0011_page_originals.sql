-- A page made from a one-page JPEG file can be read from that file's own bytes instead of its
-- canonical PNG (about a third of the bytes, decoded three times faster), when decoding them
-- gives exactly the canonical page: intake checks this when it registers the page and records
-- the file's sha256 (its bytes are the S3 object originals/<sha256>.jpg) and a
-- CRC-32 of the decoded pixels (row-major uint8, as zlib.crc32 computes it), which the reader
-- checks again after decoding (tasks/pages.py). NULL: the page is read from its canonical PNG.
ALTER TABLE pages
    ADD COLUMN original_sha256 text CHECK (original_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN pixels_crc32    bigint CHECK (pixels_crc32 BETWEEN 0 AND 4294967295),
    ADD CONSTRAINT pages_original_checked CHECK ((original_sha256 IS NULL) = (pixels_crc32 IS NULL));
