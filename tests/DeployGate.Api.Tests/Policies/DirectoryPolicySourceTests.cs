using Microsoft.Extensions.Logging.Abstractions;

namespace DeployGate.Api.Tests.Policies;

public sealed class DirectoryPolicySourceTests
{
    [Theory]
    [InlineData("acme/..")]
    [InlineData("../etc")]
    [InlineData("acme/../../etc/passwd")]
    [InlineData("acme/web/../../x")]
    [InlineData("acme/.")]
    [InlineData("acme/a\\b")]
    [InlineData("/etc/passwd")]
    [InlineData("acme")]
    [InlineData("ac me/web")]
    [InlineData("acme/web\0")]
    [InlineData("-acme/web")]
    public async Task PathTraversal_IsRejected(string repository)
    {
        var root = Path.Combine(Path.GetTempPath(), "dg-policies-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        // A file outside the root that a traversal would reach.
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "etc.yml"), "version: 1\n");
        using var source = new DirectoryPolicySource(root, NullLogger<DirectoryPolicySource>.Instance);

        var lookup = await source.GetAsync(repository, GateHost.Start, revalidate: false, CancellationToken.None);

        Assert.Null(lookup.Policy);
        Assert.Equal(ServerCodes.RepositoryNameInvalid, lookup.Code);
        Assert.False(lookup.Unavailable);
        Directory.Delete(root, true);
    }

    [Fact]
    public async Task MissingFile_IsPolicyNotFound()
    {
        var root = Path.Combine(Path.GetTempPath(), "dg-policies-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        using var source = new DirectoryPolicySource(root, NullLogger<DirectoryPolicySource>.Instance);

        var lookup = await source.GetAsync("acme/web", GateHost.Start, revalidate: false, CancellationToken.None);

        Assert.Equal(ServerCodes.PolicyNotFound, lookup.Code);
        Assert.Equal("directory:acme/web.yml", lookup.Ref.Source);
        Directory.Delete(root, true);
    }

    [Fact]
    public async Task SameRepositoryAgain_FollowsTheFile_MissingWrittenEditedDeleted()
    {
        // The repository's path and reference are remembered after the first lookup; what the file holds is not.
        var root = Path.Combine(Path.GetTempPath(), "dg-policies-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(root, "acme"));
        var file = Path.Combine(root, "acme", "web.yml");
        using var source = new DirectoryPolicySource(root, NullLogger<DirectoryPolicySource>.Instance);
        Task<PolicyLookup> Look() => source.GetAsync("acme/web", GateHost.Start, revalidate: false, CancellationToken.None).AsTask();

        Assert.Equal(ServerCodes.PolicyNotFound, (await Look()).Code);

        File.WriteAllText(file, TestPolicies.Web);
        var written = await Look();
        Assert.NotNull(written.Policy);
        Assert.Equal("directory:acme/web.yml", written.Ref.Source);
        Assert.Equal(DirectoryPolicySource.Hash(File.ReadAllBytes(file)), written.Ref.Revision);

        File.WriteAllText(file, TestPolicies.Web + "\n# edited, and longer\n");
        var edited = await Look();
        Assert.NotNull(edited.Policy);
        Assert.Equal(DirectoryPolicySource.Hash(File.ReadAllBytes(file)), edited.Ref.Revision);
        Assert.NotEqual(written.Ref.Revision, edited.Ref.Revision);

        File.Delete(file);
        var deleted = await Look();
        Assert.Equal(ServerCodes.PolicyNotFound, deleted.Code);
        Assert.Equal("no policy for `acme/web`: `acme/web.yml` does not exist in the policy folder", deleted.Message);
        Assert.Equal(ServerCodes.RepositoryNameInvalid, (await source.GetAsync("acme/..", GateHost.Start, revalidate: false, CancellationToken.None)).Code);
        Directory.Delete(root, true);
    }

    [Theory]
    [InlineData("acme/web", true)]
    [InlineData("my-org/my.repo_name-2", true)]
    [InlineData("acme/..", false)]
    [InlineData("acme/web/extra", false)]
    public void RepositoryNames_FollowGitHubsCharacterSets(string repository, bool valid) =>
        Assert.Equal(valid, RepositoryNames.TrySplit(repository, out _, out _));
}
