namespace DeployGate.Engine;

/// <summary>Decision ids: <c>dec_</c> + a ULID (48-bit milliseconds + 80 random bits, Crockford base32),
/// so ids sort by time. The caller supplies the instant and the randomness: the engine reads neither.</summary>
public static class DecisionIds
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string Create(DateTimeOffset now, ReadOnlySpan<byte> random10, string prefix = "dec_")
    {
        if (random10.Length < 10) throw new ArgumentException("needs 10 random bytes", nameof(random10));
        var ms = (ulong)now.ToUnixTimeMilliseconds();
        Span<char> chars = stackalloc char[26];
        // 48-bit time → 10 chars (the top char carries 3 bits).
        for (var i = 9; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(ms & 31)];
            ms >>= 5;
        }
        // 80 random bits → 16 chars.
        var bits = 0UL;
        var bitCount = 0;
        var pos = 10;
        foreach (var b in random10[..10])
        {
            bits = (bits << 8) | b;
            bitCount += 8;
            while (bitCount >= 5)
            {
                chars[pos++] = Alphabet[(int)((bits >> (bitCount - 5)) & 31)];
                bitCount -= 5;
            }
        }
        return string.Concat(prefix, chars);
    }
}
