using System.Text.Json;

namespace DeployGate.Cli.Tests.Grants;

/// <summary><c>deploygate grants rotate-key</c> against the store folder named by the same configuration as serve.</summary>
public sealed class GrantsCommandTests
{
    [Fact]
    public void RotateKey_CreatesThenRotates_TheRingNextToTheSqliteFile()
    {
        var dir = Directory.CreateTempSubdirectory("dg-cli-grants-");
        var store = "--Store:ConnectionString=" + Path.Combine(dir.FullName, "data", "audit.db");
        var ring = Path.Combine(dir.FullName, "data", "grant-keys.json");

        var first = Cli.Run("grants", "rotate-key", store);
        var second = Cli.Run("grants", "rotate-key", store);

        Assert.True(first.Exit == 0, first.Err);
        Assert.True(second.Exit == 0, second.Err);
        Assert.Contains("new signing key", first.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("retired key", first.Out, StringComparison.Ordinal);
        Assert.Contains("retired key", second.Out, StringComparison.Ordinal);
        Assert.Contains("published for 1h5m more", second.Out, StringComparison.Ordinal);
        var keys = JsonDocument.Parse(File.ReadAllText(ring)).RootElement.GetProperty("keys").EnumerateArray().ToList();
        Assert.Equal(2, keys.Count);
        Assert.Equal("2026-11-25T12:00:00Z", keys[0].GetProperty("retired_at").GetString());
        Assert.Equal(JsonValueKind.Null, keys[1].GetProperty("retired_at").ValueKind);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ring));
        dir.Delete(recursive: true);
    }

    [Fact]
    public void RotateKey_RefusesAnOperatorManagedPem()
    {
        var dir = Directory.CreateTempSubdirectory("dg-cli-grants-");
        var pem = Path.Combine(dir.FullName, "grants.pem");
        File.WriteAllText(pem, "placeholder");

        var (exit, _, err) = Cli.Run("grants", "rotate-key", "--Grants:SigningKeyPath=" + pem, "--Store:ConnectionString=" + Path.Combine(dir.FullName, "audit.db"));

        Assert.Equal(1, exit);
        Assert.Contains("DG3110", err, StringComparison.Ordinal);
        Assert.Contains("managed outside DeployGate", err, StringComparison.Ordinal);
        dir.Delete(recursive: true);
    }
}
