namespace DeployGate.Engine.Rules;

/// <summary>A compiled glob (SPEC §2): <c>*</c> matches within one <c>/</c>-separated segment, <c>**</c>
/// across segments, <c>?</c> one character other than <c>/</c>. Everything else matches itself,
/// case-sensitively. Literal and simple-prefix patterns take a fast path.</summary>
internal sealed class Glob
{
    private enum Shape { Exact, Prefix, Anything, General }

    private readonly Shape _shape;
    private readonly string _literal;

    public Glob(string pattern)
    {
        Pattern = pattern;
        if (pattern == "**")
        {
            _shape = Shape.Anything;
            _literal = "";
        }
        else if (pattern.AsSpan().IndexOfAny('*', '?') < 0)
        {
            _shape = Shape.Exact;
            _literal = pattern;
        }
        else if (pattern.EndsWith('*') && !pattern.EndsWith("**", StringComparison.Ordinal)
                 && pattern.AsSpan(0, pattern.Length - 1).IndexOfAny('*', '?') < 0)
        {
            _shape = Shape.Prefix;
            _literal = pattern[..^1];
        }
        else
        {
            _shape = Shape.General;
            _literal = pattern;
        }
    }

    public string Pattern { get; }

    public bool HasWildcards => _shape != Shape.Exact;

    public bool IsMatch(string? value)
    {
        if (value is null) return false;
        return _shape switch
        {
            Shape.Exact => string.Equals(value, _literal, StringComparison.Ordinal),
            Shape.Anything => true,
            Shape.Prefix => value.StartsWith(_literal, StringComparison.Ordinal)
                            && value.AsSpan(_literal.Length).IndexOf('/') < 0,
            _ => Match(_literal, value, 0),
        };
    }

    // Backtracking matcher; patterns and claim values are short. The budget bounds pathological patterns.
    private static bool Match(ReadOnlySpan<char> p, ReadOnlySpan<char> s, int depth)
    {
        if (depth > 64) return false;
        while (p.Length > 0)
        {
            if (p[0] == '*')
            {
                var crossSegments = p.Length > 1 && p[1] == '*';
                var rest = p[(crossSegments ? 2 : 1)..];
                if (crossSegments && rest.Length > 0 && rest[0] == '/' )
                {
                    // `**/` also matches zero segments.
                    if (Match(rest[1..], s, depth + 1)) return true;
                }
                for (var i = 0; i <= s.Length; i++)
                {
                    if (Match(rest, s[i..], depth + 1)) return true;
                    if (i < s.Length && s[i] == '/' && !crossSegments) return false;
                }
                return false;
            }
            if (s.Length == 0) return false;
            if (p[0] == '?')
            {
                if (s[0] == '/') return false;
            }
            else if (p[0] != s[0])
            {
                return false;
            }
            p = p[1..];
            s = s[1..];
        }
        return s.Length == 0;
    }

    public override string ToString() => Pattern;
}

/// <summary>Any of several globs (a YAML list means "any of").</summary>
internal sealed class GlobSet(IReadOnlyList<Glob> globs)
{
    public IReadOnlyList<Glob> Globs { get; } = globs;

    /// <summary>The index of the first glob that matches, or -1.</summary>
    public int FirstMatch(string? value)
    {
        if (value is null) return -1;
        for (var i = 0; i < Globs.Count; i++)
        {
            if (Globs[i].IsMatch(value)) return i;
        }
        return -1;
    }

    public bool IsMatch(string? value) => FirstMatch(value) >= 0;

    public override string ToString() => string.Join(", ", Globs.Select(g => $"`{g.Pattern}`"));
}
