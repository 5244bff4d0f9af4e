-- Click attribution: a view opened from a recommendation carries that response's
-- recommendation_id (32 lowercase hex digits), archived with the session.
ALTER TABLE session_views ADD COLUMN recommendation_id text
    CONSTRAINT recommendation_id_format CHECK (recommendation_id ~ '^[0-9a-f]{32}$');

CREATE INDEX session_views_recommendation ON session_views (recommendation_id)
    WHERE recommendation_id IS NOT NULL;
