"""client_ip: the rightmost X-Forwarded-For hop that is not a trusted proxy, never the forgeable first value."""

import pytest
from django.test import RequestFactory

from audit.client_ip import client_ip


@pytest.fixture(autouse=True)
def _proxies(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]


def _ip(remote, forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),  # no proxy
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # an untrusted peer cannot forward anything
        ("127.0.0.1", None, "127.0.0.1"),  # trusted peer, no header
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the forged first value is ignored
        ("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3", "198.51.100.7"),  # chain of trusted proxies
        ("127.0.0.1", "10.1.2.3, 10.4.5.6", "127.0.0.1"),  # only proxies: never the first value
        ("127.0.0.1", "6.6.6.6, not-an-ip", "127.0.0.1"),  # garbage from the proxy: stop
        ("127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("127.0.0.1", "198.51.100.7:5123", "198.51.100.7"),
    ],
)
def test_client_ip(remote, forwarded, expected):
    assert _ip(remote, forwarded) == expected


def test_missing_remote_addr_is_none():
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="")) is None
