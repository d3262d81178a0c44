"""Markdown to sanitized HTML: the one rendering used by article pages, the editor preview and the admin.

Markdown is converted first (raw HTML in the source is escaped by the converter, not passed through), then
nh3 keeps an allow-list of tags and attributes: no scripts, no event handlers, no style attributes, and
links only to http(s), mailto and relative URLs (`javascript:` and `data:` are dropped). External links get
`rel="noopener noreferrer nofollow"`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import markdown
import nh3

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h2", "h3", "h4", "h5",
    "h6", "hr", "img", "kbd", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_SOURCE_LENGTH = 200_000


class _EscapeRawHtml(markdown.extensions.Extension):
    """Raw HTML blocks and inline tags are shown as text: an article's author cannot inject markup."""

    def extendMarkdown(self, md):
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def render_markdown(source: str) -> str:
    source = (source or "")[:MAX_SOURCE_LENGTH].replace("\x00", "")
    html = markdown.markdown(
        source,
        extensions=["extra", "sane_lists", "toc", _EscapeRawHtml()],
        extension_configs={"toc": {"permalink": False}},
        output_format="html",
    )
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# An https origin as CSP can name it: a host name (or IPv4) and an optional port, nothing that could end the
# source list or start another directive.
_MEDIA_ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def video_file_origin(url: str) -> str | None:
    """The https origin of a video file URL, which the video page adds to its CSP `media-src`; None when the URL
    is not one a page may play (not https, or a host CSP could not name)."""
    if not url.startswith("https://"):
        return None
    parts = urlsplit(url)
    origin = f"https://{parts.netloc}"
    return origin if parts.netloc and _MEDIA_ORIGIN.fullmatch(origin) else None
