"""Ticket models, one module per concern."""

from tickets.models.beta import *  # noqa: F403
from tickets.models.customer import *  # noqa: F403
from tickets.models.email import *  # noqa: F403
from tickets.models.intake import *  # noqa: F403
from tickets.models.surveys import *  # noqa: F403
from tickets.models.tickets import *  # noqa: F403
from tickets.models.views import *  # noqa: F403
