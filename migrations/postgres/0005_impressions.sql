-- Impressions: the recommendation lists pages showed (one row per item shown), from
-- which model version and strategy, archived with their session. With the views'
-- recommendation_id they give click-through per model version and strategy.
CREATE TABLE session_impressions (
    session_id        text NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    seq               integer NOT NULL CONSTRAINT impression_seq_not_negative CHECK (seq >= 0),
    list_position     integer NOT NULL
        CONSTRAINT impression_position_not_negative CHECK (list_position >= 0),
    recommendation_id text NOT NULL
        CONSTRAINT impression_recommendation_id_format CHECK (recommendation_id ~ '^[0-9a-f]{32}$'),
    model_version     text NOT NULL CONSTRAINT impression_model_version_not_empty CHECK (model_version <> ''),
    strategy          text NOT NULL CONSTRAINT impression_strategy_known
        CHECK (strategy IN ('hybrid', 'session', 'features-only', 'popular', 'similar')),
    item_id           text NOT NULL CONSTRAINT impression_item_not_empty CHECK (item_id <> ''),
    shown_at          timestamptz NOT NULL,
    PRIMARY KEY (session_id, seq, list_position)
);

-- Per model version and strategy: recommendation lists shown, items shown
-- (impressions, each item once per list), those opened from that list in the same
-- session (clicks), and clicks per impression.
CREATE VIEW recommendation_performance AS
WITH shown AS (
    SELECT DISTINCT session_id, recommendation_id, model_version, strategy, item_id
    FROM session_impressions
), clicked AS (
    SELECT DISTINCT session_id, recommendation_id, item_id
    FROM session_views
    WHERE recommendation_id IS NOT NULL
)
SELECT s.model_version, s.strategy,
       count(DISTINCT s.recommendation_id) AS recommendations,
       count(*) AS impressions,
       count(c.item_id) AS clicks,
       count(c.item_id)::double precision / count(*) AS click_through
FROM shown s
LEFT JOIN clicked c
    ON c.session_id = s.session_id
    AND c.recommendation_id = s.recommendation_id
    AND c.item_id = s.item_id
GROUP BY s.model_version, s.strategy;

GRANT SELECT, INSERT, UPDATE ON session_impressions TO reco_deadpool;
GRANT SELECT ON session_impressions, recommendation_performance TO reco_train;
