namespace DeployGate.Audit;

/// <summary>Walks a chain one stored row at a time, in <c>seq</c> order, and stops at the first problem. Shared by
/// every store so that "intact" means the same thing everywhere (docs/audit.md, Verification): a missing
/// <c>seq</c>, a <c>prev_hash</c> that is not the previous row's <c>hash</c>, a malformed <c>hash</c>, or a
/// <c>hash</c> that does not match the row's canonical record (<see cref="ChainHash"/>).</summary>
internal sealed class ChainVerifier
{
    private byte[] _prev = new byte[ChainHash.Size];
    private byte[] _stored = new byte[ChainHash.Size];
    private string _prevHex = ChainHash.GenesisHex;
    private long _expected = 1;
    private long _verified;

    /// <summary>Checks the next row; returns the verdict when it breaks the chain, else null (keep going).</summary>
    public ChainVerification? Next(long seq, string recordedAt, string prevHashHex, string hashHex, ChainRecord record)
    {
        if (seq != _expected)
        {
            return Broken(_expected, seq == _expected + 1
                ? $"record `{_expected}` is missing (next is `{seq}`)"
                : $"records `{_expected}` to `{seq - 1}` are missing (next is `{seq}`)");
        }
        if (!string.Equals(prevHashHex, _prevHex, StringComparison.Ordinal))
        {
            return Broken(seq, seq == 1
                ? "record `1` prev_hash is not the genesis hash"
                : $"record `{seq}` prev_hash does not match the hash of record `{seq - 1}`");
        }
        if (!ChainHash.TryParse(hashHex, _stored))
        {
            return Broken(seq, $"record `{seq}` hash is not 64 lowercase hex digits");
        }
        var computed = ChainHash.Compute(_prev, seq, recordedAt, record);
        if (!computed.AsSpan().SequenceEqual(_stored))
        {
            return Broken(seq, $"record `{seq}` hash does not match its contents");
        }
        (_prev, _stored) = (_stored, _prev);
        _prevHex = hashHex;
        _verified++;
        _expected++;
        return null;
    }

    /// <summary>The verdict after the last row: intact, with the head hash.</summary>
    public ChainVerification Intact() => new(true, _verified, null, null) { HeadHash = _prevHex };

    private ChainVerification Broken(long seq, string problem) => new(false, _verified, seq, problem);
}
