namespace DeployGate.Audit.Postgres;

/// <summary>The audit tables on PostgreSQL: the same columns, values and canonical record as SQLite
/// (docs/audit.md). Text columns that are compared or ordered use <c>COLLATE "C"</c> (byte order, ASCII-only
/// case folding), which is what SQLite does, whatever the database's default collation is.</summary>
internal static class PostgresDecisionLogSchema
{
    public const string Component = "decision_log";

    /// <summary>Migration steps; the schema version is how many of them ran. Append, never edit.</summary>
    public static readonly IReadOnlyList<string> Steps =
    [
        // 1: the log, its indexes and the append-only guard.
        """
        CREATE TABLE decision_log (
            seq           bigint PRIMARY KEY CHECK (seq >= 1),
            decision_id   text COLLATE "C" NOT NULL UNIQUE,
            evaluated_at  text COLLATE "C" NOT NULL,
            recorded_at   text COLLATE "C" NOT NULL,
            repository    text COLLATE "C",
            environment   text COLLATE "C" NOT NULL,
            verdict       text COLLATE "C" NOT NULL,
            run_id        text COLLATE "C",
            channel       text COLLATE "C" NOT NULL,
            delivery_id   text COLLATE "C",
            decision_json text NOT NULL,
            prev_hash     text COLLATE "C" NOT NULL,
            hash          text COLLATE "C" NOT NULL
        );
        CREATE INDEX decision_log_repository ON decision_log (repository);
        CREATE INDEX decision_log_environment ON decision_log (lower(environment));
        CREATE INDEX decision_log_evaluated_at ON decision_log (evaluated_at);
        CREATE FUNCTION decision_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'decision_log is append-only';
        END
        $$;
        CREATE TRIGGER decision_log_no_update_delete BEFORE UPDATE OR DELETE ON decision_log
            FOR EACH ROW EXECUTE FUNCTION decision_log_append_only();
        CREATE TRIGGER decision_log_no_truncate BEFORE TRUNCATE ON decision_log
            FOR EACH STATEMENT EXECUTE FUNCTION decision_log_append_only();
        """,
    ];

    /// <summary>Held (transaction-scoped) by every writer of every instance while it reads the tip and
    /// inserts its batch: one chain, appended by one transaction at a time (ASCII <c>DGchain1</c>).</summary>
    public const long ChainLockKey = 0x4447_6368_6169_6e31;

    public const string Tip = "SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1";

    public const string Existing = "SELECT decision_id FROM decision_log WHERE decision_id = ANY(@ids)";

    public const string Insert = """
        INSERT INTO decision_log (seq, decision_id, evaluated_at, recorded_at, repository, environment, verdict,
                                  run_id, channel, delivery_id, decision_json, prev_hash, hash)
        SELECT * FROM unnest(@seq, @decision_id, @evaluated_at, @recorded_at, @repository, @environment, @verdict,
                             @run_id, @channel, @delivery_id, @decision_json, @prev_hash, @hash)
        """;

    public const string Walk = """
        SELECT seq, decision_id, evaluated_at, recorded_at, repository, environment, verdict,
               run_id, channel, delivery_id, decision_json, prev_hash, hash
        FROM decision_log ORDER BY seq
        """;
}
