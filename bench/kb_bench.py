"""Help center search at scale: 10,000 generated articles (BENCH_KB_ARTICLES), PostgreSQL.

Generates the articles once (slugs `bench-kb-<n>`, realistic lengths and word frequencies: a 4-10 word
title, a one-sentence summary, a 150-900 word Markdown body, 3,000+ words drawn with Zipf frequencies; 5%
internal), then measures over a mix of queries (common words, rare words, several words, typos, prefixes,
no match):
- search (`knowledge_base.selectors.kb_search`, ranked with snippets): target p95 < 20 ms;
- the suggestions endpoint through Django (`GET /api/v1/kb/suggestions/?q=`): target p95 < 30 ms;
- beside them, the bare SQL of the ranked full-text query (no snippets, no typo pass, no Django);
- and the article page's query count, which must not depend on the number of articles.
"""

from __future__ import annotations

import os
import random
import statistics
import time

TARGET_SEARCH_P95_MS = 20.0
TARGET_SUGGEST_P95_MS = 30.0
ARTICLES = int(os.environ.get("BENCH_KB_ARTICLES", "10000"))
ROUNDS = int(os.environ.get("BENCH_KB_ROUNDS", "200"))

WORDS = (  # noqa: SIM905 (a readable word list)
    "tour show venue artist route routing drive hotel crew promoter itinerary export calendar feed pdf csv "
    "ical schedule soundcheck doors load-in setlist guest list contract settlement invoice capacity city "
    "travel flight ferry border permission share collaborator editor viewer integration slack google sheet "
    "sign-in password invite member organization plan billing refund template history restore map time zone "
    "notification support ticket priority widget token api endpoint error timeout sync merch backline rider"
).split()
QUERIES = [
    "export",
    "calendar feed",
    "soundcheck doors",
    "promoter settlement invoice",
    "colaboration",
    "itinerary exprt",
    "time zone",
    "merch rider backline",
    "zebra quantum",
    "the",
    "rout",
    "guest list",
]


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """The domain words first, then 3,000 made-up words; drawn with Zipf frequencies (rank r: 1/r)."""
    syllables = ["ba", "ro", "ti", "ven", "lo", "mar", "que", "sta", "del", "gra", "pon", "ter", "vi", "sol", "can"]
    made_up = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(4000)}
    words = WORDS + sorted(made_up - set(WORDS))[:3000]
    return words, [1 / rank for rank in range(1, len(words) + 1)]


def _sentence(rng: random.Random, vocabulary, low: int, high: int) -> str:
    words, weights = vocabulary
    return " ".join(rng.choices(words, weights=weights, k=rng.randint(low, high))).capitalize() + "."


def _paragraphs(rng: random.Random, vocabulary) -> list[tuple[str, str]]:
    """400 Markdown blocks (headings, paragraphs, lists) and their rendering: bodies are joined from them."""
    from knowledge_base.rendering import render_markdown

    blocks = []
    for number in range(400):
        if number % 5 == 0:
            source = f"## {_sentence(rng, vocabulary, 2, 5)[:-1]}"
        elif number % 5 == 1:
            source = "\n".join(f"{step}. {_sentence(rng, vocabulary, 4, 10)}" for step in range(1, 5))
        else:
            source = " ".join(_sentence(rng, vocabulary, 8, 20) for _ in range(rng.randint(2, 6)))
        blocks.append((source, render_markdown(source)))
    return blocks


def generate() -> None:
    from django.db import connection

    from knowledge_base.models import Article, Category

    existing = Article.objects.filter(slug__startswith="bench-kb-").count()
    if existing >= ARTICLES:
        print(f"{existing} bench articles present", flush=True)
        return
    rng = random.Random(14)
    vocabulary = _vocabulary(rng)
    blocks = _paragraphs(rng, vocabulary)
    category, _ = Category.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    started = time.perf_counter()
    batch = []
    for number in range(existing, ARTICLES):
        chosen = rng.sample(blocks, rng.randint(4, 14))  # about 150-900 words
        batch.append(
            Article(
                slug=f"bench-kb-{number}",
                title=_sentence(rng, vocabulary, 4, 10)[:-1],
                summary=_sentence(rng, vocabulary, 10, 25),
                body="\n\n".join(source for source, _ in chosen),
                body_html="\n".join(html for _, html in chosen),
                category=category,
                audience=Article.Audience.INTERNAL if rng.random() < 0.05 else Article.Audience.PUBLIC,
                status=Article.Status.PUBLISHED,
                view_count=int(rng.paretovariate(1.2) * 10),
            )
        )
        if len(batch) == 1000:
            Article.objects.bulk_create(batch)  # the trigger fills the search vectors row by row
            batch = []
    Article.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE knowledge_base_article")
        cursor.execute("ANALYZE knowledge_base_searchword")
    print(f"generated {ARTICLES - existing} articles in {time.perf_counter() - started:.1f} s", flush=True)


