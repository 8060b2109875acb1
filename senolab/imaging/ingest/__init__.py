"""DICOM ingest: files, folders and zip archives become de-identified Images with a pixel cache.

The entry points live in `senolab.imaging.ingest.service` (`ingest_paths`, `ingest_dicom_file`);
this package module stays import-light so that web processes can catch `IngestError` without
loading pydicom and its codecs.
"""

from __future__ import annotations


class IngestError(ValueError):
    """One item cannot be ingested. The message says why for a person, and never carries an
    identifier or a client file name (it ends up in job results, API errors and logs).
    too_large marks a refusal by a size limit (HTTP 413 when it answers an upload)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


__all__ = ["IngestError"]
