"""The user admin page links to the person's audit trail, and the links filter the activity log."""

import pytest

from audit.services import audit_record
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db


def test_user_page_links_to_what_they_did_and_what_was_done_to_them(client_as, make_user):
    # given an admin and a user who acted once and whose account was changed once
    admin_client = client_as(Role.ADMIN)
    person = make_user(email="linked@example.com")
    audit_record(actor=person, action="update", resource_type="ticket", resource_id=7)
    audit_record(actor=admin_client.user, action="update", resource_type="user", resource_id=person.pk)
    # when the admin opens the person's admin page
    page = admin_client.get(f"/admin/tourbrain_support/user/{person.pk}/change/").content.decode()
    # then it links to both views of the activity log
    by_link = f'/audit/?actor={person.pk}"'
    about_link = f"/audit/?resource_type=user&amp;resource_id={person.pk}"
    assert by_link in page
    assert about_link in page
    # and following them (as an auditor) lists the matching events
    auditor = client_as(Role.AUDITOR)
    by_page = auditor.get(f"/audit/?actor={person.pk}").content.decode()
    about_page = auditor.get(f"/audit/?resource_type=user&resource_id={person.pk}").content.decode()
    assert "ticket:7" in by_page
    assert f"user:{person.pk}" in about_page
    assert "ticket:7" not in about_page
