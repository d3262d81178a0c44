"""Full-text and trigram search structures for articles, PostgreSQL only (a no-op on SQLite).

- A trigger keeps `search_vector` current on every insert and on every update of the searched columns,
  whatever writes the row (services, the admin, a restore, a bulk load): title weight A, summary B, body
  and video transcript C, English configuration (stemming).
- A GIN index on `search_vector` serves `@@`; a GIN trigram index on `lower(title) || ' ' || lower(summary)`
  serves the typo pass (`word <% text`) of `knowledge_base.search`.
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE OR REPLACE FUNCTION knowledge_base_article_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(NEW.summary, '')), 'B') ||
        setweight(to_tsvector('english', coalesce(NEW.body, '') || ' ' || coalesce(NEW.transcript, '')), 'C');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER knowledge_base_article_search_vector
    BEFORE INSERT OR UPDATE OF title, summary, body, transcript ON knowledge_base_article
    FOR EACH ROW EXECUTE FUNCTION knowledge_base_article_search_vector();
CREATE INDEX IF NOT EXISTS kb_article_search_vector ON knowledge_base_article USING gin (search_vector);
CREATE INDEX IF NOT EXISTS kb_article_title_summary_trgm ON knowledge_base_article
    USING gin ((lower(title) || ' ' || lower(summary)) gin_trgm_ops);
UPDATE knowledge_base_article SET title = title;
"""

BACKWARD = """
DROP INDEX IF EXISTS kb_article_title_summary_trgm;
DROP INDEX IF EXISTS kb_article_search_vector;
DROP TRIGGER IF EXISTS knowledge_base_article_search_vector ON knowledge_base_article;
DROP FUNCTION IF EXISTS knowledge_base_article_search_vector();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("knowledge_base", "0001_articles_feedback_deflection")]

    operations = [migrations.RunPython(forward, backward)]
