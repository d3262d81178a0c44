"""Typo vocabulary (PostgreSQL) and full-text index (SQLite FTS5), both kept by triggers on every article write.

PostgreSQL: `knowledge_base_searchword` holds the words of the published articles ('simple' configuration:
lower case, not stemmed, letters only, 3-40 characters) with a GIN trigram index on `word` (without a pending
list: a lookup reads pending entries one by one, and with them the planner preferred scanning every word). A
trigger adds the new words of every published article written (in word order, so two concurrent saves take
their locks in the same order); `knowledge_base.tasks.kb_vocabulary_rebuild` rebuilds it from `ts_stat`
(this migration runs the same rebuild once). The search corrects a misspelled word to its closest vocabulary words, then runs the
normal full-text query on the GIN index. The search trigger also keeps `snippet_text` (summary, body without
Markdown punctuation and link targets, transcript), so snippets no longer clean every body per search. The trigram index on titles and summaries that the typo pass used
to scan goes. The full-text GIN indexes lose their pending list too: new rows waited there until the next
vacuum, and every search read them one by one (10,000 bulk-written articles: 9 ms instead of 0.03 ms for a
word found nowhere). Articles are written rarely and searched often.

SQLite: an FTS5 table `knowledge_base_article_fts` (title, summary, body and transcript; Porter stemming)
kept by insert, update and delete triggers. Without FTS5 compiled in, nothing is created and the search falls
back to LIKE. Django rebuilds a SQLite table when a later migration alters it, which drops its triggers:
`tests/knowledge_base/test_search_sqlite.py` checks they are there.
"""

from django.db import OperationalError, migrations, models, transaction

POSTGRESQL_FORWARD = r"""
CREATE OR REPLACE FUNCTION knowledge_base_article_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_head :=
        setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(NEW.summary, '')), 'B');
    NEW.search_vector :=
        NEW.search_head ||
        setweight(to_tsvector('english', coalesce(NEW.body, '') || ' ' || coalesce(NEW.transcript, '')), 'C');
    NEW.snippet_text :=
        coalesce(NEW.summary, '') || ' ' ||
        regexp_replace(coalesce(NEW.body, ''), '\]\([^)]*\)|[*_`#>|\[\]]+', ' ', 'g') || ' ' ||
        coalesce(NEW.transcript, '');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
UPDATE knowledge_base_article SET snippet_text =
    summary || ' ' || regexp_replace(body, '\]\([^)]*\)|[*_`#>|\[\]]+', ' ', 'g') || ' ' || transcript;
CREATE INDEX IF NOT EXISTS kb_searchword_trgm ON knowledge_base_searchword
    USING gin (word gin_trgm_ops) WITH (fastupdate = off);
CREATE OR REPLACE FUNCTION knowledge_base_article_vocabulary() RETURNS trigger AS $$
BEGIN
    INSERT INTO knowledge_base_searchword (word, doc_count)
    SELECT lexeme, 1
    FROM unnest(to_tsvector('simple', coalesce(NEW.title, '') || ' ' || coalesce(NEW.summary, '') || ' ' ||
                                      coalesce(NEW.body, '') || ' ' || coalesce(NEW.transcript, '')))
    WHERE lexeme ~ '^[[:alpha:]]{3,40}$'
    ORDER BY lexeme
    ON CONFLICT (word) DO NOTHING;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER knowledge_base_article_vocabulary
    AFTER INSERT OR UPDATE OF title, summary, body, transcript, status ON knowledge_base_article
    FOR EACH ROW WHEN (NEW.status = 'published') EXECUTE FUNCTION knowledge_base_article_vocabulary();
WITH words AS (
    SELECT word, ndoc FROM ts_stat($$
        SELECT to_tsvector('simple', title || ' ' || summary || ' ' || body || ' ' || transcript)
        FROM knowledge_base_article WHERE status = 'published'
    $$)
    WHERE word ~ '^[[:alpha:]]{3,40}$'
)
INSERT INTO knowledge_base_searchword (word, doc_count) SELECT word, ndoc FROM words ORDER BY word
ON CONFLICT (word) DO UPDATE SET doc_count = EXCLUDED.doc_count;
ANALYZE knowledge_base_searchword;
ALTER INDEX kb_article_search_vector SET (fastupdate = off);
ALTER INDEX kb_article_search_head SET (fastupdate = off);
SELECT gin_clean_pending_list('kb_article_search_vector'::regclass);
SELECT gin_clean_pending_list('kb_article_search_head'::regclass);
DROP INDEX IF EXISTS kb_article_title_summary_trgm;
"""

