"""Knowledge base periodic tasks: thin wrappers over services; idempotent, safe to run twice."""

from celery import shared_task

from knowledge_base import services


@shared_task(ignore_result=True)
def kb_view_counts_flush() -> int:
    """Move the cached page-view counters into the articles' view counts."""
    return services.kb_view_counts_flush()


@shared_task(ignore_result=True)
def kb_count_deflections() -> int:
    """Count suggestion opens with no ticket within the window as deflections (each open once)."""
    return services.kb_deflections_count()


@shared_task(ignore_result=True)
def kb_vocabulary_rebuild() -> int:
    """Rebuild the search's typo vocabulary (words of unpublished or deleted articles go)."""
    return services.kb_vocabulary_rebuild()
