namespace DeployGate.Engine.Parsing;

// Generic readers over the YAML tree. Each reports what is wrong where it is wrong, and returns
// what it could read, so one pass finds every problem in the file.
internal sealed partial class PolicyCompiler
{
    private void Error(string code, SourceSpan at, string message) =>
        _diagnostics.Add(new Diagnostic(code, Severity.Error, message, _file, at));

    private void Warn(string code, SourceSpan at, string message) =>
        _diagnostics.Add(new Diagnostic(code, Severity.Warning, message, _file, at));

    /// <summary>A mapping's entries by key; reports a non-mapping, unknown keys (when
    /// <paramref name="allowed"/> is given) and duplicate keys.</summary>
    private Dictionary<string, (YNode Key, YNode Value)>? Map(YNode node, string what, params string[] allowed)
    {
        if (node.Kind != YKind.Mapping)
        {
            Error("DG1005", node.At, $"{Quote(what)} must be a mapping, found {node.Describe()}");
            return null;
        }
        var result = new Dictionary<string, (YNode, YNode)>(StringComparer.Ordinal);
        foreach (var (key, value) in node.Pairs)
        {
            if (key.Kind != YKind.Scalar || key.Value is null)
            {
                Error("DG1005", key.At, $"keys in {what} must be plain names");
                continue;
            }
            if (allowed.Length > 0 && Array.IndexOf(allowed, key.Value) < 0)
            {
                var hint = Closest(key.Value, allowed);
                Error("DG1004", key.At, hint is null
                    ? $"unknown key `{key.Value}` in {what}"
                    : $"unknown key `{key.Value}` in {what}; did you mean `{hint}`?");
                continue;
            }
            if (!result.TryAdd(key.Value, (key, value)))
                Error("DG1020", key.At, $"key `{key.Value}` appears twice in {what}");
        }
        return result;
    }

    /// <summary>The named entries of a top-level section (<c>identities</c>, <c>roles</c> …).</summary>
    private List<(string Name, YNode Key, YNode Value)> Entries(Dictionary<string, (YNode Key, YNode Value)> top, string section)
    {
        var result = new List<(string, YNode, YNode)>();
        if (!top.TryGetValue(section, out var entry) || entry.Value.IsNull) return result;
        var map = Map(entry.Value, $"`{section}`");
        if (map is null) return result;
        foreach (var (name, (key, value)) in map)
        {
            if (name.Length == 0) Error("DG1005", key.At, $"an entry of `{section}` has an empty name");
            else result.Add((name, key, value));
        }
        return result;
    }

    private List<YNode> Seq(YNode node, string what)
    {
        if (node.Kind == YKind.Sequence) return node.Items;
        Error("DG1005", node.At, $"`{what}` must be a list, found {node.Describe()}");
        return [];
    }

    private string? Str(YNode node, string what)
    {
        if (node.Kind == YKind.Scalar && !node.IsNull) return node.Value;
        Error("DG1005", node.At, $"`{what}` must be a single value, found {node.Describe()}");
        return null;
    }

    /// <summary>One string, or a list of strings ("any of").</summary>
    private List<(string Value, YNode Node)> StrList(YNode node, string what)
    {
        var result = new List<(string, YNode)>();
        if (node.Kind == YKind.Scalar && !node.IsNull)
        {
            result.Add((node.Value!, node));
            return result;
        }
        if (node.Kind != YKind.Sequence)
        {
            Error("DG1005", node.At, $"`{what}` must be a value or a list of values, found {node.Describe()}");
            return result;
        }
        foreach (var item in node.Items)
        {
            if (item.Kind == YKind.Scalar && !item.IsNull) result.Add((item.Value!, item));
            else Error("DG1005", item.At, $"items of `{what}` must be single values, found {item.Describe()}");
        }
        return result;
    }

    private bool Has(Dictionary<string, (YNode Key, YNode Value)> map, YNode owner, string key, string what)
    {
        if (map.ContainsKey(key)) return true;
        Error("DG1006", owner.At, $"{Quote(what)} needs `{key}`");
        return false;
    }

    /// <summary>A path like <c>environments.prod.deploy</c> in backticks; prose (a freeze, `x` …) as is.</summary>
    private static string Quote(string what) =>
        what.Contains('`', StringComparison.Ordinal) || what.Contains(' ', StringComparison.Ordinal) || what is "delegation" or "freeze"
            ? what : $"`{what}`";

    /// <summary>An empty list where an empty list would loosen the policy without a word is an error:
    /// deny by default means a typo must never open a gate.</summary>
    private List<(string Value, YNode Node)> NonEmpty(List<(string Value, YNode Node)> items, YNode node, string what, string hint)
    {
        if (items.Count == 0 && node.Kind == YKind.Sequence) Error("DG1005", node.At, $"`{what}` is an empty list; {hint}");
        return items;
    }

    private string? Required(Dictionary<string, (YNode Key, YNode Value)> map, YNode owner, string key, string what) =>
        Has(map, owner, key, what) ? Str(map[key].Value, key) : null;

    private static string? Closest(string word, string[] candidates)
    {
        string? best = null;
        var bestDistance = 3;
        foreach (var c in candidates)
        {
            var d = Distance(word, c);
            if (d < bestDistance)
            {
                best = c;
                bestDistance = d;
            }
        }
        return best;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
