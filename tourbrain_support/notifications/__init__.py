"""The notification core: the outbox every app writes to, its delivery tasks and channels (email, Slack).

An app builds messages (`builders`), writes them in its own transaction (`outbox.outbox_enqueue_many`) and
the core delivers them once (`tasks`, `channels`). The apps call down into this package; it imports no app.
"""
