using Npgsql;

namespace DeployGate.Audit.Postgres;

/// <summary><c>Store:ConnectionString</c> for <c>Store:Provider=postgres</c>: an Npgsql connection string,
/// e.g. <c>Host=db.internal;Port=5432;Username=deploygate;Password=…;Database=deploygate</c>.</summary>
public static class PostgresConnection
{
    /// <summary><c>application_name</c> set when the connection string has none, so operators can see (and
    /// tests can terminate) the gate's sessions in <c>pg_stat_activity</c>.</summary>
    public const string DefaultApplicationName = "deploygate";

    /// <summary>Parses and checks <paramref name="connectionString"/>: it must parse and name a <c>Host</c>.</summary>
    /// <exception cref="AuditStoreException"><c>DG5006</c> otherwise. The message never repeats the string
    /// (it may hold a password).</exception>
    public static NpgsqlConnectionStringBuilder Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation, "postgres connection string is empty");
        }
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            // The message names the keyword at fault but not its value.
            throw new AuditStoreException(StoreCodes.InvalidLocation,
                $"postgres connection string is invalid: {OneLine(ex.Message)}", ex);
        }
        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            throw new AuditStoreException(StoreCodes.InvalidLocation,
                "postgres connection string needs `Host=<server>` (e.g. `Host=db;Username=deploygate;Database=deploygate`)");
        }
        if (string.IsNullOrEmpty(builder.ApplicationName)) builder.ApplicationName = DefaultApplicationName;
        // Durable before the answer (SPEC §9) on every session, whatever the server's default: a commit returns only
        // after its WAL record is flushed. (A server run with fsync=off cannot keep this promise; see docs/operations.md.)
        builder.Options = ((builder.Options ?? "") + " -c synchronous_commit=on").Trim();
        builder.Enlist = false;
        return builder;
    }

    /// <summary><c>host:port/database</c>, for messages and logs (never the password).</summary>
    public static string Describe(NpgsqlConnectionStringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return $"postgres://{builder.Host}:{builder.Port}/{builder.Database ?? builder.Username ?? ""}";
    }

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim().TrimEnd('.');
}
