"""The id of the current request or task, readable anywhere (logs, audit rows, outgoing tasks)."""

import contextlib
import contextvars
import re
import uuid

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    _request_id.set(value)


@contextlib.contextmanager
def request_id_as(value: str | None):
    """Run a block under another request's id (work done later on behalf of that request), then restore."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


def new_request_id(incoming: str | None = None) -> str:
    """Accept a caller's X-Request-ID when it is well-formed, else make a new one."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex
