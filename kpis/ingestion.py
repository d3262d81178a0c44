"""Event ingestion: decode what the PostHog clients send, validate each event, bulk-insert the good ones.

Kept cheap and apart from the rollups: events are checked with plain Python (no serializer per event) and stored
in bulk. On PostgreSQL the uuids go with COPY into kpis_event_uuid (unique on uuid alone, which the partitioned
events table cannot be) and the rows straight into the events table, inside a savepoint; when a uuid is already
stored (a retried batch, even with another timestamp) that COPY fails as a whole and the rows go through a
temporary table: the uuids new to kpis_event_uuid are inserted there and only their rows into the events.
Elsewhere (SQLite: a plain table unique on uuid): multi-row INSERT ... ON CONFLICT DO NOTHING per chunk. Either
way a retried batch stores nothing twice. One upsert counts the refused events.
"""

import base64
import binascii
import hmac
import json
import re
import uuid as uuid_module
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kpis.models import ProductEvent, ProjectApiKey, RejectedEventCount
from kpis.schemas import EVENT_SCHEMAS, validate_properties
from tourbrain_support.parsers import json_nesting_exceeds

INSERT_CHUNK = 500
ONE_DAY = timedelta(days=1)
CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
COLUMNS = ("uuid", "name", "distinct_id", "timestamp", "received_at", "properties", "organization_key", "is_custom")
TABLE = ProductEvent._meta.db_table
STAGE_TABLE = "kpis_event_stage"
UUID_TABLE = "kpis_event_uuid"  # PostgreSQL: one row per stored uuid (migration kpis 0007)


class CaptureError(Exception):
    """The request as a whole cannot be taken (status 400, 401 or 413)."""

    def __init__(self, message: str, *, code: str, status: int):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass
class IngestResult:
    received: int = 0
    errors: list[dict] = field(default_factory=list)


def project_key_is_valid(key: str | None) -> bool:
    """A key from the KPI_PROJECT_API_KEYS setting or an active ProjectApiKey row."""
    if not key or not isinstance(key, str) or len(key) > 100:
        return False
    if any(hmac.compare_digest(key.encode(), configured.encode()) for configured in settings.KPI_PROJECT_API_KEYS):
        return True
    return ProjectApiKey.objects.filter(key=key, is_active=True).exists()


