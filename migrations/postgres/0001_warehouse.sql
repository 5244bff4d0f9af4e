-- Warehouse schema (PostgreSQL / Aurora). Applied in file-name order by
-- `reco migrate`; each file runs once, recorded in schema_migrations.
-- Constraint names say what they enforce, so a violation explains itself.

CREATE TABLE customers (
    customer_id text PRIMARY KEY CONSTRAINT customer_id_not_empty CHECK (customer_id <> ''),
    birth_year  integer CONSTRAINT birth_year_between_1900_and_2100 CHECK (birth_year BETWEEN 1900 AND 2100),
    gender      text CONSTRAINT gender_is_f_m_or_x CHECK (gender IN ('F', 'M', 'X')),
    region      text CONSTRAINT region_not_empty CHECK (region <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE items (
    item_id  text PRIMARY KEY CONSTRAINT item_id_not_empty CHECK (item_id <> ''),
    category text CONSTRAINT category_not_empty CHECK (category <> ''),
    brand    text CONSTRAINT brand_not_empty CHECK (brand <> ''),
    price    numeric(12, 2) CONSTRAINT price_not_negative CHECK (price >= 0),
    -- comma-separated tags, e.g. 'vegan,organic'
    tags     text NOT NULL DEFAULT '',
    active   boolean NOT NULL DEFAULT true
);

CREATE TABLE purchases (
    purchase_id  text PRIMARY KEY CONSTRAINT purchase_id_not_empty CHECK (purchase_id <> ''),
    customer_id  text NOT NULL CONSTRAINT purchase_customer_not_empty CHECK (customer_id <> ''),
    item_id      text NOT NULL CONSTRAINT purchase_item_not_empty CHECK (item_id <> ''),
    quantity     integer NOT NULL CONSTRAINT quantity_positive CHECK (quantity > 0),
    purchased_at timestamptz NOT NULL
);
CREATE INDEX purchases_by_customer ON purchases (customer_id, item_id);

CREATE TABLE ratings (
    customer_id text NOT NULL CONSTRAINT rating_customer_not_empty CHECK (customer_id <> ''),
    item_id     text NOT NULL CONSTRAINT rating_item_not_empty CHECK (item_id <> ''),
    rating      smallint NOT NULL CONSTRAINT rating_between_1_and_5 CHECK (rating BETWEEN 1 AND 5),
    rated_at    timestamptz NOT NULL,
    PRIMARY KEY (customer_id, item_id)
);

-- Archived sessions, written by the deadpool (upserts keyed by session and sequence).
CREATE TABLE sessions (
    session_id    text PRIMARY KEY CONSTRAINT session_id_not_empty CHECK (session_id <> ''),
    customer_id   text CONSTRAINT session_customer_not_empty CHECK (customer_id <> ''),
    session_start timestamptz NOT NULL,
    last_update   timestamptz NOT NULL,
    view_count    integer NOT NULL CONSTRAINT view_count_not_negative CHECK (view_count >= 0),
    archived_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE session_views (
    session_id text NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    seq        integer NOT NULL CONSTRAINT seq_not_negative CHECK (seq >= 0),
    item_id    text NOT NULL CONSTRAINT view_item_not_empty CHECK (item_id <> ''),
    viewed_at  timestamptz NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- Switches the views read. include_anonymous_sessions: 'true' lets sessions without a
-- customer take part as pseudo-users 'session:<id>'.
CREATE TABLE reco_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO reco_settings (key, value) VALUES ('include_anonymous_sessions', 'false');

-- One weighted row per user-item pair. Weights (docs/warehouse.md): a view counts 1
-- (at most 3 views of one item count), a purchased unit 5 (at most 3 units count),
-- an explicit rating its value. The pair is a positive if it was viewed, bought or
-- rated 4-5, unless the user rated it 1-2: an explicit dislike overrides the rest.
CREATE VIEW training_interactions AS
WITH events AS (
    SELECT coalesce(s.customer_id, 'session:' || s.session_id) AS user_key,
           v.item_id, 1.0::float8 AS view_n, 0.0::float8 AS units, NULL::smallint AS rating,
           v.viewed_at AS at
    FROM session_views v JOIN sessions s USING (session_id)
    WHERE s.customer_id IS NOT NULL
       OR (SELECT value FROM reco_settings WHERE key = 'include_anonymous_sessions') = 'true'
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

-- The same rows, stored: refresh with
--   REFRESH MATERIALIZED VIEW CONCURRENTLY training_interactions_materialized
-- (the unique index makes the concurrent refresh possible).
CREATE MATERIALIZED VIEW training_interactions_materialized AS
SELECT * FROM training_interactions;
CREATE UNIQUE INDEX training_interactions_materialized_key
    ON training_interactions_materialized (user_key, item_id);

-- Long-form user features: age band (from birth year), gender, region.
CREATE VIEW user_features AS
SELECT customer_id AS user_key, 'age:' || CASE
           WHEN age < 18 THEN 'under-18' WHEN age < 25 THEN '18-24' WHEN age < 35 THEN '25-34'
           WHEN age < 45 THEN '35-44' WHEN age < 55 THEN '45-54' WHEN age < 65 THEN '55-64'
           ELSE '65+' END AS feature, 1.0::float8 AS weight
FROM (SELECT customer_id, extract(year FROM now())::int - birth_year AS age
      FROM customers WHERE birth_year IS NOT NULL) a
UNION ALL
SELECT customer_id, 'gender:' || gender, 1.0 FROM customers WHERE gender IS NOT NULL
UNION ALL
SELECT customer_id, 'region:' || lower(region), 1.0 FROM customers WHERE region IS NOT NULL;

-- Long-form item features: category, brand, price band, tags.
CREATE VIEW item_features AS
SELECT item_id, 'category:' || lower(category) AS feature, 1.0::float8 AS weight
FROM items WHERE category IS NOT NULL
UNION ALL
SELECT item_id, 'brand:' || lower(brand), 1.0 FROM items WHERE brand IS NOT NULL
UNION ALL
SELECT item_id, 'price:' || CASE
           WHEN price < 10 THEN 'under-10' WHEN price < 25 THEN '10-25' WHEN price < 50 THEN '25-50'
           WHEN price < 100 THEN '50-100' WHEN price < 250 THEN '100-250' ELSE '250+' END, 1.0
FROM items WHERE price IS NOT NULL
UNION ALL
SELECT item_id, 'tag:' || lower(trim(tag)), 1.0
FROM items, unnest(string_to_array(tags, ',')) AS tag
WHERE trim(tag) <> '';
