"""Template helpers for the help center: chapter timestamps and the privacy-enhanced video embed."""

from django import template
from django.utils.html import format_html
from django.utils.http import urlencode

from knowledge_base.rendering import video_file_origin

register = template.Library()

# Only these embed hosts are used (and allowed by the Content-Security-Policy frame-src).
YOUTUBE_EMBED = "https://www.youtube-nocookie.com/embed/{}"
VIMEO_EMBED = "https://player.vimeo.com/video/{}"


@register.filter
def timestamp(seconds) -> str:
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@register.simple_tag
def video_embed(article):
    provider, ref = article.video_provider, article.video_ref
    title = f"Video: {article.title}"
    if provider == "youtube" and ref:
        # enablejsapi lets the chapters seek through the player's postMessage API.
        src = YOUTUBE_EMBED.format(ref) + "?" + urlencode({"enablejsapi": 1, "rel": 0})
    elif provider == "vimeo" and ref:
        src = VIMEO_EMBED.format(ref) + "?" + urlencode({"dnt": 1})
    elif provider == "file" and video_file_origin(ref):
        return format_html(
            '<video class="kb-frame" controls preload="metadata" src="{}" title="{}"></video>', ref, title
        )
    else:
        return ""
    return format_html(
        '<iframe class="kb-frame" src="{}" title="{}" loading="lazy" referrerpolicy="strict-origin-when-cross-origin"'
        ' allow="encrypted-media; picture-in-picture; fullscreen" allowfullscreen></iframe>',
        src,
        title,
    )
