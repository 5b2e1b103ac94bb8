namespace DeployGate.Audit;

/// <summary>Store error codes (SPEC §11, range 5xxx). The same code appears in the API problem details
/// (a 503 that denies), CLI output and logs. Messages: one line, lowercase, no final period, values in backticks.</summary>
public static class StoreCodes
{
    /// <summary>The store cannot be opened, read or written (I/O error, locked, disk full, table missing);
    /// an append that gets this code was not recorded, so its request must be denied (503).</summary>
    public const string Unavailable = "DG5001";

    /// <summary>The hash chain is broken: a record was modified, deleted, reordered or its <c>prev_hash</c> forged.</summary>
    public const string ChainBroken = "DG5002";

    /// <summary>A record with the same <c>decision_id</c> is already in the log; the append was refused.</summary>
    public const string DuplicateDecision = "DG5003";

    /// <summary>The log was disposed (the process is shutting down); the append was not recorded.</summary>
    public const string Closed = "DG5004";

    /// <summary>The database holds a newer or unknown audit schema version than this build understands.</summary>
    public const string UnsupportedSchema = "DG5005";

    /// <summary>The store location is unusable as given (empty, in-memory, read-only, unsupported connection string keyword).</summary>
    public const string InvalidLocation = "DG5006";
}
