"""Login forms check the email's length before any query: a 60,000-character email is a form error, not a 500
(SQLite refuses such a LIKE pattern)."""

import pytest

pytestmark = pytest.mark.django_db

HUGE_EMAIL = "a" * 60_000 + "@example.test"


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_an_email_longer_than_the_field_is_a_form_error_before_any_query(client, url, django_assert_num_queries):
    client.get(url)  # the session and CSRF cookie exist before the counted request

    with django_assert_num_queries(0):
        response = client.post(url, {"username": HUGE_EMAIL, "password": "whatever"})

    assert response.status_code == 200
    assert "Ensure this value has at most 254 characters (it has 60013)." in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_an_email_of_the_field_length_is_still_checked_normally(client, make_user, url):
    user = make_user("admin", email="b" * 240 + "@example.test")
    user.set_password("right-password-123")
    user.save()

    refused = client.post(url, {"username": user.email, "password": "wrong"})
    assert "Please enter" in refused.content.decode()
    assert refused.status_code == 200
    accepted = client.post(url, {"username": user.email, "password": "right-password-123"})
    assert accepted.status_code == 302
