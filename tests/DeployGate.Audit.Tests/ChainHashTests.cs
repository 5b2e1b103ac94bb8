using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace DeployGate.Audit.Tests;

/// <summary>Pins the canonical record exactly as docs/audit.md writes it, with an independent implementation.</summary>
public sealed class ChainHashTests : IDisposable
{
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task StoredHashes_FollowTheDocumentedCanonicalRecord()
    {
        await using (var log = _store.Open())
        {
            await log.AppendAsync(TestDecisions.Make(1, repository: null), new AuditContext("webhook", "d-1"));
            await log.AppendAsync(TestDecisions.Make(2, repository: "acme/wëb\nx"), new AuditContext());
        }

        using var connection = _store.Raw();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, decision_id, evaluated_at, recorded_at, repository, environment, verdict, run_id, " +
                              "channel, delivery_id, decision_json, prev_hash, hash FROM decision_log ORDER BY seq";
        using var reader = command.ExecuteReader();
        var prev = new string('0', 64);
        while (reader.Read())
        {
            var record = new StringBuilder("dg-audit-v1\n");
            for (var i = 0; i <= 10; i++)
            {
                if (reader.IsDBNull(i)) { record.Append("-\n"); continue; }
                var value = i == 0 ? reader.GetInt64(0).ToString(System.Globalization.CultureInfo.InvariantCulture) : reader.GetString(i);
                record.Append(Encoding.UTF8.GetByteCount(value)).Append(':').Append(value).Append('\n');
            }
            var input = Convert.FromHexString(prev).Concat(Encoding.UTF8.GetBytes(record.ToString())).ToArray();
            var expected = Convert.ToHexStringLower(SHA256.HashData(input));

            Assert.Equal(prev, reader.GetString(11));
            Assert.Equal(expected, reader.GetString(12));
            prev = expected;
        }
    }

    [Fact]
    public void Compute_FieldBoundariesAreUnambiguous()
    {
        var zero = new byte[32];
        var a = new ChainRecord("d", "e", "ab", "c", "deny", null, "api", null, "{}");
        var b = a with { Repository = "a", Environment = "bc" };
        var c = a with { RunId = "" };

        Assert.NotEqual(ChainHash.Compute(zero, 1, "t", a), ChainHash.Compute(zero, 1, "t", b));
        Assert.NotEqual(ChainHash.Compute(zero, 1, "t", a), ChainHash.Compute(zero, 1, "t", c));   // null ≠ empty
        Assert.NotEqual(ChainHash.Compute(zero, 1, "t", a), ChainHash.Compute(zero, 2, "t", a));
    }
}

/// <summary><c>evaluated_at</c>/<c>recorded_at</c> text (hashed and compared as text): the documented format, written by hand.</summary>
public sealed class StoreTimeTests
{
    private static string Reference(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Format_IsTheDocumentedText_ForAnyInstant()
    {
        var random = new Random(20261202);
        DateTimeOffset[] edges =
        [
            DateTimeOffset.MinValue, DateTimeOffset.MaxValue, DateTimeOffset.UnixEpoch,
            new(2026, 11, 22, 10, 15, 0, TimeSpan.Zero), new(2026, 11, 22, 10, 15, 0, TimeSpan.FromHours(-13.5)),
            new DateTimeOffset(999, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1),
        ];
        foreach (var t in edges) Assert.Equal(Reference(t), StoreTime.Format(t));
        for (var i = 0; i < 100_000; i++)
        {
            var t = new DateTimeOffset(random.NextInt64(DateTimeOffset.MaxValue.UtcTicks + 1), TimeSpan.Zero);
            Assert.Equal(Reference(t), StoreTime.Format(t));
        }
        Assert.Equal("2026-11-22T10:15:00.0000000Z", StoreTime.Format(new DateTimeOffset(2026, 11, 22, 11, 15, 0, TimeSpan.FromHours(1))));
    }
}
