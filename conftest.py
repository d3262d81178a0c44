"""Root fixtures: a logged-in client per role, and the switch that keeps tests off the network."""

import pytest

from tests.factories import OrganizationFactory, UserFactory
from tourbrain_support.roles import Role, assign_roles


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db):
    """make_user(role=None, **fields): a user holding the given staff role (None = customer)."""

    def factory(role: str | None = None, **fields):
        user = UserFactory(**fields)
        if role:
            assign_roles(user, [role])
        return user

    return factory


@pytest.fixture
def client_as(client, make_user):
    """client_as(role): the test client logged in as a fresh user with that role."""

    def login(role: str | None = None, **fields):
        user = make_user(role, **fields)
        client.force_login(user)
        client.user = user
        return client

    return login


@pytest.fixture
def client_as_rep(client_as):
    return client_as(Role.SUPPORT_REP)


@pytest.fixture
def client_as_admin(client_as):
    return client_as(Role.ADMIN)


@pytest.fixture
def organization(db):
    return OrganizationFactory()
