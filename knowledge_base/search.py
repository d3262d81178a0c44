"""Article search: ranked full-text search with highlighted snippets, tolerant of typos and of any input.

PostgreSQL: `search_vector` (title A, summary B, body and transcript C, English stemming) is kept by a
trigger and indexed with GIN. The query goes through `websearch_to_tsquery`, which accepts any text (quotes,
`& | ! :*`, unbalanced parentheses) without a syntax error. When every word must match and nothing does, a
second pass looks for any word, and for words close to the query's words by trigram similarity over title
and summary (`word_similarity`, GIN trigram index): "colaboration", "itinerary exprt" still find the page.
Snippets come from `ts_headline`, computed for the returned page only.

SQLite: a simple fallback. Every word must appear (case-insensitive) in the title, summary, body or
transcript (else any of them); results are ranked by where the words were found; snippets are cut around
the first match.

Audience: only published articles are searched, and internal ones only with `include_internal` (staff, see
`knowledge_base.access`), in every branch of the query, so internal articles never reach a customer in
results, snippets or counts.
Input: NUL removed, at most `MAX_QUERY_LENGTH` characters kept (longer text is cut, never an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.utils.html import escape

from knowledge_base.models import Article

MAX_QUERY_LENGTH = 200
MAX_WORDS = 8
# word_similarity between a typed word and the closest word of a title or summary ("exprt" ~ "exports": 0.5).
TYPO_THRESHOLD = 0.45
SNIPPET_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter= … "
_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class Hit:
    article_id: int
    slug: str
    title: str
    summary: str
    kind: str
    audience: str
    url: str
    snippet: str  # safe HTML: escaped text with <mark> around matches
    rank: float


def clean_query(text: str | None) -> str:
    text = (text or "").replace("\x00", " ")
    return " ".join(text[:MAX_QUERY_LENGTH].split())


def typo_words(text: str) -> list[str]:
    """Words worth a trigram comparison: three letters or more, not stop words, at most MAX_WORDS."""
    words = []
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS and word not in words:
            words.append(word)
    return words[:MAX_WORDS]


def search(
    text: str | None, *, include_internal: bool, limit: int = 20, snippets: bool = True, any_word: bool = False
) -> list[Hit]:
    """The best `limit` published articles for `text` (an empty list for an empty or useless query).

    `any_word`: skip the every-word pass (a ticket subject is a sentence, not a search).
    """
    query = clean_query(text)
    if not query or limit <= 0:
        return []
    if connection.vendor == "postgresql":
        return _search_postgresql(query, include_internal, limit=limit, snippets=snippets, any_word=any_word)
    queryset = Article.objects.published()
    if not include_internal:
        queryset = queryset.filter(audience=Article.Audience.PUBLIC)
    return _search_fallback(queryset, query, limit=limit, snippets=snippets, any_word=any_word)


# --- PostgreSQL ----------------------------------------------------------------------------------------

# Candidates: the most viewed articles whose title or summary matches (small in-row vector) and the most
# viewed whose body matches; for a common word the planner walks the popularity index and stops after a
# few rows, for a rare one it takes the GIN index. Only these candidates get the full weighted rank, so a
# word found in every article costs about as much as a rare one.
CANDIDATE_LIMIT = 60

_CANDIDATES_ALL_WORDS = """
SELECT a.id, ts_rank(a.search_vector, q.query) AS rank
FROM (
    (SELECT h.id FROM knowledge_base_article h, websearch_to_tsquery('english', %s) AS hq(query)
     WHERE h.search_head @@ hq.query AND h.status = 'published' AND (h.audience = 'public' OR %s)
     ORDER BY h.view_count DESC, h.id LIMIT {candidates})
    UNION
    (SELECT b.id FROM knowledge_base_article b, websearch_to_tsquery('english', %s) AS bq(query)
     WHERE b.search_vector @@ bq.query AND b.status = 'published' AND (b.audience = 'public' OR %s)
     ORDER BY b.view_count DESC, b.id LIMIT {candidates})
) AS c
JOIN knowledge_base_article a ON a.id = c.id, websearch_to_tsquery('english', %s) AS q(query)
ORDER BY rank DESC, a.id
LIMIT %s
"""

# Any word of the query, or a word close to one of them (trigram), ranked by text match plus similarity.
_CANDIDATES_ANY_WORD = """
SELECT a.id, ts_rank(a.search_vector, q.query) + {similarity_sum} AS rank
FROM (
    (SELECT h.id FROM knowledge_base_article h, to_tsquery('english', %s) AS hq(query)
     WHERE h.search_head @@ hq.query AND h.status = 'published' AND (h.audience = 'public' OR %s)
     ORDER BY h.view_count DESC, h.id LIMIT {candidates})
    UNION
    (SELECT b.id FROM knowledge_base_article b, to_tsquery('english', %s) AS bq(query)
     WHERE b.search_vector @@ bq.query AND b.status = 'published' AND (b.audience = 'public' OR %s)
     ORDER BY b.view_count DESC, b.id LIMIT {candidates})
    {similar_branches}
) AS c
JOIN knowledge_base_article a ON a.id = c.id, to_tsquery('english', %s) AS q(query)
ORDER BY rank DESC, a.id
LIMIT %s
"""

_SIMILAR_BRANCH = """
    UNION
    (SELECT t.id FROM knowledge_base_article t
     WHERE %s <%% {text} AND t.status = 'published' AND (t.audience = 'public' OR %s)
     ORDER BY word_similarity(%s, {text}) DESC, t.id LIMIT {candidates})
