"""Article search: ranked full-text search with highlighted snippets, tolerant of typos and of any input.

PostgreSQL: `search_vector` (title A, summary B, body and transcript C, English stemming) is kept by a
trigger and indexed with GIN. The query goes through `websearch_to_tsquery`, which accepts any text (quotes,
`& | ! :*`, unbalanced parentheses) without a syntax error. When nothing matches every word, each word is
corrected to its closest words of the vocabulary (`SearchWord`: the words of the published articles, GIN
trigram index), and the normal full-text query runs again with the corrections, every word first, then any
word: "colaboration", "itinerary exprt" still find the page. Snippets come from `ts_headline`, computed for
the returned page only.

SQLite: an FTS5 table (Porter stemming, kept by triggers, migration 0005), every word, else any word,
ranked by `bm25` (title 3, summary 2, body 1) plus one per word whose first letters are in the title;
snippets from FTS5's `snippet`. Without FTS5: every word (else any word) by LIKE in title, summary, body
or transcript, ranked by where the words were found.

Audience: only published articles are searched, and internal ones only with `include_internal` (staff, see
`knowledge_base.access`), in every branch of the query, so internal articles never reach a customer in
results, snippets or counts. Typo corrections may come from any published article's words, but they only
change which words are searched for, never which articles may be returned.
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
SNIPPET_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter= … "
_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
_SHORT_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)
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
    if connection.vendor == "sqlite" and fts5_ready():
        return _search_fts5(query, include_internal, limit=limit, snippets=snippets, any_word=any_word)
    return search_like(query, include_internal=include_internal, limit=limit, snippets=snippets, any_word=any_word)


# --- PostgreSQL ----------------------------------------------------------------------------------------

# Candidates: the most viewed articles whose title or summary matches (small in-row vector) and the most
# viewed whose body matches; for a common word the planner walks the popularity index and stops after a
# few rows, for a rare one it takes the GIN index. Only these candidates get the full weighted rank, so a
# word found in every article costs about as much as a rare one. `{parse}`: websearch_to_tsquery for the
# reader's text, to_tsquery for the corrected words (quoted lexemes joined by & and |).
CANDIDATE_LIMIT = 60

_CANDIDATES = """
SELECT a.id, ts_rank(a.search_vector, q.query) AS rank
FROM (
    (SELECT h.id FROM knowledge_base_article h, {parse}('english', %s) AS hq(query)
     WHERE h.search_head @@ hq.query AND h.status = 'published' AND (h.audience = 'public' OR %s)
     ORDER BY h.view_count DESC, h.id LIMIT {candidates})
    UNION
    (SELECT b.id FROM knowledge_base_article b, {parse}('english', %s) AS bq(query)
     WHERE b.search_vector @@ bq.query AND b.status = 'published' AND (b.audience = 'public' OR %s)
     ORDER BY b.view_count DESC, b.id LIMIT {candidates})
) AS c
JOIN knowledge_base_article a ON a.id = c.id, {parse}('english', %s) AS q(query)
ORDER BY rank DESC, a.id
LIMIT %s
"""
_CANDIDATES_ALL_WORDS = _CANDIDATES.replace("{parse}", "websearch_to_tsquery")

# The closest vocabulary words of each typed word (GIN trigram index on the word table, `%` operator).
_CLOSE_WORDS = """
SELECT typed.word, close.word, close.score
FROM unnest(%s::text[]) WITH ORDINALITY AS typed(word, position)
LEFT JOIN LATERAL (
    SELECT s.word, similarity(s.word, typed.word) AS score
    FROM knowledge_base_searchword s
    WHERE s.word %% typed.word AND similarity(s.word, typed.word) >= {threshold}
    ORDER BY score DESC, s.doc_count DESC, s.word
    LIMIT {limit}
) AS close ON true
ORDER BY typed.position, close.score DESC NULLS LAST, close.word
"""
# similarity("exprt", "export") is 0.44, ("colaboration", "collaboration") 0.8; at pg_trgm's default of 0.3
# "setlist" became "set" and "list", "printing" "spring". `%` (the indexed operator) keeps that default
# (pg_trgm.similarity_threshold, not set by this project), the query then keeps words at this threshold.
TYPO_THRESHOLD = 0.4
# Corrections kept per typed word: the best ones, and only those nearly as close as the best.
CORRECTIONS_PER_WORD = 3
CORRECTION_SPREAD = 0.1

_PAGE = """
SELECT a.id, a.slug, a.title, a.summary, a.kind, a.audience, c.rank,
       {snippet}
