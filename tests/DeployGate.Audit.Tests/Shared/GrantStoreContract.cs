using DeployGate.Audit.Grants;

namespace DeployGate.Audit.Tests.Shared;

/// <summary>The grant store contract (SPEC §7, §9), run against every store: single use across instances,
/// revocation wins, status, purge.</summary>
public abstract class GrantStoreContract : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 0, TimeSpan.Zero);
    private IStoreFixture? _store;
    private readonly List<IGrantStore> _opened = [];

    protected IStoreFixture Store => _store ?? throw new InvalidOperationException("not initialised");

    protected abstract IStoreFixture CreateStore();

    public Task InitializeAsync()
    {
        _store = CreateStore();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var grants in _opened)
        {
            if (grants is IAsyncDisposable a) await a.DisposeAsync();
            else (grants as IDisposable)?.Dispose();
        }
        if (_store is not null) await _store.DisposeAsync();
    }

    private IGrantStore Open()
    {
        var grants = Store.OpenGrants();
        _opened.Add(grants);
        return grants;
    }

    private static GrantRedemption Redemption(string jti, int second = 0) =>
        new(jti, "dec_1", "acme/web", "4242", T0.AddMinutes(10), T0.AddSeconds(second));

    [StoreFact]
    public async Task Redeem_First_Wins_Second_IsAlreadyRedeemed()
    {
        var grants = Open();

        Assert.Equal(RedeemOutcome.Redeemed, await grants.RedeemAsync(Redemption("g1", 1)));
        Assert.Equal(RedeemOutcome.AlreadyRedeemed, await grants.RedeemAsync(Redemption("g1", 2)));

        var status = await grants.GetStatusAsync("g1");
        Assert.Equal(T0.AddSeconds(1), status.RedeemedAt);   // the first redemption's instant is kept
        Assert.Null(status.RevokedAt);
    }

    [StoreFact]
    public async Task Unknown_IsUnused()
    {
        Assert.True((await Open().GetStatusAsync("never-seen")).IsUnused);
    }

    [StoreFact]
    public async Task Revoked_CannotBeRedeemed_AndRevocationIsIdempotent()
    {
        var grants = Open();
        await grants.RevokeAsync(new GrantRevocation("g2", "acme/web", "4242", T0.AddSeconds(5)));
        await grants.RevokeAsync(new GrantRevocation("g2", "acme/web", "4242", T0.AddSeconds(9)));

        Assert.Equal(RedeemOutcome.Revoked, await grants.RedeemAsync(Redemption("g2", 10)));
        var status = await grants.GetStatusAsync("g2");
        Assert.Equal(T0.AddSeconds(5), status.RevokedAt);
        Assert.Null(status.RedeemedAt);
    }

    [StoreFact]
    public async Task Redeemed_CanStillBeRevoked_AndThenReportsRevoked()
    {
        var grants = Open();
        Assert.Equal(RedeemOutcome.Redeemed, await grants.RedeemAsync(Redemption("g3", 1)));
        await grants.RevokeAsync(new GrantRevocation("g3", "acme/web", "4242", T0.AddSeconds(2)));

        var status = await grants.GetStatusAsync("g3");
        Assert.Equal(T0.AddSeconds(1), status.RedeemedAt);
        Assert.Equal(T0.AddSeconds(2), status.RevokedAt);
        Assert.Equal(RedeemOutcome.Revoked, await grants.RedeemAsync(Redemption("g3", 3)));
    }

    [StoreFact]
    public async Task ConcurrentRedeems_AcrossInstances_ExactlyOneWins()
    {
        // Three store instances over one store (three gate instances): 60 concurrent redemptions of one grant.
        IGrantStore[] instances = [Open(), Open(), Open()];

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 60).Select(i =>
            Task.Run(() => instances[i % 3].RedeemAsync(Redemption("contended", i)))));

        Assert.Equal(1, outcomes.Count(o => o == RedeemOutcome.Redeemed));
        Assert.Equal(59, outcomes.Count(o => o == RedeemOutcome.AlreadyRedeemed));
    }

    [StoreFact]
    public async Task Redemption_IsDurable_AcrossReopen()
    {
        Assert.Equal(RedeemOutcome.Redeemed, await Open().RedeemAsync(Redemption("g4")));

        Assert.Equal(RedeemOutcome.AlreadyRedeemed, await Open().RedeemAsync(Redemption("g4")));
    }

    [StoreFact]
    public async Task Purge_RemovesOnlyExpired()
    {
        var grants = Open();
        await grants.RedeemAsync(Redemption("old") with { ExpiresAt = T0.AddMinutes(1) });
        await grants.RedeemAsync(Redemption("new") with { ExpiresAt = T0.AddMinutes(30) });

        Assert.Equal(1, await grants.PurgeAsync(T0.AddMinutes(10)));

        Assert.True((await grants.GetStatusAsync("old")).IsUnused);
        Assert.NotNull((await grants.GetStatusAsync("new")).RedeemedAt);
    }
}

public sealed class SqliteGrantStoreContract : GrantStoreContract
{
    protected override IStoreFixture CreateStore() => new SqliteStoreFixture();
}

[RequiresPostgres]
public sealed class PostgresGrantStoreContract : GrantStoreContract
{
    protected override IStoreFixture CreateStore() => new PostgresStoreFixture();
}
