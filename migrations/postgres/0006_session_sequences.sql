-- Archived sessions as ordered view sequences, for training: every archived session
-- with its views, whether it has a customer or not (include_anonymous_sessions does
-- not apply here). Training reads the newest sessions, oldest first by
-- (session_start, session_id), each session's views by seq.
CREATE VIEW training_sessions AS
SELECT s.session_id, s.session_start, v.seq, v.item_id
FROM sessions s JOIN session_views v USING (session_id);

-- Finds the newest sessions, and reads them in order, without sorting every session.
CREATE INDEX sessions_by_start ON sessions (session_start, session_id);

GRANT SELECT ON training_sessions TO reco_train;

-- include_anonymous_sessions gains 'auto', the new default: anonymous sessions take
-- part as pseudo-users 'session:<id>' when the setting is 'true', or when it is 'auto'
-- and the warehouse holds no customer interaction at all (no archived session with a
-- customer, no purchase, no rating), so a site without logins still trains on its
-- visitors' views. A site with customers behaves under 'auto' as under 'false'.
-- Replaced in place with the same output columns and types, since
-- training_interactions_materialized depends on the view.
CREATE OR REPLACE VIEW training_interactions AS
WITH anonymous AS (
    SELECT value = 'true'
           OR (value = 'auto'
               AND NOT EXISTS (SELECT 1 FROM purchases)
               AND NOT EXISTS (SELECT 1 FROM ratings)
               AND NOT EXISTS (SELECT 1 FROM sessions WHERE customer_id IS NOT NULL)) AS included
    FROM reco_settings WHERE key = 'include_anonymous_sessions'
), events AS (
    SELECT coalesce(s.customer_id, 'session:' || s.session_id) AS user_key,
           v.item_id, 1.0::float8 AS view_n, 0.0::float8 AS units, NULL::smallint AS rating,
           v.viewed_at AS at
    FROM session_views v JOIN sessions s USING (session_id)
    WHERE s.customer_id IS NOT NULL
       OR coalesce((SELECT included FROM anonymous), false)
    UNION ALL
    SELECT customer_id, item_id, 0.0, quantity::float8, NULL, purchased_at FROM purchases
    UNION ALL
    SELECT customer_id, item_id, 0.0, 0.0, rating, rated_at FROM ratings
)
SELECT user_key,
       item_id,
       (least(sum(view_n), 3) * 1.0 + least(sum(units), 3) * 5.0 + coalesce(max(rating), 0))::float8 AS weight,
       ((sum(view_n) > 0 OR sum(units) > 0 OR max(rating) >= 4) AND coalesce(min(rating), 5) >= 3) AS positive,
       max(at) AS last_at
FROM events
GROUP BY user_key, item_id;

UPDATE reco_settings SET value = 'auto'
WHERE key = 'include_anonymous_sessions' AND value = 'false';
