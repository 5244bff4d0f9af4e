-- Warehouse schema, SQLite dialect: the same tables and views as
-- migrations/postgres, for the local runner. Timestamps are integer epoch
-- milliseconds; booleans 0/1; the materialized variant is a table refreshed by
-- `reco` (delete and re-insert in one transaction).

CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY CONSTRAINT customer_id_not_empty CHECK (customer_id <> ''),
    birth_year  INTEGER CONSTRAINT birth_year_between_1900_and_2100 CHECK (birth_year BETWEEN 1900 AND 2100),
    gender      TEXT CONSTRAINT gender_is_f_m_or_x CHECK (gender IN ('F', 'M', 'X')),
    region      TEXT CONSTRAINT region_not_empty CHECK (region <> ''),
    created_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

CREATE TABLE items (
    item_id  TEXT PRIMARY KEY CONSTRAINT item_id_not_empty CHECK (item_id <> ''),
    category TEXT CONSTRAINT category_not_empty CHECK (category <> ''),
    brand    TEXT CONSTRAINT brand_not_empty CHECK (brand <> ''),
    price    REAL CONSTRAINT price_not_negative CHECK (price >= 0),
    tags     TEXT NOT NULL DEFAULT '',
    active   INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE purchases (
    purchase_id  TEXT PRIMARY KEY CONSTRAINT purchase_id_not_empty CHECK (purchase_id <> ''),
    customer_id  TEXT NOT NULL CONSTRAINT purchase_customer_not_empty CHECK (customer_id <> ''),
    item_id      TEXT NOT NULL CONSTRAINT purchase_item_not_empty CHECK (item_id <> ''),
    quantity     INTEGER NOT NULL CONSTRAINT quantity_positive CHECK (quantity > 0),
    purchased_at INTEGER NOT NULL
);
CREATE INDEX purchases_by_customer ON purchases (customer_id, item_id);

CREATE TABLE ratings (
    customer_id TEXT NOT NULL CONSTRAINT rating_customer_not_empty CHECK (customer_id <> ''),
    item_id     TEXT NOT NULL CONSTRAINT rating_item_not_empty CHECK (item_id <> ''),
    rating      INTEGER NOT NULL CONSTRAINT rating_between_1_and_5 CHECK (rating BETWEEN 1 AND 5),
    rated_at    INTEGER NOT NULL,
    PRIMARY KEY (customer_id, item_id)
);

CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY CONSTRAINT session_id_not_empty CHECK (session_id <> ''),
    customer_id   TEXT CONSTRAINT session_customer_not_empty CHECK (customer_id <> ''),
    session_start INTEGER NOT NULL,
    last_update   INTEGER NOT NULL,
    view_count    INTEGER NOT NULL CONSTRAINT view_count_not_negative CHECK (view_count >= 0),
    archived_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

CREATE TABLE session_views (
    session_id TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CONSTRAINT seq_not_negative CHECK (seq >= 0),
    item_id    TEXT NOT NULL CONSTRAINT view_item_not_empty CHECK (item_id <> ''),
    viewed_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE reco_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO reco_settings (key, value) VALUES ('include_anonymous_sessions', 'false');

CREATE VIEW training_interactions AS
WITH events AS (
    SELECT coalesce(s.customer_id, 'session:' || s.session_id) AS user_key,
           v.item_id, 1.0 AS view_n, 0.0 AS units, NULL AS rating, v.viewed_at AS at
    FROM session_views v JOIN sessions s USING (session_id)
    WHERE s.customer_id IS NOT NULL
       OR (SELECT value FROM reco_settings WHERE key = 'include_anonymous_sessions') = 'true'
    UNION ALL
    SELECT customer_id, item_id, 0.0, CAST(quantity AS REAL), NULL, purchased_at FROM purchases
    UNION ALL
    SELECT customer_id, item_id, 0.0, 0.0, rating, rated_at FROM ratings
)
SELECT user_key,
       item_id,
       CAST(min(sum(view_n), 3) * 1.0 + min(sum(units), 3) * 5.0 + coalesce(max(rating), 0) AS REAL) AS weight,
       ((sum(view_n) > 0 OR sum(units) > 0 OR max(rating) >= 4) AND coalesce(min(rating), 5) >= 3) AS positive,
       max(at) AS last_at
FROM events
GROUP BY user_key, item_id;

CREATE TABLE training_interactions_materialized (
    user_key TEXT NOT NULL,
    item_id  TEXT NOT NULL,
    weight   REAL NOT NULL,
    positive INTEGER NOT NULL,
    last_at  INTEGER NOT NULL,
    PRIMARY KEY (user_key, item_id)
);

CREATE VIEW user_features AS
SELECT customer_id AS user_key, 'age:' || CASE
           WHEN age < 18 THEN 'under-18' WHEN age < 25 THEN '18-24' WHEN age < 35 THEN '25-34'
           WHEN age < 45 THEN '35-44' WHEN age < 55 THEN '45-54' WHEN age < 65 THEN '55-64'
           ELSE '65+' END AS feature, 1.0 AS weight
FROM (SELECT customer_id, CAST(strftime('%Y', 'now') AS INTEGER) - birth_year AS age
      FROM customers WHERE birth_year IS NOT NULL)
UNION ALL
SELECT customer_id, 'gender:' || gender, 1.0 FROM customers WHERE gender IS NOT NULL
UNION ALL
SELECT customer_id, 'region:' || lower(region), 1.0 FROM customers WHERE region IS NOT NULL;

CREATE VIEW item_features AS
WITH RECURSIVE split (item_id, tag, rest) AS (
    SELECT item_id, '', tags || ',' FROM items
    UNION ALL
    SELECT item_id, substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1)
    FROM split WHERE rest <> ''
)
SELECT item_id, 'category:' || lower(category) AS feature, 1.0 AS weight
FROM items WHERE category IS NOT NULL
UNION ALL
SELECT item_id, 'brand:' || lower(brand), 1.0 FROM items WHERE brand IS NOT NULL
UNION ALL
SELECT item_id, 'price:' || CASE
           WHEN price < 10 THEN 'under-10' WHEN price < 25 THEN '10-25' WHEN price < 50 THEN '25-50'
           WHEN price < 100 THEN '50-100' WHEN price < 250 THEN '100-250' ELSE '250+' END, 1.0
FROM items WHERE price IS NOT NULL
UNION ALL
SELECT item_id, 'tag:' || lower(trim(tag)), 1.0 FROM split WHERE trim(tag) <> '';
