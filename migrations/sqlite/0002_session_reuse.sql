-- A session id may come back after its archived document expired: an archive whose
-- session_start differs from the stored one is refused (a constraint violation), so
-- the archived session's rows are never overwritten (see the PostgreSQL migration).
CREATE TRIGGER sessions_refuse_id_reuse BEFORE UPDATE OF session_start ON sessions
WHEN NEW.session_start <> OLD.session_start
BEGIN
    SELECT RAISE(ABORT, 'session_id reused: the archived session started at another time');
END;
