using System.Text.RegularExpressions;

namespace DeployGate.Engine.Tests.Docs;

/// <summary>Keeps docs/codes.md honest: every code used in src/ has a row, and every row names a code
/// that src/ uses (SPEC §11: "docs/codes.md lists them all").</summary>
public sealed partial class CodesDocumentedTests
{
    // A string literal that starts with a code: "DG1004", or a message such as $"DG6001: …".
    [GeneratedRegex(@"""(DG\d{4})\b", RegexOptions.CultureInvariant)]
    private static partial Regex CodeLiteral();

    // A table row whose first cell is a code: | DG1004 | … (backticks around the code allowed).
    [GeneratedRegex(@"^\|\s*`?(DG\d{4})`?\s*\|", RegexOptions.CultureInvariant | RegexOptions.Multiline)]
    private static partial Regex CodeRow();

    [Fact]
    public void EveryCodeInSource_HasARowInCodesMd()
    {
        var documented = DocumentedCodes().ToHashSet(StringComparer.Ordinal);
        var missing = SourceCodes().Keys.Where(c => !documented.Contains(c)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0,
            "codes used in src/ but missing from docs/codes.md (add a `| DGnnnn | severity | meaning | what to do |` row): " +
            string.Join(", ", missing.Select(c => $"{c} ({string.Join(", ", SourceCodes()[c])})")));
    }

    [Fact]
    public void EveryRowInCodesMd_NamesACodeUsedInSource()
    {
        var used = SourceCodes();
        var stale = DocumentedCodes().Distinct(StringComparer.Ordinal).Where(c => !used.ContainsKey(c)).Order(StringComparer.Ordinal).ToList();
        Assert.True(stale.Count == 0, "docs/codes.md lists codes that src/ does not use: " + string.Join(", ", stale));
    }

    [Fact]
    public void CodesMd_ListsEachCodeOnce()
    {
        var duplicates = DocumentedCodes().GroupBy(c => c, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, "docs/codes.md has more than one row for: " + string.Join(", ", duplicates));
    }

    [Fact]
    public void SourceScan_FindsKnownCodes()
    {
        // Guards the scan itself: if it found nothing, the two tests above would pass vacuously.
        var used = SourceCodes();
        Assert.Contains("DG1004", used.Keys);
        Assert.Contains("DG2104", used.Keys);
        Assert.Contains("DG5001", used.Keys);
    }

    private static List<string> DocumentedCodes()
    {
        var text = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "codes.md"));
        return [.. CodeRow().Matches(text).Select(m => m.Groups[1].Value)];
    }

    /// <summary>Code → the src/ files (relative) whose string literals use it.</summary>
    private static Dictionary<string, SortedSet<string>> SourceCodes()
    {
        var root = RepoRoot();
        var src = Path.Combine(root, "src");
        var result = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.Split('/').Any(part => part is "bin" or "obj")) continue;
            foreach (Match m in CodeLiteral().Matches(File.ReadAllText(file)))
            {
                var code = m.Groups[1].Value;
                if (!result.TryGetValue(code, out var files)) result[code] = files = new SortedSet<string>(StringComparer.Ordinal);
                files.Add(relative);
            }
        }
        return result;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DeployGate.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no DeployGate.sln above {AppContext.BaseDirectory}");
    }
}