POSTGRESQL_BACKWARD = """
CREATE OR REPLACE FUNCTION knowledge_base_article_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_head :=
        setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(NEW.summary, '')), 'B');
    NEW.search_vector :=
        NEW.search_head ||
        setweight(to_tsvector('english', coalesce(NEW.body, '') || ' ' || coalesce(NEW.transcript, '')), 'C');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE INDEX IF NOT EXISTS kb_article_title_summary_trgm ON knowledge_base_article
    USING gin ((lower(title) || ' ' || lower(summary)) gin_trgm_ops);
ALTER INDEX kb_article_search_vector RESET (fastupdate);
ALTER INDEX kb_article_search_head RESET (fastupdate);
DROP TRIGGER IF EXISTS knowledge_base_article_vocabulary ON knowledge_base_article;
DROP FUNCTION IF EXISTS knowledge_base_article_vocabulary();
"""

SQLITE_TABLE = """
CREATE VIRTUAL TABLE knowledge_base_article_fts USING fts5(
    title, summary, body, tokenize = 'porter unicode61 remove_diacritics 2'
)
"""

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER knowledge_base_article_fts_insert AFTER INSERT ON knowledge_base_article BEGIN
        INSERT INTO knowledge_base_article_fts (rowid, title, summary, body)
        VALUES (new.id, new.title, new.summary, new.body || ' ' || new.transcript);
    END
    """,
    """
    CREATE TRIGGER knowledge_base_article_fts_update
    AFTER UPDATE OF title, summary, body, transcript ON knowledge_base_article BEGIN
        DELETE FROM knowledge_base_article_fts WHERE rowid = old.id;
        INSERT INTO knowledge_base_article_fts (rowid, title, summary, body)
        VALUES (new.id, new.title, new.summary, new.body || ' ' || new.transcript);
    END
    """,
    """
    CREATE TRIGGER knowledge_base_article_fts_delete AFTER DELETE ON knowledge_base_article BEGIN
        DELETE FROM knowledge_base_article_fts WHERE rowid = old.id;
    END
    """,
    """
    INSERT INTO knowledge_base_article_fts (rowid, title, summary, body)
    SELECT id, title, summary, body || ' ' || transcript FROM knowledge_base_article
    """,
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_base_article_fts_insert",
    "DROP TRIGGER IF EXISTS knowledge_base_article_fts_update",
    "DROP TRIGGER IF EXISTS knowledge_base_article_fts_delete",
    "DROP TABLE IF EXISTS knowledge_base_article_fts",
]


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD)
    elif connection.vendor == "sqlite":
        try:
            with transaction.atomic(using=connection.alias):
                schema_editor.execute(SQLITE_TABLE)
        except OperationalError:  # no FTS5 in this SQLite: the search uses LIKE
            return
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARD)
    elif connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('knowledge_base', '0004_search_head'),
    ]

    operations = [
        migrations.CreateModel(
            name='SearchWord',
            fields=[
                ('word', models.CharField(max_length=40, primary_key=True, serialize=False)),
                ('doc_count', models.PositiveIntegerField(default=1, help_text='Published articles with the word (last rebuild).')),
            ],
        ),
        migrations.AddField(
            model_name='article',
            name='snippet_text',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.RunPython(forward, backward),
    ]
