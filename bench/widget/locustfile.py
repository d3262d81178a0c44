"""Locust users of the widget benchmark: BENCH_TARGET=bare hits the bare view, =auth the widget API view
that only authenticates, =widget files tickets
through POST /api/v1/widget/tickets/ (with an Idempotency-Key) with one of the customers' tokens
(BENCH_TOKENS_FILE, one a line)."""

import itertools
import os
import uuid
from pathlib import Path

from locust import FastHttpUser, constant, task

TARGET = os.environ.get("BENCH_TARGET", "bare")
TOKENS = Path(os.environ["BENCH_TOKENS_FILE"]).read_text().split() if TARGET != "bare" else []
_next_token = itertools.cycle(TOKENS or [""])
BODY = {
    "type": "question",
    "priority": "medium",
    "description": "How do I export the tour itinerary as PDF?\nThe button is greyed out.",
    "browser_info": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131",
    "url": "https://app.tourbrain.ai/tours/42/itinerary",
}


class WidgetUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.auth = {"Authorization": f"Bearer {next(_next_token)}"}

    @task
    def hit(self):
        if TARGET == "bare":
            self.client.get("/bench/bare/", name="bare")
        elif TARGET == "auth":
            self.client.get("/bench/widget-auth/", headers=self.auth, name="widget auth only")
        else:
            # Like the widget: every submit carries a fresh Idempotency-Key (retries would reuse it).
            headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
            self.client.post("/api/v1/widget/tickets/", json=BODY, headers=headers, name="widget create")