FROM ({candidates}) AS c
JOIN knowledge_base_article a ON a.id = c.id
ORDER BY c.rank DESC, a.id
"""


# ts_headline parses and stems all the text it is given (most of a search's time with whole bodies, still a
# third with 700 characters): it gets a window around the first place the query's first word starts, room for
# the 30 words of a snippet.
SNIPPET_WINDOW = 360
SNIPPET_LEAD = 100
ANCHOR_PREFIX = 5  # "calendars" and "calendar", "itineraries" and "itinerary" share their first five letters


def _snippet_sql(snippets: bool, parse: str) -> str:
    if not snippets:
        return "'' AS snippet"
    window = (
        f"substr(a.snippet_text, greatest(1, strpos(lower(a.snippet_text), %s) - {SNIPPET_LEAD}), {SNIPPET_WINDOW})"
    )
    return f"ts_headline('english', {window}, {parse}('english', %s), '{SNIPPET_OPTIONS}') AS snippet"


def _ranked_page(
    cursor, *, parse: str, text: str, anchor: str, include_internal: bool, limit: int, snippets: bool
) -> list[Hit]:
    candidates = _CANDIDATES.format(parse=parse, candidates=CANDIDATE_LIMIT)
    page_sql = _PAGE.format(snippet=_snippet_sql(snippets, parse), candidates=candidates)
    # Visibility (published; internal only for staff) is written into each branch, so the planner can walk
    # the popularity index; `include_internal` is bound as a literal true/false.
    snippet_params = (anchor[:ANCHOR_PREFIX], text) if snippets else ()
    params = (*snippet_params, text, include_internal, text, include_internal, text, limit)
    cursor.execute(page_sql, params)
    return [_hit(row) for row in cursor.fetchall()]


def corrected_words(cursor, words: list[str]) -> list[list[str]]:
    """For each typed word: the word itself, then its closest vocabulary words when it is not one of them."""
    cursor.execute(_CLOSE_WORDS.format(limit=CORRECTIONS_PER_WORD, threshold=float(TYPO_THRESHOLD)), [words])
    close: dict[str, list[tuple[str, float]]] = {word: [] for word in words}
    for typed, word, score in cursor.fetchall():
        if word is not None:
            close[typed].append((word, score))
    groups = []
    for word in words:
        found = close[word]
        if not found or found[0][0] == word:  # unknown to the vocabulary, or spelled as an article spells it
            groups.append([word])
            continue
        best = found[0][1]
        groups.append([word, *(close_word for close_word, score in found if score >= best - CORRECTION_SPREAD)])
    return groups


# The vocabulary again from the published articles: new words added, counts refreshed, words no published
# article has any more removed (the trigger only adds). Safe to run twice.
_VOCABULARY_REBUILD = """
WITH words AS (
    SELECT word, ndoc FROM ts_stat($$
        SELECT to_tsvector('simple', title || ' ' || summary || ' ' || body || ' ' || transcript)
        FROM knowledge_base_article WHERE status = 'published'
    $$)
    WHERE word ~ '^[[:alpha:]]{3,40}$'
), kept AS (
    INSERT INTO knowledge_base_searchword (word, doc_count) SELECT word, ndoc FROM words ORDER BY word
    ON CONFLICT (word) DO UPDATE SET doc_count = EXCLUDED.doc_count
    WHERE knowledge_base_searchword.doc_count <> EXCLUDED.doc_count
)
DELETE FROM knowledge_base_searchword s WHERE NOT EXISTS (SELECT 1 FROM words w WHERE w.word = s.word)
"""


def vocabulary_rebuild() -> int:
    """Rebuild the typo vocabulary (PostgreSQL; nothing to do elsewhere). Returns how many words it holds."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_VOCABULARY_REBUILD)
        cursor.execute("SELECT count(*) FROM knowledge_base_searchword")
        return cursor.fetchone()[0]


def _tsquery_text(groups: list[list[str]], operator: str) -> str:
    # Quoted lexemes only (the words hold letters and digits): no operator typed by the reader survives.
    return f" {operator} ".join("(" + " | ".join(f"'{word}'" for word in group) + ")" for group in groups)


def _search_postgresql(query: str, include_internal: bool, *, limit: int, snippets: bool, any_word: bool) -> list[Hit]:
    page = {"include_internal": include_internal, "limit": limit, "snippets": snippets}
    with connection.cursor() as cursor:
        words = typo_words(query)
        if not any_word:
            anchor = words[0] if words else ""
            hits = _ranked_page(cursor, parse="websearch_to_tsquery", text=query, anchor=anchor, **page)
            if hits:
                return hits
        if not words:
            return []
        # Typos: every word with its corrections, then any of them; each is the normal GIN-indexed query.
        groups = corrected_words(cursor, words)
        passes = []
        if not any_word and any(len(group) > 1 for group in groups):
            passes.append(_tsquery_text(groups, "&"))
        if any_word or len(groups) > 1:
            passes.append(_tsquery_text(groups, "|"))
        anchor = groups[0][1] if len(groups[0]) > 1 else groups[0][0]  # the first word's closest correction
        for text in dict.fromkeys(passes):
            hits = _ranked_page(cursor, parse="to_tsquery", text=text, anchor=anchor, **page)
            if hits:
                return hits
        return []


def _hit(row) -> Hit:
    article_id, slug, title, summary, kind, audience, rank, snippet = row
    url = f"/docs/videos/{slug}/" if kind == Article.Kind.VIDEO else f"/docs/{slug}/"
    return Hit(article_id, slug, title, summary, kind, audience, url, _safe_headline(snippet or ""), float(rank))


