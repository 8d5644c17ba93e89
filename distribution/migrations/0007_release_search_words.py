"""One stored full-text document per release, kept by PostgreSQL triggers (distribution/search.py)."""

from importlib import import_module

from django.db import migrations

# The words of a text: runs of letters and digits, so "atlas-2.4.0-linux.iso"
# holds atlas, 2, 4, 0, linux and iso. The product name, version and notes
# weigh A, file names B, so a search can rank the releases whose own text
# holds every word first. Files past the first million characters of names are
# left out: a tsvector is limited to 1 MB.
CREATE = r"""
ALTER TABLE distribution_release ADD COLUMN search_document tsvector;

CREATE FUNCTION distribution_search_words(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT regexp_replace(coalesce(value, ''), '[^[:alnum:]]+', ' ', 'g') $$;

CREATE FUNCTION distribution_release_document(release distribution_release) RETURNS tsvector
    LANGUAGE sql STABLE
    AS $$
    SELECT setweight(to_tsvector('simple', distribution_search_words(
               (SELECT name FROM distribution_product WHERE id = release.product_id)
               || ' ' || release.version || ' ' || release.notes)), 'A')
        || setweight(to_tsvector('simple', distribution_search_words(
               (SELECT left(string_agg(path, ' '), 1000000)
                FROM distribution_releasefile WHERE release_id = release.id))), 'B')
    $$;

CREATE FUNCTION distribution_release_text_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_document := distribution_release_document(NEW);
    RETURN NEW;
END $$;

CREATE TRIGGER release_search_document BEFORE INSERT
    ON distribution_release FOR EACH ROW EXECUTE FUNCTION distribution_release_text_changed();
CREATE TRIGGER release_text_changed BEFORE UPDATE OF product_id, version, notes
    ON distribution_release FOR EACH ROW
    WHEN ((OLD.product_id, OLD.version, OLD.notes) IS DISTINCT FROM (NEW.product_id, NEW.version, NEW.notes))
    EXECUTE FUNCTION distribution_release_text_changed();

CREATE FUNCTION distribution_release_files_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE distribution_release AS release SET search_document = distribution_release_document(release)
    WHERE release.id IN (SELECT release_id FROM changed_files);
    RETURN NULL;
END $$;

-- Per statement, so that a release's thousands of files cost one update of its document.
CREATE TRIGGER release_files_added AFTER INSERT ON distribution_releasefile
    REFERENCING NEW TABLE AS changed_files
    FOR EACH STATEMENT EXECUTE FUNCTION distribution_release_files_changed();
-- Recording a file's hash updates it too: only a new path or release changes the words.
CREATE FUNCTION distribution_release_files_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE distribution_release AS release SET search_document = distribution_release_document(release)
    WHERE release.id IN (
        SELECT unnest(ARRAY[before.release_id, after.release_id])
        FROM old_files AS before JOIN new_files AS after ON after.id = before.id
        WHERE (before.path, before.release_id) IS DISTINCT FROM (after.path, after.release_id));
    RETURN NULL;
END $$;
CREATE TRIGGER release_files_renamed AFTER UPDATE ON distribution_releasefile
    REFERENCING OLD TABLE AS old_files NEW TABLE AS new_files
    FOR EACH STATEMENT EXECUTE FUNCTION distribution_release_files_renamed();
CREATE TRIGGER release_files_removed AFTER DELETE ON distribution_releasefile
    REFERENCING OLD TABLE AS changed_files
    FOR EACH STATEMENT EXECUTE FUNCTION distribution_release_files_changed();

CREATE FUNCTION distribution_product_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE distribution_release AS release SET search_document = distribution_release_document(release)
    WHERE release.product_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER product_search_document AFTER UPDATE OF name ON distribution_product
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION distribution_product_renamed();

UPDATE distribution_release AS release SET search_document = distribution_release_document(release);

CREATE INDEX release_search_words ON distribution_release USING gin (search_document);
DROP INDEX release_search_document;
DROP INDEX releasefile_search_document;
"""

DROP = """
DROP TRIGGER product_search_document ON distribution_product;
DROP FUNCTION distribution_product_renamed();
DROP TRIGGER release_files_added ON distribution_releasefile;
DROP TRIGGER release_files_renamed ON distribution_releasefile;
DROP TRIGGER release_files_removed ON distribution_releasefile;
DROP FUNCTION distribution_release_files_renamed();
DROP FUNCTION distribution_release_files_changed();
DROP TRIGGER release_search_document ON distribution_release;
DROP TRIGGER release_text_changed ON distribution_release;
DROP FUNCTION distribution_release_text_changed();
DROP FUNCTION distribution_release_document(distribution_release);
DROP FUNCTION distribution_search_words(text);
ALTER TABLE distribution_release DROP COLUMN search_document;
"""


def create_search_document(apps, schema_editor):
    # Full-text search exists on PostgreSQL only; SQLite searches by substring.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_search_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP)
    for model_name, index in import_module("distribution.migrations.0005_catalogue_indexes").search_indexes():
        schema_editor.add_index(apps.get_model("distribution", model_name), index)


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0006_release_totals"),
    ]

    operations = [
        migrations.RunPython(create_search_document, drop_search_document),
    ]
