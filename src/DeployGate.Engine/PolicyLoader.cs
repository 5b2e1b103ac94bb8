using System.Text;

namespace DeployGate.Engine;

/// <summary>Loads a policy file: parse (YamlDotNet), validate, compile. Never throws on bad input:
/// every problem is a <see cref="Diagnostic"/>.</summary>
public static class PolicyLoader
{
    /// <summary>Largest policy file accepted (SPEC §2).</summary>
    public const int MaxBytes = 256 * 1024;

    /// <summary>The code of a file over <see cref="MaxBytes"/>; sources that see the size before reading
    /// the file report it with this code, as the loader would.</summary>
    public const string FileTooLargeCode = "DG1001";

    /// <summary>The message for a file over <see cref="MaxBytes"/>.</summary>
    public static string FileTooLargeMessage(long bytes) =>
        $"file is {bytes} bytes; a policy file may be at most {MaxBytes} bytes (256 KiB)";

    /// <param name="utf8">The file's bytes.</param>
    /// <param name="file">Name used in diagnostics.</param>
    /// <param name="now">The instant warnings are judged at (expired delegations, windows that never open).</param>
    /// <param name="reference">Source and revision recorded in decisions; default <c>file:{file}</c> and the content's SHA-256.</param>
    public static PolicyLoadResult Load(ReadOnlySpan<byte> utf8, string file, DateTimeOffset now, PolicyRef? reference = null) =>
        Parsing.PolicyCompiler.Load(utf8, file, now, reference);

    public static PolicyLoadResult Load(string text, string file, DateTimeOffset now, PolicyRef? reference = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Load(Encoding.UTF8.GetBytes(text), file, now, reference);
    }
}
