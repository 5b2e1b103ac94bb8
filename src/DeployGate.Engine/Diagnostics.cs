using System.Collections.Immutable;
using System.Globalization;

namespace DeployGate.Engine;

/// <summary>Whether a diagnostic stops a policy from loading.</summary>
public enum Severity
{
    Error,
    Warning,
}

/// <summary>A 1-based position in a policy file.</summary>
public readonly record struct SourceSpan(int Line, int Column);

/// <summary>One problem found in a policy file. Rendered as <c>file:line:col: DGnnnn: message</c>.</summary>
public sealed record Diagnostic(string Code, Severity Severity, string Message, string? File, SourceSpan? At)
{
    public override string ToString()
    {
        var where = (File, At) switch
        {
            (not null, { } at) => string.Create(CultureInfo.InvariantCulture, $"{File}:{at.Line}:{at.Column}: "),
            (not null, null) => $"{File}: ",
            (null, { } at) => string.Create(CultureInfo.InvariantCulture, $"{at.Line}:{at.Column}: "),
            _ => "",
        };
        var prefix = Severity == Severity.Warning ? "warning: " : "";
        return $"{where}{Code}: {prefix}{Message}";
    }
}

/// <summary>The outcome of loading a policy: the compiled policy when there is no error, and every diagnostic.</summary>
public sealed record PolicyLoadResult(CompiledPolicy? Policy, ImmutableArray<Diagnostic> Diagnostics)
{
    public bool HasErrors => Policy is null || Diagnostics.Any(d => d.Severity == Severity.Error);

    public IEnumerable<Diagnostic> Errors => Diagnostics.Where(d => d.Severity == Severity.Error);
}
