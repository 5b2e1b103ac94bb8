using System.Data.Common;

namespace DeployGate.Audit.Jobs;

/// <summary>Reads a <c>review_jobs</c> row (both stores select the same columns, in the same order) into a job.
/// Times are stored as Unix milliseconds; <c>status_posted</c> is an integer in SQLite and a boolean in PostgreSQL.</summary>
internal static class ReviewJobRow
{
    public static ReviewJob Read(DbDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        DateTimeOffset? T(int i) => r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));
        return new ReviewJob
        {
            DeliveryId = r.GetString(0),
            Payload = r.GetString(1),
            ReceivedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)),
            DueAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
            State = r.GetString(4) == "done" ? ReviewJobState.Done : ReviewJobState.Pending,
            Attempts = r.GetInt32(5),
            StatusPosted = Convert.ToBoolean(r.GetValue(6), System.Globalization.CultureInfo.InvariantCulture),
            PendingState = S(7),
            PendingComment = S(8),
            DecidedAt = T(9),
            Outcome = S(10),
            Code = S(11),
            DecisionId = S(12),
            LastError = S(13),
            CompletedAt = T(14),
            LeaseOwner = S(15),
            LeaseUntil = T(16),
        };
    }
}