"""

_TRIGRAM_TEXT = "(lower(a.title) || ' ' || lower(a.summary))"
# Markdown punctuation and link targets, left out of snippets (the snippet is plain text).
_MARKDOWN_MARKUP = r"\]\([^)]*\)|[*_`#>|\[\]]+"


def _trigram_text(alias: str) -> str:
    return _TRIGRAM_TEXT.replace("a.", f"{alias}.")


_PAGE = """
SELECT a.id, a.slug, a.title, a.summary, a.kind, a.audience, c.rank,
       {snippet}
FROM ({candidates}) AS c
JOIN knowledge_base_article a ON a.id = c.id
ORDER BY c.rank DESC, a.id
"""


def _snippet_sql(snippets: bool, tsquery_function: str) -> str:
    if not snippets:
        return "'' AS snippet"
    # The headline is built from the summary, body and transcript of the returned rows only.
    return (
        "ts_headline('english', a.summary || ' ' || "
        f"regexp_replace(a.body, '{_MARKDOWN_MARKUP}', ' ', 'g') || ' ' || a.transcript, "
        f"{tsquery_function}('english', %s), '{SNIPPET_OPTIONS}') AS snippet"
    )


def _search_postgresql(query: str, include_internal: bool, *, limit: int, snippets: bool, any_word: bool) -> list[Hit]:
    # Visibility (published; internal only for staff) is written into each branch, so the planner can walk
    # the popularity index; `include_internal` is bound as a literal true/false.
    visible_params = (include_internal,)
    with connection.cursor() as cursor:
        if not any_word:
            candidates = _CANDIDATES_ALL_WORDS.format(candidates=CANDIDATE_LIMIT)
            page_sql = _PAGE.format(snippet=_snippet_sql(snippets, "websearch_to_tsquery"), candidates=candidates)
            params = ((query,) if snippets else ()) + (
                query, *visible_params, query, *visible_params, query, limit
            )  # fmt: skip
            cursor.execute(page_sql, params)
            rows = cursor.fetchall()
            if rows:
                return [_hit(row) for row in rows]
        words = typo_words(query)
        if not words:
            return []
        # Each word quoted as a tsquery lexeme; no operator typed by the reader survives.
        either = " | ".join("'" + word.replace("'", "") + "'" for word in words)
        text = _trigram_text("t")
        similar_branches = "".join(_SIMILAR_BRANCH.format(text=text, candidates=CANDIDATE_LIMIT) for _ in words)
        similarity_sum = " + ".join(f"word_similarity(%s, {_TRIGRAM_TEXT})" for _ in words)
        candidates = _CANDIDATES_ANY_WORD.format(
            similarity_sum=similarity_sum,
            candidates=CANDIDATE_LIMIT,
            similar_branches=similar_branches,
        )
        page_sql = _PAGE.format(snippet=_snippet_sql(snippets, "to_tsquery"), candidates=candidates)
        similar_params = tuple(value for word in words for value in (word, *visible_params, word))
        params = ((either,) if snippets else ()) + (
            *words, either, *visible_params, either, *visible_params, *similar_params, either, limit
        )  # fmt: skip
        # The threshold of `<%` (a session setting; only this search uses the operator).
        cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)", [str(TYPO_THRESHOLD)])
        cursor.execute(page_sql, params)
        return [_hit(row) for row in cursor.fetchall()]


def _hit(row) -> Hit:
    article_id, slug, title, summary, kind, audience, rank, snippet = row
    url = f"/docs/videos/{slug}/" if kind == Article.Kind.VIDEO else f"/docs/{slug}/"
    return Hit(article_id, slug, title, summary, kind, audience, url, _safe_headline(snippet or ""), float(rank))


def _safe_headline(headline: str) -> str:
    # ts_headline returns the article text as is: escape it, then restore only our own <mark> tags.
    return escape(headline).replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>")


# --- SQLite and other databases ------------------------------------------------------------------------

_FALLBACK_SCAN_LIMIT = 500


def _search_fallback(queryset, query: str, *, limit: int, snippets: bool, any_word: bool) -> list[Hit]:
    from django.db.models import Q

    words = typo_words(query) or [word.lower() for word in query.split()[:MAX_WORDS] if len(word) >= 2]
    if not words:
        return []

    def matches(word):
        return (
            Q(title__icontains=word)
            | Q(summary__icontains=word)
            | Q(body__icontains=word)
            | Q(transcript__icontains=word)
        )

    fields = ("id", "slug", "title", "summary", "kind", "audience", "body", "transcript")
    every_word = Q()
    for word in words:
        every_word &= matches(word)
    rows = [] if any_word else list(queryset.filter(every_word).values_list(*fields)[:_FALLBACK_SCAN_LIMIT])
    if (not rows and len(words) > 1) or any_word:  # like the PostgreSQL path: then any of the words
        either = Q()
        for word in words:
            either |= matches(word)
        rows = list(queryset.filter(either).values_list(*fields)[:_FALLBACK_SCAN_LIMIT])
    hits = []
    for article_id, slug, title, summary, kind, audience, body, transcript in rows:
        rank = 0.0
        for word in words:
            rank += 1.0 * (word in title.lower()) + 0.4 * (word in summary.lower())
            rank += 0.1 * min(5, (body + " " + transcript).lower().count(word))
        snippet = _fallback_snippet(f"{summary} {body} {transcript}", words) if snippets else ""
        url = f"/docs/videos/{slug}/" if kind == Article.Kind.VIDEO else f"/docs/{slug}/"
        hits.append(Hit(article_id, slug, title, summary, kind, audience, url, snippet, rank))
    hits.sort(key=lambda hit: (-hit.rank, hit.article_id))
    return hits[:limit]


def _fallback_snippet(text: str, words: list[str], width: int = 160) -> str:
    text = " ".join(text.split())
    lowered = text.lower()
    positions = [lowered.find(word) for word in words if lowered.find(word) >= 0]
    start = max(0, min(positions) - width // 3) if positions else 0
    excerpt = text[start : start + width]
    pattern = re.compile("|".join(re.escape(word) for word in words), re.IGNORECASE)
    parts, last = [], 0
    for match in pattern.finditer(excerpt):
        parts.append(escape(excerpt[last : match.start()]))
        parts.append(f"<mark>{escape(match.group(0))}</mark>")
        last = match.end()
    parts.append(escape(excerpt[last:]))
    return ("… " if start else "") + "".join(parts) + (" …" if start + width < len(text) else "")
