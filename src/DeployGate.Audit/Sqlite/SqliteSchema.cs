namespace DeployGate.Audit.Sqlite;

/// <summary>The audit tables. <c>seq</c> is the rowid (assigned by the writer, 1..n without gaps);
/// triggers refuse UPDATE and DELETE so the log is append-only to anyone who does not drop them first
/// (someone who does is caught by <see cref="SqliteDecisionLog.VerifyAsync"/>).
/// <para>Version 2: the query filters' indexes left the log. <c>decision_log</c> keeps only its rowid and the unique
/// <c>decision_id</c>, so a commit dirties two B-trees, not five; the filters are indexed in a second file beside
/// it, off the commit path (<see cref="SqliteQueryIndex"/>). Version 1 had the three indexes on
/// <c>decision_log</c>; opening such a file drops them.</para></summary>
internal static class SqliteSchema
{
    public const int Version = 2;
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

        CREATE TRIGGER IF NOT EXISTS decision_log_no_update BEFORE UPDATE ON decision_log
        BEGIN SELECT RAISE(ABORT, 'decision_log is append-only'); END;

        CREATE TRIGGER IF NOT EXISTS decision_log_no_delete BEFORE DELETE ON decision_log
        BEGIN SELECT RAISE(ABORT, 'decision_log is append-only'); END;
        """;

    /// <summary>Version 1 → 2: the query index file is built from the rows (<see cref="SqliteQueryIndex"/>).</summary>
    public const string MigrateFrom1 = """
        DROP INDEX IF EXISTS decision_log_repository;
        DROP INDEX IF EXISTS decision_log_environment;
        DROP INDEX IF EXISTS decision_log_evaluated_at;
        UPDATE schema_versions SET version = 2 WHERE component = 'decision_log';
        """;

    /// <summary>The query index file's layout (<see cref="SqliteQueryIndex"/>; its <c>PRAGMA user_version</c>). A file
    /// of another version is deleted and built again: it holds nothing that is not in the log.</summary>
    public const int IndexFileVersion = 1;

    public const string IndexCreate = """
        CREATE TABLE IF NOT EXISTS decision_index (
            seq           INTEGER PRIMARY KEY,
            repository    TEXT,
            environment   TEXT NOT NULL COLLATE NOCASE,
            verdict       TEXT NOT NULL,
            evaluated_at  TEXT NOT NULL
        ) STRICT;

        CREATE INDEX IF NOT EXISTS decision_index_repository ON decision_index (repository);
        CREATE INDEX IF NOT EXISTS decision_index_environment ON decision_index (environment);
        CREATE INDEX IF NOT EXISTS decision_index_evaluated_at ON decision_index (evaluated_at);
        """;

    /// <summary>Copies the filter columns of the next rows of the log (attached as <c>audit</c>) not yet in
    /// <c>decision_index</c>: at most <c>$max</c>, in <c>seq</c> order, so the table always holds 1..n. Idempotent:
    /// two indexers on one file serialize on its write lock and the second finds nothing left.</summary>
    public const string IndexPass = """
        INSERT INTO decision_index (seq, repository, environment, verdict, evaluated_at)
        SELECT seq, repository, environment, verdict, evaluated_at FROM audit.decision_log
        WHERE seq > (SELECT coalesce(max(seq), 0) FROM decision_index)
        ORDER BY seq LIMIT $max
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
