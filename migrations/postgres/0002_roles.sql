-- Database roles for the functions, each with only the grants its code needs. They log
-- in through the Data API with a Secrets Manager secret of their own; `reco migrate
-- --rds-data` sets each role's password from its secret (RECO_RDS_ROLE_SECRET_ARNS).
-- Roles belong to the cluster, not the database: created only if missing (also when
-- several databases of one cluster are migrated at once).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['reco_deadpool', 'reco_train'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO reco_deadpool, reco_train', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO reco_deadpool, reco_train;

-- The deadpool upserts archived sessions and their views, nothing else.
GRANT SELECT, INSERT, UPDATE ON sessions, session_views TO reco_deadpool;

-- Training reads the training set (tables and views) and refreshes its materialized
-- copy, which PostgreSQL allows only to the view's owner.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reco_train;
-- Handing the view over needs membership in the new owner (Aurora's master user is
-- not a superuser).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'reco_train', 'MEMBER') THEN
        GRANT reco_train TO CURRENT_USER;
    END IF;
END
$$;
ALTER MATERIALIZED VIEW training_interactions_materialized OWNER TO reco_train;
