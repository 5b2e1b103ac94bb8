using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace DeployGate.Audit.Sqlite;

/// <summary>The writer thread's statements (begin, tip, insert, commit, rollback), prepared once on its connection's
/// handle and bound from UTF-8 spans. Through <see cref="SqliteCommand"/> each commit allocated a parameter binder
/// and a UTF-8 copy per text value, a reader for the tip and its hash as a string, and a rollback hook per
/// transaction: about a quarter of the bytes an authorize request allocated, all on the thread every request
/// waits for. Only the writer thread uses an instance; errors surface as <see cref="SqliteException"/>, as the
/// command path's did.</summary>
internal sealed class WriterStatements : TransactionStatements
{
    private const int SqliteConstraintUnique = 2067;   // SQLITE_CONSTRAINT_UNIQUE: only decision_id is UNIQUE

    private readonly sqlite3_stmt _tip;
    private readonly sqlite3_stmt _insert;
    private byte[] _scratch = new byte[512];   // one text value at a time: SQLite copies what it is bound (SQLITE_TRANSIENT)

    public WriterStatements(SqliteConnection connection)
        : base(connection.Handle ?? throw new InvalidOperationException("the writer connection is not open"))
    {
        try
        {
            _tip = Prepare(SqliteSchema.Tip);
            _insert = Prepare(SqliteSchema.Insert);
            ReadOnlySpan<string> columns = ["$seq", "$decision_id", "$evaluated_at", "$recorded_at", "$repository", "$environment",
                "$verdict", "$run_id", "$channel", "$delivery_id", "$decision_json", "$prev_hash", "$hash"];
            for (var i = 0; i < columns.Length; i++)
            {
                // TryInsert binds by position: the schema's insert must name its parameters in this order.
                if (raw.sqlite3_bind_parameter_index(_insert, columns[i]) != i + 1)
                    throw new InvalidOperationException($"the insert's parameter {i + 1} is not `{columns[i]}`");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The newest row's <c>seq</c>, its hash written to <paramref name="hash"/> (32 bytes); (0, genesis) for
    /// an empty log.</summary>
    /// <exception cref="AuditStoreException"><c>DG5002</c> when the stored hash is not 64 lowercase hex digits.</exception>
    public long ReadTip(Span<byte> hash)
    {
        try
        {
            var rc = raw.sqlite3_step(_tip);
            if (rc == SqliteDone)
            {
                hash.Clear();
                return 0;
            }
            if (rc != SqliteRow) Check(rc);
            var seq = raw.sqlite3_column_int64(_tip, 0);
            if (!ChainHash.TryParse(raw.sqlite3_column_blob(_tip, 1), hash))
            {
                throw new AuditStoreException(StoreCodes.ChainBroken,
                    $"cannot append: record `{seq}` hash is not 64 lowercase hex digits");
            }
            return seq;
        }
        finally
        {
            raw.sqlite3_reset(_tip);
        }
    }

    /// <summary>Inserts one row; false when its <c>decision_id</c> is already stored (that statement alone is undone,
    /// the transaction goes on).</summary>
    public bool TryInsert(long seq, ReadOnlySpan<byte> recordedAt, ChainRecord r, ReadOnlySpan<byte> prevHex, ReadOnlySpan<byte> hashHex)
    {
        try
        {
            Check(raw.sqlite3_bind_int64(_insert, 1, seq));
            BindText(2, r.DecisionId);
            BindText(3, r.EvaluatedAt);
            BindText(4, recordedAt);
            BindText(5, r.Repository);
            BindText(6, r.Environment);
            BindText(7, r.Verdict);
            BindText(8, r.RunId);
            BindText(9, r.Channel);
            BindText(10, r.DeliveryId);
            // Bound as a blob, stored as text (the insert CASTs it): the serializer's bytes as they are.
            Check(raw.sqlite3_bind_blob(_insert, 11, r.DecisionJsonUtf8));
            BindText(12, prevHex);
            BindText(13, hashHex);

            var rc = raw.sqlite3_step(_insert);
            if (rc == SqliteDone) return true;
            if (raw.sqlite3_extended_errcode(Db) == SqliteConstraintUnique) return false;
            SqliteException.ThrowExceptionForRC(rc, Db);
            throw new System.Diagnostics.UnreachableException($"sqlite3_step returned {rc}, neither done nor an error");
        }
        finally
        {
            raw.sqlite3_reset(_insert);
            raw.sqlite3_clear_bindings(_insert);
        }
    }

    private void BindText(int index, string? value)
    {
        if (value is null)
        {
            Check(raw.sqlite3_bind_null(_insert, index));
            return;
        }
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (_scratch.Length < max) _scratch = new byte[Math.Max(max, _scratch.Length * 2)];
        BindText(index, _scratch.AsSpan(0, Encoding.UTF8.GetBytes(value, _scratch)));
    }

    private void BindText(int index, ReadOnlySpan<byte> utf8) => Check(raw.sqlite3_bind_text(_insert, index, utf8));
}
