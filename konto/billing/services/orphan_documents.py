"""Finding and deleting document files that no StoredDocument row references (left by rolled-back issues).

Documents are written to storage inside the issuing transaction, before it
commits; when it rolls back afterwards, the row goes and the file stays. Such a
file is found here: below the documents folder, referenced by no row, and
older than an hour — younger files may belong to a transaction still running.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.files.storage import Storage, default_storage

from konto.billing.models import StoredDocument
from konto.billing.services.documents import DOCUMENTS_DIR

MIN_AGE = timedelta(hours=1)  # no issuing transaction runs that long
_CHUNK = 500  # file names looked up per query


@dataclass(frozen=True)
class OrphanFile:
    name: str  # path in the storage, e.g. documents/ab/ab12….pdf
    size: int  # bytes
    modified_at: datetime


def _walk(storage: Storage, folder: str) -> Iterator[str]:
    """Every file below `folder`, depth first, in name order."""
    if not storage.exists(folder):
        return
    directories, files = storage.listdir(folder)
    for name in sorted(files):
        yield f"{folder}/{name}"
    for directory in sorted(directories):
        yield from _walk(storage, f"{folder}/{directory}")


def _unreferenced(names: list[str]) -> list[str]:
    referenced = set(StoredDocument.objects.filter(file__in=names).values_list("file", flat=True))
    return [name for name in names if name not in referenced]


def find_orphan_documents(*, now: datetime, storage: Storage | None = None) -> list[OrphanFile]:
    """Files below the documents folder that no StoredDocument references and that are older than an hour."""
    storage = storage or default_storage
    cutoff = now - MIN_AGE
    orphans: list[OrphanFile] = []
    names: list[str] = []

    def check(batch: list[str]) -> None:
        for name in _unreferenced(batch):
            modified_at = storage.get_modified_time(name)
            if modified_at < cutoff:
                orphans.append(OrphanFile(name=name, size=storage.size(name), modified_at=modified_at))

    for name in _walk(storage, DOCUMENTS_DIR):
        names.append(name)
        if len(names) == _CHUNK:
            check(names)
            names = []
    check(names)
    return orphans


def delete_orphan_documents(orphans: list[OrphanFile], *, now: datetime, storage: Storage | None = None) -> int:
    """Delete these orphans, each checked again just before (still unreferenced, still old); returns how many."""
    storage = storage or default_storage
    cutoff = now - MIN_AGE
    deleted = 0
    for orphan in orphans:
        if not storage.exists(orphan.name) or storage.get_modified_time(orphan.name) >= cutoff:
            continue  # gone meanwhile, or written again by an issue that is running now
        if StoredDocument.objects.filter(file=orphan.name).exists():
            continue
        storage.delete(orphan.name)
        deleted += 1
    return deleted