def _safe_headline(headline: str) -> str:
    # ts_headline returns the article text as is: escape it, then restore only our own <mark> tags.
    return escape(headline).replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>")


# --- SQLite: FTS5 --------------------------------------------------------------------------------------

FTS_TABLE = "knowledge_base_article_fts"
_fts5_databases: set[str] = set()  # databases whose FTS5 table was seen (it does not go away once made)

_FTS5_QUERY = """
SELECT a.id, a.slug, a.title, a.summary, a.kind, a.audience,
       {title_bonus} - bm25(knowledge_base_article_fts, 3.0, 2.0, 1.0) AS rank,
       {snippets}
FROM knowledge_base_article_fts JOIN knowledge_base_article a ON a.id = knowledge_base_article_fts.rowid
WHERE knowledge_base_article_fts MATCH %s AND a.status = 'published' AND (a.audience = 'public' OR %s)
ORDER BY rank DESC, a.id
LIMIT %s
"""
# Markers FTS5 puts around a match; the text is escaped, then they become <mark> (no article text can forge them).
_MARK_START, _MARK_END = "\x02", "\x03"
_FTS5_SNIPPETS = (
    f"snippet({FTS_TABLE}, 1, '{_MARK_START}', '{_MARK_END}', ' … ', 24), "
    f"snippet({FTS_TABLE}, 2, '{_MARK_START}', '{_MARK_END}', ' … ', 24)"
)


TITLE_PREFIX = 5  # "collaboration" and "collaborate", "exports" and "exporting" share their first five letters


def fts5_ready() -> bool:
    """True when this SQLite database has the FTS5 table (SQLite built without FTS5 has none)."""
    name = str(connection.settings_dict["NAME"])
    if name in _fts5_databases:
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE])
        present = cursor.fetchone() is not None
    if present:
        _fts5_databases.add(name)
    return present


def _fts5_match(words: list[str], operator: str) -> str:
    # Every word as a quoted FTS5 string: AND, OR, NEAR, `*`, `:` and quotes typed by the reader are just text.
    return f" {operator} ".join('"' + word.replace('"', "") + '"' for word in words)


def _search_fts5(query: str, include_internal: bool, *, limit: int, snippets: bool, any_word: bool) -> list[Hit]:
    words = _search_words(query)
    if not words:
        return []
    # bm25 alone barely separates a word found in most articles (its weight is near zero in a small help
    # center): one more for each word whose start is in the title puts the page about it first.
    title_bonus = " + ".join("(instr(lower(a.title), %s) > 0)" for _ in words)
    prefixes = [word[:TITLE_PREFIX] for word in words]
    sql = _FTS5_QUERY.format(snippets=_FTS5_SNIPPETS if snippets else "'', ''", title_bonus=title_bonus)
    passes = [] if any_word else [_fts5_match(words, "AND")]
    if any_word or len(words) > 1:
        passes.append(_fts5_match(words, "OR"))
    with connection.cursor() as cursor:
        for match in passes:
            cursor.execute(sql, [*prefixes, match, include_internal, limit])
            rows = cursor.fetchall()
            if rows:
                return [_fts5_hit(row) for row in rows]
    return []


def _fts5_hit(row) -> Hit:
    article_id, slug, title, summary, kind, audience, rank, summary_snippet, body_snippet = row
    # The body's passage when the match is there, else the summary's.
    snippet = body_snippet if _MARK_START in body_snippet or _MARK_START not in summary_snippet else summary_snippet
    snippet = re.sub(_SNIPPET_MARKUP, " ", snippet)
    snippet = " ".join(snippet.split())
    snippet = escape(snippet).replace(_MARK_START, "<mark>").replace(_MARK_END, "</mark>")
    url = f"/docs/videos/{slug}/" if kind == Article.Kind.VIDEO else f"/docs/{slug}/"
    return Hit(article_id, slug, title, summary, kind, audience, url, snippet, float(rank))


# Markdown punctuation and link targets, dropped from the FTS5 snippets (plain text, like ts_headline's).
_SNIPPET_MARKUP = re.compile(r"\]\([^)]*\)|[*_`#>|\[\]]+")


def _search_words(query: str) -> list[str]:
    """The words to look for: as `typo_words`, else the two-letter ones ("ai", "id")."""
    return typo_words(query) or list(dict.fromkeys(_SHORT_WORD.findall(query.lower())))[:MAX_WORDS]


# --- Without FTS5: LIKE ----------------------------------------------------------------------------------

_FALLBACK_SCAN_LIMIT = 500


def search_like(query: str, *, include_internal: bool, limit: int, snippets: bool, any_word: bool) -> list[Hit]:
    """Every word (else any word) by case-insensitive LIKE; the search of a SQLite without FTS5."""
    from django.db.models import Q

    queryset = Article.objects.published()
    if not include_internal:
        queryset = queryset.filter(audience=Article.Audience.PUBLIC)
    words = _search_words(clean_query(query))
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
