-- A session id may come back after its archived document expired from DynamoDB (a
-- client that keeps an id for weeks). The archived session's rows must not be
-- overwritten by the newcomer: an archive whose session_start differs from the stored
-- one is refused as a constraint violation, so the deadpool quarantines the newcomer
-- with this reason and archives the rest of its batch.
CREATE FUNCTION refuse_session_id_reuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.session_start <> OLD.session_start THEN
        RAISE EXCEPTION 'session_id % reused: the archived session started at %, this one at %',
            OLD.session_id, OLD.session_start, NEW.session_start
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER sessions_refuse_id_reuse BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION refuse_session_id_reuse();