def _gunzip_limited(data: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CaptureError("The body is not valid gzip.", code="invalid_payload", status=400) from exc
    if len(out) > limit:
        raise CaptureError("The decompressed body is too large.", code="payload_too_large", status=413)
    return out


def decode_capture_body(*, body: bytes, content_type: str, content_encoding: str, query: dict) -> object:
    """The JSON payload of a PostHog capture request: plain, gzip (header or ?compression=gzip-js) or base64."""
    if len(body) > settings.KPI_MAX_BODY_BYTES:
        raise CaptureError("The body is too large.", code="payload_too_large", status=413)
    limit = settings.KPI_MAX_DECOMPRESSED_BYTES
    compression = (query.get("compression") or "").lower()
    if content_type == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("latin-1"))
        body = (form.get("data") or [""])[0].encode("latin-1")
        compression = (form.get("compression") or [compression])[0].lower()
    # posthog-js sends gzip as text/plain, with or without ?compression=gzip-js: the magic bytes decide too.
    if content_encoding.lower() == "gzip" or compression == "gzip-js" or body[:2] == b"\x1f\x8b":
        body = _gunzip_limited(body, limit)
    elif compression == "lz64":
        raise CaptureError("lz64 compression is not supported; use gzip.", code="invalid_payload", status=400)
    stripped = body.lstrip()
    if stripped[:1] not in (b"{", b"["):
        try:  # base64 bodies, as older posthog-js versions send them
            body = base64.b64decode(stripped, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise CaptureError("The body is not JSON.", code="invalid_payload", status=400) from exc
        if body[:2] == b"\x1f\x8b":
            body = _gunzip_limited(body, limit)
    if len(body) > limit:
        raise CaptureError("The decompressed body is too large.", code="payload_too_large", status=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaptureError("The body is not UTF-8 JSON.", code="invalid_payload", status=400) from exc
    if json_nesting_exceeds(text, settings.API_JSON_MAX_DEPTH):
        raise CaptureError("The JSON is nested too deeply.", code="invalid_payload", status=400)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CaptureError("The body is not JSON.", code="invalid_payload", status=400) from exc


def split_capture_payload(payload: object, *, query_token: str = "") -> tuple[str, list]:
    """(api key, events) of a capture payload: {"api_key", "batch": [...]}, one event, or a list of events."""
    if isinstance(payload, list):
        events, top = payload, {}
    elif isinstance(payload, dict):
        top = payload
        events = payload.get("batch") if "batch" in payload else [payload]
    else:
        raise CaptureError("The payload must be an object or a list.", code="invalid_payload", status=400)
    if not isinstance(events, list):
        raise CaptureError("`batch` must be a list.", code="invalid_payload", status=400)
    key = top.get("api_key") or top.get("token") or query_token
    if not key:
        for event in events:
            properties = event.get("properties") if isinstance(event, dict) else None
            key = event.get("api_key") if isinstance(event, dict) else None
            key = key or (properties.get("token") if isinstance(properties, dict) else None)
            if key:
                break
    return (key if isinstance(key, str) else ""), events


def check_batch_size(events: list) -> None:
    if len(events) > settings.KPI_MAX_BATCH_EVENTS:
        raise CaptureError(
            f"At most {settings.KPI_MAX_BATCH_EVENTS} events per request.", code="batch_too_large", status=413
        )


def _parse_timestamp(item: dict, now: datetime) -> datetime | None:
    raw = item.get("timestamp")
    if raw is None:
        offset = item.get("offset")  # posthog-js: milliseconds before sending
        if isinstance(offset, int | float) and not isinstance(offset, bool):
            return now - timedelta(milliseconds=offset)
        return now
    if not isinstance(raw, str):
        return None
    try:  # fromisoformat is ten times faster than parse_datetime and reads what the clients send
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            parsed = parse_datetime(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
        except ValueError:
            return None
    if parsed is None:
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=timezone.UTC)


def _organization_key(properties: dict) -> str:
    groups = properties.get("$groups")
    value = groups.get("organization") if isinstance(groups, dict) else None
    value = value or properties.get("organizationId")
    return str(value)[:200] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _validate(item, *, now: datetime, oldest: datetime, require_uuid: bool) -> tuple[tuple | None, dict | None]:
    """(row in COLUMNS order, None) when the item is acceptable, else (None, {"code", "message", "fields"})."""
    if not isinstance(item, dict):
        return None, {"code": "invalid_event", "message": "An event must be an object.", "fields": {}}
    name = item.get("event")
    properties = item.get("properties", {})
    if properties is None:
        properties = {}
    fields: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name or len(name) > 200:
        fields["event"] = ["A non-empty event name of at most 200 characters is required."]
    if not isinstance(properties, dict):
        fields["properties"] = ["Must be an object."]
        properties = {}
    distinct_id = item.get("distinct_id", properties.get("distinct_id"))
    if isinstance(distinct_id, int) and not isinstance(distinct_id, bool):
        distinct_id = str(distinct_id)
    if not isinstance(distinct_id, str) or not distinct_id or len(distinct_id) > 200:
        fields["distinct_id"] = ["A non-empty distinct_id of at most 200 characters is required."]
    raw_uuid = item.get("uuid")
    event_uuid = None
    if raw_uuid is None and not require_uuid:
        event_uuid = uuid_module.uuid4()
    elif isinstance(raw_uuid, str) and CANONICAL_UUID.fullmatch(raw_uuid):
        event_uuid = raw_uuid  # stored as sent: the database reads this form (a tenth of the cost of uuid.UUID)
    else:
        try:
            event_uuid = uuid_module.UUID(str(raw_uuid)) if raw_uuid is not None else None
        except ValueError:
            event_uuid = None
        if event_uuid is None:
            fields["uuid"] = ["A valid UUID is required."]
    timestamp = _parse_timestamp(item, now)
    if timestamp is None:
        fields["timestamp"] = ["An ISO 8601 timestamp is required."]
    if fields:
        return None, {"code": "invalid_event", "message": "The event is invalid.", "fields": fields}
    if timestamp > now + ONE_DAY:
        return None, {"code": "future_event", "message": "The event is more than a day in the future.", "fields": {}}
    if timestamp < oldest:
        message = f"The event is older than the {settings.KPI_EVENT_RETENTION_DAYS}-day retention."
        return None, {"code": "too_old", "message": message, "fields": {}}
    for person_key in ("$set", "$set_once"):  # posthog-js sends them beside `properties`; PostHog merges them in
        person_values = item.get(person_key)
        if isinstance(person_values, dict) and person_key not in properties:
            properties = {**properties, person_key: person_values}
    property_errors = validate_properties(name, properties)
    if property_errors:
        message = f"The properties do not match the {name} schema."
        return None, {"code": "invalid_properties", "message": message, "fields": property_errors}
    row = (
        event_uuid,
        name,
        distinct_id,
        timestamp,
        now,
        properties,
        _organization_key(properties),
        name not in EVENT_SCHEMAS,
    )
    return row, None


def _record_refusals(refusals: Counter, messages: dict, day) -> None:
    """One upsert that adds to the counters (ON CONFLICT ... DO UPDATE works on PostgreSQL and SQLite)."""
    if not refusals:
        return
    table = RejectedEventCount._meta.db_table
    rows = [(day, reason, name, count, messages[(reason, name)][:300]) for (reason, name), count in refusals.items()]
    placeholders = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {table} (day, reason, event_name, count, last_message) VALUES {placeholders} "  # noqa: S608
        f"ON CONFLICT (day, reason, event_name) DO UPDATE SET count = {table}.count + excluded.count, "
        "last_message = excluded.last_message"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def _copy_rows(cursor, table: str, rows: list[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((*row[:5], json.dumps(row[5]), row[6], row[7]))


def _insert_rows_postgresql(rows: list[tuple]) -> None:
    """COPY the uuids and the events; on a uuid already stored, COPY into a temporary table and insert the events
    whose uuid is new (by uuid alone, whatever their timestamp)."""
    with connection.cursor() as cursor:
        try:
            # A savepoint: a failed COPY leaves the outer transaction usable.
            with transaction.atomic(), connection.wrap_database_errors:
                with cursor.copy(f'COPY {UUID_TABLE} (uuid, "timestamp") FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row((row[0], row[3]))
                _copy_rows(cursor, TABLE, rows)
            return
        except IntegrityError:
            pass
        columns = ", ".join(COLUMNS)
        stage_sql = f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE_TABLE} ON COMMIT DELETE ROWS AS SELECT {columns} "
        cursor.execute(stage_sql + f"FROM {TABLE} WITH NO DATA")
        _copy_rows(cursor, STAGE_TABLE, rows)
        # The first row of each uuid new to UUID_TABLE goes in; a uuid repeated in the batch or stored before
        # (with any timestamp) is skipped.
        selected = ", ".join(f"s.{column}" for column in COLUMNS)
        cursor.execute(
            f"""WITH fresh AS (
                    INSERT INTO {UUID_TABLE} (uuid, "timestamp")
                    SELECT DISTINCT ON (uuid) uuid, "timestamp" FROM {STAGE_TABLE} ORDER BY uuid, "timestamp"
                    ON CONFLICT DO NOTHING RETURNING uuid, "timestamp")
                INSERT INTO {TABLE} ({columns})
                SELECT DISTINCT ON (s.uuid) {selected} FROM {STAGE_TABLE} s
                JOIN fresh f ON f.uuid = s.uuid AND f."timestamp" = s."timestamp"
                ORDER BY s.uuid
                ON CONFLICT DO NOTHING"""  # noqa: S608
        )
        cursor.execute(f"DELETE FROM {STAGE_TABLE}")  # noqa: S608 (a later batch in this transaction starts empty)


def _insert_rows(rows: list[tuple]) -> None:
    """Multi-row INSERT ... ON CONFLICT DO NOTHING per chunk (SQLite and other databases)."""
    fields = [ProductEvent._meta.get_field(column) for column in COLUMNS]
    chunk_size = min(INSERT_CHUNK, connection.ops.bulk_batch_size(fields, rows))
    one = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            params = [
                field.get_db_prep_save(value, connection)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            cursor.execute(
                f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES {', '.join([one] * len(chunk))} "  # noqa: S608
                "ON CONFLICT DO NOTHING",
                params,
            )


def events_ingest(*, items: list, require_uuid: bool = False) -> IngestResult:
    """Store the acceptable events (duplicates by uuid ignored); count and report the others by index."""
    now = timezone.now()
    result = IngestResult()
    rows: list[tuple] = []
    refusals: Counter = Counter()
    messages: dict = {}
    oldest = now - timedelta(days=settings.KPI_EVENT_RETENTION_DAYS)  # read once, not per event
    for index, item in enumerate(items):
        row, error = _validate(item, now=now, oldest=oldest, require_uuid=require_uuid)
        if error is not None:
            name = item.get("event") if isinstance(item, dict) else None
            key = (error["code"], name[:200] if isinstance(name, str) else "")
            refusals[key] += 1
            messages[key] = error["message"]
            result.errors.append({"index": index, **error})
        else:
            rows.append(row)
    with transaction.atomic():
        if rows:
            if connection.vendor == "postgresql":
                _insert_rows_postgresql(rows)
            else:
                _insert_rows(rows)
        _record_refusals(refusals, messages, now.date())
    result.received = len(rows)
    return result
