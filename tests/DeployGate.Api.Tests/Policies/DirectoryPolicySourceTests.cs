using Microsoft.Extensions.Logging;
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
        using var folder = new PolicyFolder();

        var lookup = await folder.Look();

        Assert.Equal(ServerCodes.PolicyNotFound, lookup.Code);
        Assert.Equal("directory:acme/web.yml", lookup.Ref.Source);
    }

    [Fact]
    public async Task SameRepositoryAgain_FollowsTheFile_MissingWrittenEditedDeleted()
    {
        // The repository's path and reference are remembered after the first lookup; what the file holds is not.
        using var folder = new PolicyFolder();
        var file = folder.PathOf("acme", "web.yml");

        Assert.Equal(ServerCodes.PolicyNotFound, (await folder.Look()).Code);

        File.WriteAllText(file, TestPolicies.Web);
        var written = await folder.Look();
        Assert.NotNull(written.Policy);
        Assert.Equal("directory:acme/web.yml", written.Ref.Source);
        Assert.Equal(DirectoryPolicySource.Hash(File.ReadAllBytes(file)), written.Ref.Revision);

        File.WriteAllText(file, TestPolicies.Web + "\n# edited, and longer\n");
        var edited = await folder.Look();
        Assert.NotNull(edited.Policy);
        Assert.Equal(DirectoryPolicySource.Hash(File.ReadAllBytes(file)), edited.Ref.Revision);
        Assert.NotEqual(written.Ref.Revision, edited.Ref.Revision);

        File.Delete(file);
        var deleted = await folder.Look();
        Assert.Equal(ServerCodes.PolicyNotFound, deleted.Code);
        Assert.Equal("no policy for `acme/web`: `acme/web.yml` does not exist in the policy folder", deleted.Message);
        Assert.Equal(ServerCodes.RepositoryNameInvalid, (await folder.Look("acme/..")).Code);
    }

    [Fact]
    public async Task ChangedFile_FoundByConcurrentRequests_IsCompiledOnce()
    {
        // Requests that find the same new content while it compiles wait for that compile instead of starting their
        // own: a policy this size takes tens of milliseconds or more to compile, so the eight threads overlap it.
        using var folder = new PolicyFolder();
        var file = folder.PathOf("acme", "web.yml");

        PolicyLookup[] LookConcurrently()
        {
            const int Threads = 8;
            var results = new PolicyLookup[Threads];
            using var start = new Barrier(Threads);
            var threads = Enumerable.Range(0, Threads).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                results[i] = folder.Look().GetAwaiter().GetResult();
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            return results;
        }

        File.WriteAllText(file, ManyEnvironments(100));
        await folder.CaughtUpAsync();
        var first = LookConcurrently();
        Assert.NotNull(first[0].Policy);
        Assert.All(first, l => Assert.Same(first[0], l));
        Assert.Equal(1, folder.Compiles);

        File.WriteAllText(file, ManyEnvironments(120));
        await folder.CaughtUpAsync();   // so no notice of the write drops the new compile after it is kept
        var edited = LookConcurrently();
        Assert.NotNull(edited[0].Policy);
        Assert.All(edited, l => Assert.Same(edited[0], l));
        Assert.NotEqual(first[0].Ref.Revision, edited[0].Ref.Revision);
        Assert.Equal(2, folder.Compiles);
        Assert.Same(edited[0], await folder.Look());
    }

    [Fact]
    public async Task FilesThatNameNoPolicy_KeepTheCompiledPolicies_AChangedPolicyFileDropsOnlyItsOwn()
    {
        // An editor's swap file beside a policy, or a note in the folder, must not make every repository compile its
        // policy again; a change the stat check cannot see (the same length and modification time) still applies.
        using var folder = new PolicyFolder();
        var api = folder.PathOf("acme", "api.yml");
        File.WriteAllText(folder.PathOf("acme", "web.yml"), TestPolicies.Web);
        File.WriteAllText(api, TestPolicies.Web);
        await folder.CaughtUpAsync();   // the writes' own notices are behind us

        var webFirst = await folder.Look("acme/web");
        await folder.Look("acme/api");
        Assert.Equal(2, folder.Compiles);

        File.WriteAllText(folder.PathOf("acme", ".web.yml.swp"), "swap");
        File.WriteAllText(folder.PathOf("notes.txt"), "notes");
        File.Move(folder.PathOf("notes.txt"), folder.PathOf("notes.md"));
        // Then a change only the watcher sees: api.yml's modification time set to what it was. Its notice comes after
        // the others', so once api.yml compiles again the watcher has dealt with the swap file and the notes too.
        File.SetLastWriteTimeUtc(api, File.GetLastWriteTimeUtc(api));
        await folder.LookUntil("acme/api", _ => folder.Compiles == 3);
        Assert.Equal(3, folder.Compiles);

        Assert.Same(webFirst, await folder.Look("acme/web"));
        Assert.Equal(3, folder.Compiles);
    }

    [Fact]
    public async Task OwnerFolderSwapped_DropsItsPolicies_EvenWithTheSameLengthAndTime()
    {
        // A folder of new policies renamed into place: its files may have the old ones' lengths and times, which the
        // stat check cannot tell apart, so the watcher's notice for the owner's folder drops them.
        using var folder = new PolicyFolder("acme", "acme-next");
        folder.WriteAlike(folder.PathOf("acme", "web.yml"), folder.PathOf("acme-next", "web.yml"));
        var before = (await folder.Look()).Ref.Revision;

        Directory.Move(folder.PathOf("acme"), folder.PathOf("acme-old"));
        Directory.Move(folder.PathOf("acme-next"), folder.PathOf("acme"));
        var expected = DirectoryPolicySource.Hash(File.ReadAllBytes(folder.PathOf("acme", "web.yml")));
        var after = (await folder.LookUntil("acme/web", l => l.Ref.Revision != before)).Ref.Revision;

        Assert.NotEqual(before, expected);
        Assert.Equal(expected, after);
    }

    [Fact]
    public async Task PolicyFilesLinkedThroughASwappedLink_AreDropped_AsAConfigMapVolumeUpdates()
    {
        // A Kubernetes ConfigMap volume: acme/web.yml -> ..data/web.yml, and an update renames a new ..data link over
        // the old one. Nothing named *.yml changes, and here the new file has the old one's length and time.
        using var folder = new PolicyFolder("acme", "acme/..v1", "acme/..v2");
        folder.WriteAlike(folder.PathOf("acme", "..v1", "web.yml"), folder.PathOf("acme", "..v2", "web.yml"));
        Directory.CreateSymbolicLink(folder.PathOf("acme", "..data"), "..v1");
        File.CreateSymbolicLink(folder.PathOf("acme", "web.yml"), Path.Combine("..data", "web.yml"));
        var before = (await folder.Look()).Ref.Revision;
        Assert.Equal(DirectoryPolicySource.Hash(File.ReadAllBytes(folder.PathOf("acme", "..v1", "web.yml"))), before);

        Directory.CreateSymbolicLink(folder.PathOf("acme", "..data_tmp"), "..v2");
        Assert.Equal(0, Rename(folder.PathOf("acme", "..data_tmp"), folder.PathOf("acme", "..data")));   // as kubelet does: rename(2)
        var expected = DirectoryPolicySource.Hash(File.ReadAllBytes(folder.PathOf("acme", "..v2", "web.yml")));
        var after = (await folder.LookUntil("acme/web", l => l.Ref.Revision != before)).Ref.Revision;

        Assert.NotEqual(before, expected);
        Assert.Equal(expected, after);
    }

    /// <summary>A policy folder of its own with the given subfolders (<c>acme</c> by default), its source, and the
    /// source's log, from which <see cref="Compiles"/> counts the policies it compiled.</summary>
    private sealed class PolicyFolder : IDisposable
    {
        private readonly string _root = Path.Combine(Path.GetTempPath(), "dg-policies-" + Guid.NewGuid().ToString("N"));
        private readonly LogCapture _log = new();
        private readonly ILoggerFactory _factory;
        private readonly DirectoryPolicySource _source;

        public PolicyFolder(params string[] folders)
        {
            foreach (var f in folders.Length == 0 ? ["acme"] : folders) Directory.CreateDirectory(PathOf(f));
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(PathOf(MarkerOwner)).FullName, "marker.yml"), TestPolicies.Web);
            _factory = LoggerFactory.Create(b => b.AddProvider(_log));
            _source = new DirectoryPolicySource(_root, _factory.CreateLogger<DirectoryPolicySource>());
        }

        // A policy of its own, written before the watcher starts, for CaughtUpAsync.
        private const string MarkerOwner = "zz-marker";
        private const string Marker = MarkerOwner + "/marker";

        /// <summary>The policies compiled so far, the marker's not counted.</summary>
        public int Compiles => _log.Lines.Count(l => l.Contains("[6200]", StringComparison.Ordinal) && !l.Contains($"Repository={Marker} ", StringComparison.Ordinal));

        private int MarkerCompiles => _log.Lines.Count(l => l.Contains("[6200]", StringComparison.Ordinal) && l.Contains($"Repository={Marker} ", StringComparison.Ordinal));

        /// <summary>Returns once the watcher has dealt with every change made before the call: the marker's modification
        /// time is set to what it was, a change only the watcher sees, and its notice comes after theirs.</summary>
        public async Task CaughtUpAsync()
        {
            await Look(Marker);
            var before = MarkerCompiles;
            var marker = PathOf(MarkerOwner, "marker.yml");
            File.SetLastWriteTimeUtc(marker, File.GetLastWriteTimeUtc(marker));
            await LookUntil(Marker, _ => MarkerCompiles > before);
            Assert.True(MarkerCompiles > before, "the watcher reported no change to the marker within 20 s");
        }

        public string PathOf(params string[] parts) => Path.Combine([_root, .. parts]);

        public Task<PolicyLookup> Look(string repository = "acme/web") =>
            _source.GetAsync(repository, GateHost.Start, revalidate: false, CancellationToken.None).AsTask();

        /// <summary>Asks until <paramref name="done"/> holds (the watcher's notices arrive on a thread of their own), for 20 s at most.</summary>
        public async Task<PolicyLookup> LookUntil(string repository, Func<PolicyLookup, bool> done)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            var lookup = await Look(repository);
            while (!done(lookup) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
                lookup = await Look(repository);
            }
            return lookup;
        }

        /// <summary>Two different policies of the same length and modification time.</summary>
        public void WriteAlike(string first, string second)
        {
            var time = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);
            foreach (var (file, marker) in new[] { (first, "# a\n"), (second, "# b\n") })
            {
                File.WriteAllText(file, TestPolicies.Web + marker);
                File.SetLastWriteTimeUtc(file, time);
            }
        }

        public void Dispose()
        {
            _source.Dispose();
            _factory.Dispose();
            Directory.Delete(_root, true);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string from, string to);

    /// <summary>A valid policy with <paramref name="environments"/> environments and ten identities for each.</summary>
    private static string ManyEnvironments(int environments)
    {
        var b = new System.Text.StringBuilder("version: 1\ntimezone: Europe/Berlin\nidentities:\n");
        for (var i = 0; i < environments * 10; i++) b.Append($"  i{i}: {{repository: acme/r{i}, workflow: acme/r{i}/.github/workflows/d.yml}}\n");
        b.Append("roles:\n");
        for (var e = 0; e < environments; e++)
            b.Append($"  deploy-{e}: {{ members: [{string.Join(", ", Enumerable.Range(e * 10, 10).Select(i => $"i{i}"))}] }}\n");
        b.Append("windows:\n  office:\n    weekly: { days: [mon, tue, wed, thu], from: \"09:00\", until: \"17:00\" }\nenvironments:\n");
        for (var e = 0; e < environments; e++)
            b.Append($"  env-{e}:\n    deploy: {{ roles: [deploy-{e}], windows: [office], targets: [\"aks/env-{e}-*\"] }}\n");
        return b.ToString();
    }

    [Theory]
    [InlineData("acme/web", true)]
    [InlineData("my-org/my.repo_name-2", true)]
    [InlineData("acme/..", false)]
    [InlineData("acme/web/extra", false)]
    public void RepositoryNames_FollowGitHubsCharacterSets(string repository, bool valid) =>
        Assert.Equal(valid, RepositoryNames.TrySplit(repository, out _, out _));
}
