"""Uploads stream to disk in chunks and stop at a limit, whatever their size.

Django parses a multipart body before any view runs (the CSRF check reads the form), so the
limits are enforced here, in the upload handler, as the bytes arrive: the server's
``MAX_UPLOAD_SIZE``, and the room left in the storage quota of whoever the file is for (the
user, or ``request.upload_owner`` that a view sets for a key holder). A stranger's file is
skipped, never written to disk. A body announced larger is refused before it is
read, one that grows past it is cut off, and a disk that fills up mid-way stops the upload
with nothing kept. The view then answers with ``upload_refusal``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import SkipFile, StopUpload, TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from webapp.accounts import quotas
from webapp.lib.files import DISK_FULL, human_size, is_disk_full


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler, writing under the data directory, with a size cap."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        self.limit, self.over_quota = settings.MAX_UPLOAD_SIZE, False
        self.owner = getattr(self.request, "upload_owner", None) or self._user()
        if self.owner is None:
            return None  # the form's fields are read; its files are skipped (new_file)
        room = quotas.room(self.owner)
        if room < self.limit:
            self.limit, self.over_quota = room, True
        if content_length and content_length > self.limit:
            self._note_too_large(content_length)
            return QueryDict(), MultiValueDict()  # parse nothing: the body is never read
        return None

    def new_file(self, *args, **kwargs):
        if self.owner is None:  # a stranger's file is never written to disk
            self.request.upload_refusal = (401, "Log in, or send a key, to upload a file.")
            raise SkipFile
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self._note_too_large(self.received)
            raise StopUpload(connection_reset=True)
        try:
            return super().receive_data_chunk(raw_data, start)
        except OSError as err:
            if not is_disk_full(err):
                raise
            self.request.upload_refusal = (507, DISK_FULL)
            raise StopUpload(connection_reset=True) from None

    def _user(self):
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None

    def _note_too_large(self, size: int) -> None:
        message = quotas.storage_refusal(self.owner, size) if self.over_quota else limit_message()
        self.request.upload_refusal = (413, message)


# For upload endpoints' OpenAPI: the file is required, though the view's signature makes it
# optional so that an upload cut off at the limit reaches the view (413), not validation (422).
FILE_REQUIRED = {
    "requestBody": {"content": {"multipart/form-data": {"schema": {"required": ["file"]}}}}
}


def upload_refusal(request) -> tuple[int, str] | None:
    """``(status, message)`` when the upload handler refused the body, else None."""
    return getattr(request, "upload_refusal", None)


def limit_message() -> str:
    return (
        f"The file is larger than the {human_size(settings.MAX_UPLOAD_SIZE)} this server accepts."
    )
