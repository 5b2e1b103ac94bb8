namespace DeployGate.Audit.Sqlite;

/// <summary>The audit tables. <c>seq</c> is the rowid (assigned by the writer, 1..n without gaps);
/// triggers refuse UPDATE and DELETE so the log is append-only to anyone who does not drop them first
/// (someone who does is caught by <see cref="SqliteDecisionLog.VerifyAsync"/>).</summary>
internal static class SqliteSchema
{
    public const int Version = 1;
    public const string Component = "decision_log";

    public const string Create = """
        CREATE TABLE IF NOT EXISTS schema_versions (
            component TEXT PRIMARY KEY,
            version   INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE IF NOT EXISTS decision_log (
            seq           INTEGER PRIMARY KEY CHECK (seq >= 1),
            decision_id   TEXT NOT NULL UNIQUE,
            evaluated_at  TEXT NOT NULL,
            recorded_at   TEXT NOT NULL,
            repository    TEXT,
            environment   TEXT NOT NULL COLLATE NOCASE,
            verdict       TEXT NOT NULL,
            run_id        TEXT,
            channel       TEXT NOT NULL,
            delivery_id   TEXT,
            decision_json TEXT NOT NULL,
            prev_hash     TEXT NOT NULL,
            hash          TEXT NOT NULL
        ) STRICT;

        CREATE INDEX IF NOT EXISTS decision_log_repository ON decision_log (repository);
        CREATE INDEX IF NOT EXISTS decision_log_environment ON decision_log (environment);
        CREATE INDEX IF NOT EXISTS decision_log_evaluated_at ON decision_log (evaluated_at);

        CREATE TRIGGER IF NOT EXISTS decision_log_no_update BEFORE UPDATE ON decision_log
        BEGIN SELECT RAISE(ABORT, 'decision_log is append-only'); END;

        CREATE TRIGGER IF NOT EXISTS decision_log_no_delete BEFORE DELETE ON decision_log
        BEGIN SELECT RAISE(ABORT, 'decision_log is append-only'); END;
        """;

    public const string Insert = """
        INSERT INTO decision_log (seq, decision_id, evaluated_at, recorded_at, repository, environment, verdict,
                                  run_id, channel, delivery_id, decision_json, prev_hash, hash)
        VALUES ($seq, $decision_id, $evaluated_at, $recorded_at, $repository, $environment, $verdict,
                $run_id, $channel, $delivery_id, CAST($decision_json AS TEXT), $prev_hash, $hash)
        """;

    public const string Tip = "SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1";

    public const string Walk = """
        SELECT seq, decision_id, evaluated_at, recorded_at, repository, environment, verdict,
               run_id, channel, delivery_id, decision_json, prev_hash, hash
        FROM decision_log ORDER BY seq
        """;
}
