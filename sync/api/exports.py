"""Every matching event as a download (SPEC §6: `?format=csv` or `?format=ndjson`).

The rows come from the database in chunks (`QuerySet.iterator`, a server-side cursor on
PostgreSQL) and leave as they are written, so memory stays flat whatever the number of
events. A row has the API's event shape: the same keys, the same ISO 8601 times."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.renderers import BaseRenderer

from integrations.models import Event
from sync.api.serializers import EVENT_FIELDS

CHUNK_SIZE = 2000
_COLUMNS = (
    "kind",
    "github_id",
    "repository__full_name",
    "installation__github_id",
    "actor_login",
    "actor_github_id",
    "occurred_at",
    "title",
    "url",
    "number",
    "data",
)
# A spreadsheet runs a cell that starts with one of these as a formula; such text
# from GitHub (a title, a login) gets a leading apostrophe in the CSV.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CSVRenderer(BaseRenderer):
    """Names the `csv` format for DRF's content negotiation and the schema; the rows
    themselves are streamed by `stream_events`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        raise NotImplementedError("events are streamed by stream_events")


class NDJSONRenderer(CSVRenderer):
    media_type = "application/x-ndjson"
    format = "ndjson"


def iso(moment: datetime) -> str:
    """DRF's rendering of a datetime: ISO 8601 in the current time zone, `Z` for UTC."""
    text = timezone.localtime(moment).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def event_rows(events: QuerySet[Event]) -> Iterator[dict[str, Any]]:
    """The events as API-shaped dicts, fetched `CHUNK_SIZE` at a time."""
    for row in events.values_list(*_COLUMNS).iterator(chunk_size=CHUNK_SIZE):
        item = dict(zip(EVENT_FIELDS, row, strict=True))
        item["occurred_at"] = iso(item["occurred_at"])
        yield item


class _Line:
    """A file-like object whose write() hands back what it was given (for csv.writer)."""

    def write(self, text: str) -> str:
        return text


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(EVENT_FIELDS)
    for row in rows:
        row["data"] = json.dumps(row["data"], separators=(",", ":"), sort_keys=True)
        yield writer.writerow([_csv_cell(row[key]) for key in EVENT_FIELDS])


def ndjson_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, separators=(",", ":")) + "\n"


def _batched(lines: Iterator[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """Join lines into blocks of about `size` bytes: one write per block, not per row."""
    buffer: list[str] = []
    length = 0
    for line in lines:
        buffer.append(line)
        length += len(line)
        if length >= size:
            yield "".join(buffer).encode()
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer).encode()


EXPORT_FORMATS = {"csv": ("text/csv", csv_lines), "ndjson": ("application/x-ndjson", ndjson_lines)}


def stream_events(
    events: QuerySet[Event], *, export_format: str, filename: str
) -> StreamingHttpResponse:
    """A download of every event in `events`, in their order, as `export_format`."""
    content_type, lines = EXPORT_FORMATS[export_format]
    response = StreamingHttpResponse(
        _batched(lines(event_rows(events))), content_type=f"{content_type}; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.{export_format}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
