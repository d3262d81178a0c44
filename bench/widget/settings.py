"""The portal's settings plus one bare Django JSON view (`/bench/bare/`), the widget benchmark's reference."""

from tourbrain_support.settings import *  # noqa: F403

ROOT_URLCONF = "bench.widget.urls"
