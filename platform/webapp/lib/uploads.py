"""Uploads stream to disk in chunks and stop at a size limit, whatever their size.

Django parses a multipart body before any view runs (the CSRF check reads the form), so the
limit is enforced here, in the upload handler, as the bytes arrive: a body announced larger
than the limit is refused before it is read, and one that grows past it is cut off. The view
then answers 413 by looking at ``too_large(request)``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler, writing under the data directory, with a size cap."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        if content_length and content_length > settings.MAX_UPLOAD_SIZE:
            self.request.upload_too_large = True
            return QueryDict(), MultiValueDict()  # parse nothing: the body is never read
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_SIZE:
            self._refuse()
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self):
        self.request.upload_too_large = True
        raise StopUpload(connection_reset=True)


# For upload endpoints' OpenAPI: the file is required, though the view's signature makes it
# optional so that an upload cut off at the limit reaches the view (413), not validation (422).
FILE_REQUIRED = {
    "requestBody": {"content": {"multipart/form-data": {"schema": {"required": ["file"]}}}}
}


def too_large(request) -> bool:
    return getattr(request, "upload_too_large", False)


def limit_message() -> str:
    return (
        f"The file is larger than the {human_size(settings.MAX_UPLOAD_SIZE)} this server accepts."
    )


def human_size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")
