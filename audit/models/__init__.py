"""Audit models, one module per concern."""

from audit.models.compliance import *  # noqa: F403
from audit.models.deployments import *  # noqa: F403
from audit.models.events import *  # noqa: F403