def _bare_sql(query: str) -> None:
    """The same ranked full-text query as the search's first pass, without snippets, Python or Django."""
    from django.db import connection

    from knowledge_base.search import _CANDIDATES_ALL_WORDS, CANDIDATE_LIMIT

    with connection.cursor() as cursor:
        cursor.execute(
            _CANDIDATES_ALL_WORDS.format(candidates=CANDIDATE_LIMIT), [query, False, query, False, query, 20]
        )
        cursor.fetchall()


def _measure(function, rounds: int) -> tuple[list[float], dict[str, list[float]]]:
    samples, per_query = [], {}
    for round_number in range(rounds):
        query = QUERIES[round_number % len(QUERIES)]
        started = time.perf_counter()
        function(query)
        elapsed = (time.perf_counter() - started) * 1000
        samples.append(elapsed)
        per_query.setdefault(query, []).append(elapsed)
    return samples, per_query


def _line(name: str, samples: list[float], target: float | None, reference: list[float] | None = None) -> bool:
    p95 = _percentile(samples, 0.95)
    ok = target is None or p95 < target
    verdict = "" if target is None else f"{'OK' if ok else 'OVER'} (target p95 < {target:.0f} ms)"
    beside = ""
    if reference:  # the bare SQL measured in the same run, so a busy machine shows in both
        beside = f"  [bare SQL p50={statistics.median(reference):.2f} p95={_percentile(reference, 0.95):.2f} ms]"
    print(f"{name:<40} n={len(samples):<4} p50={statistics.median(samples):6.2f} p95={p95:6.2f} ms  {verdict}{beside}")
    return ok


def main() -> None:
    from django.conf import settings
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from knowledge_base import selectors
    from knowledge_base.models import Article

    if connection.vendor != "postgresql":
        print("kb bench needs PostgreSQL (make bench); skipped")
        return
    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    generate()
    # The figures move with the machine's other work: the load average says how busy it was.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"articles: {Article.objects.count()}; load average {load} on {os.cpu_count()} cores", flush=True)
    anonymous = AnonymousUser()
    client = Client()
    for query in QUERIES:  # warm the caches (and Django's URL and template caches)
        selectors.kb_search(query=query, user=anonymous)
        client.get("/api/v1/kb/suggestions/", {"q": query})

    bare, _ = _measure(_bare_sql, ROUNDS)
    search, per_query = _measure(lambda query: selectors.kb_search(query=query, user=anonymous), ROUNDS)

    def suggest(query: str) -> None:
        response = client.get("/api/v1/kb/suggestions/", {"q": query})
        assert response.status_code == 200, response.status_code

    suggestions, _ = _measure(suggest, ROUNDS)
    _line("bare SQL (ranked full-text, LIMIT 20)", bare, None)
    ok = _line("search (ranked, snippets, typo pass)", search, TARGET_SEARCH_P95_MS, bare)
    ok &= _line("GET /api/v1/kb/suggestions/ (Django)", suggestions, TARGET_SUGGEST_P95_MS, bare)
    for query, samples in per_query.items():
        print(f"  search {query!r:<32} p50={statistics.median(samples):6.2f} max={max(samples):6.2f} ms")

    article = Article.objects.filter(slug__startswith="bench-kb-", audience="public").first()
    with CaptureQueriesContext(connection) as context:
        response = client.get(f"/docs/{article.slug}/")
    assert response.status_code == 200
    print(f"article page: {len(context.captured_queries)} queries with {Article.objects.count()} articles")
    print("kb bench:", "all targets met" if ok else "a target was missed", flush=True)
