"""Ticket tasks: thin wrappers that take ids and call services; safe to run twice."""

from celery import shared_task

# --- SLA engine ------------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def sla_sweep() -> dict[str, int]:
    """Every minute: SLA warnings and breaches (set-based; a rerun or a concurrent run changes nothing more)."""
    from tickets.sweep import sla_sweep as run_sweep

    result = run_sweep()
    return {"breached": len(result.breached), "warned": len(result.warned)}


@shared_task(ignore_result=True)
def tickets_auto_close() -> int:
    """Hourly: close tickets solved more than TICKET_AUTO_CLOSE_DAYS ago."""
    from tickets.services import tickets_close_solved

    return tickets_close_solved()


@shared_task(ignore_result=True)
def widget_intake_file() -> int:
    """Soon after a widget ticket is accepted, and every minute: file the accepted widget tickets."""
    from tickets.intake import intake_file_pending

    return intake_file_pending()


# --- email channel ---------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def nps_surveys_send() -> int:
    """Daily: the NPS survey to every customer who is due one (once per period; a rerun sends nothing)."""
    from tickets.surveys import nps_surveys_send as send

    return send()


@shared_task(ignore_result=True)
def imap_poll() -> dict[str, int]:
    """Every IMAP_POLL_SECONDS: ingest new mail from IMAP_URL (a no-op when it is empty)."""
    from tickets.imap_poller import imap_poll as poll

    return poll()
