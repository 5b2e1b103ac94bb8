using DeployGate.Engine.Policies;

namespace DeployGate.Engine.Tests.Scheduling;

/// <summary>A compiled policy remembers, per window and freeze, the span its last answer holds for, and per rule its
/// last window deny and role failure (<see cref="TimeRule"/>, <see cref="WindowDenial"/>, <see cref="RoleDenial"/>). These must never change an answer: the same
/// policy asked over and over, in and out of the clock's order, decides exactly as a policy compiled afresh for each
/// request does.</summary>
public sealed class RememberedSpanTests
{
    private static readonly DecisionRequest Deploy = new(GateAction.Deploy, "e", "t");

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    public void RandomPolicies_DecideAsAFreshCompileDoes_InAnyOrder(int seed)
    {
        var random = new Random(seed);
        var remembered = 0;
        for (var p = 0; p < 40; p++)
        {
            var zone = TimelinePropertyTests.Zones[random.Next(TimelinePropertyTests.Zones.Length)];
            var yaml = TimelinePropertyTests.RandomPolicy(random, zone);
            var warm = TestSupport.Compile(yaml);
            foreach (var t in Walk(random, warm))
            {
                var fresh = TestSupport.Compile(yaml);
                var expected = DecisionJson.ToJson(Evaluator.Evaluate(fresh, Deploy, TestSupport.Claims(), t, "dec_span"));
                var actual = DecisionJson.ToJson(Evaluator.Evaluate(warm, Deploy, TestSupport.Claims(), t, "dec_span"));
                Assert.True(expected == actual, $"at {t:o} with policy:\n{yaml}\nfresh: {expected}\nwarm:  {actual}");
                remembered++;
            }
        }
        Assert.True(remembered >= 40 * 60);
    }

    /// <summary>A rule remembers its last role failure (<see cref="RoleDenial"/>). Callers that match different
    /// identities, none, or the same ones holding other roles as delegations start and end, in random order, must get
    /// the decision a fresh compile gives; and a repeated failure must be the remembered one.</summary>
    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    public void RoleFailures_DecideAsAFreshCompileDoes_ForChangingCallers(int seed)
    {
        const string yaml = """
            version: 1
            timezone: UTC
            identities:
              a:   { repository: acme/a }
              b:   { repository: acme/b }
              ci:  { repository: "acme/*", workflow: "acme/*/.github/workflows/ci.yml" }
              tag: { repository: "acme/*", ref: "refs/tags/*" }
            roles:
              dev:   { members: [a, b] }
              ops:   { members: [ci] }
              admin: { members: [] }
            delegations:
              - { role: admin, to: a, granted_by: alice, from: 2026-11-26T00:00:00Z, until: 2026-11-27T00:00:00Z }
              - { role: ops, to: b, granted_by: alice, from: 2026-11-25T12:00:00Z, until: 2026-11-28T00:00:00Z }
              - { role: dev, to: tag, granted_by: alice, until: 2026-11-26T12:00:00Z }
            environments:
              e:
                deploy: { roles: [admin] }
                secrets:
                  - { names: ["*"], roles: [admin, ops] }
            """;
        string[] repositories = ["acme/a", "acme/b", "acme/c", "evil/x"];
        string[] workflows = ["ci.yml", "release.yml"];
        string[] refs = ["refs/heads/main", "refs/tags/v1", "refs/heads/dev"];
        var random = new Random(seed);
        var warm = TestSupport.Compile(yaml);
        var repeated = 0;
        Decision? previous = null;
        for (var i = 0; i < 400; i++)
        {
            var repository = repositories[random.Next(repositories.Length)];
            var claims = TestSupport.Claims(repository, $"{repository}/.github/workflows/{workflows[random.Next(workflows.Length)]}",
                refs[random.Next(refs.Length)]);
            var request = random.Next(2) == 0 ? new DecisionRequest(GateAction.Deploy, "e") : new DecisionRequest(GateAction.ReadSecret, "e", Secret: "s");
            var t = TestSupport.Now.AddMinutes(random.Next(4 * 24 * 60));
            foreach (var _ in Enumerable.Range(0, random.Next(1, 3)))   // sometimes the same request twice in a row
            {
                var expected = DecisionJson.ToJson(Evaluator.Evaluate(TestSupport.Compile(yaml), request, claims, t, "dec_role"));
                var decision = Evaluator.Evaluate(warm, request, claims, t, "dec_role");
                Assert.True(expected == DecisionJson.ToJson(decision), $"{repository} {request.Action} at {t:o}\nfresh: {expected}\nwarm:  {DecisionJson.ToJson(decision)}");
                if (previous is not null && TestSupport.CheckOf(decision, "role") is { Result: CheckResult.Fail } failed
                    && ReferenceEquals(failed, TestSupport.CheckOf(previous, "role"))) repeated++;
                previous = decision;
            }
        }
        Assert.True(repeated >= 20, $"only {repeated} repeated failures answered from memory");
    }

    [Fact]
    public void ExamplePolicy_DecidesAsAFreshCompileDoes_ForEveryRule_OverAWeekInTheClocksOrder()
    {
        var yaml = File.ReadAllText(TestSupport.ExamplePath);
        var warm = TestSupport.Compile(yaml);
        var claims = TestSupport.Claims(environment: "production");
        DecisionRequest[] requests =
        [
            new(GateAction.Deploy, "production", Target: "aks/prod-eu-1"),
            new(GateAction.ReadSecret, "production", Secret: "prod/db/password"),
            new(GateAction.ReadSecret, "production", Secret: "prod/warehouse/orders"),
            new(GateAction.Deploy, "staging", Target: "aks/staging-1"),
        ];
        // Every 37 minutes across the year-end freeze's start and the Christmas holidays, both sides of midnight.
        for (var t = TestSupport.At("2026-12-16T06:00:00Z"); t < TestSupport.At("2026-12-27T00:00:00Z"); t = t.AddMinutes(37))
        {
            var fresh = TestSupport.Compile(yaml);
            foreach (var request in requests)
            {
                var expected = DecisionJson.ToJson(Evaluator.Evaluate(fresh, request, claims, t, "dec_span"));
                var actual = DecisionJson.ToJson(Evaluator.Evaluate(warm, request, claims, t, "dec_span"));
                Assert.True(expected == actual, $"{request.Action} {request.Secret} at {t:o}\nfresh: {expected}\nwarm:  {actual}");
            }
        }
    }

    [Fact]
    public void WindowDeny_IsRemembered_UntilTheOpeningItNames_AndNotBeyond()
    {
        var policy = TestSupport.Example();
        var claims = TestSupport.Claims(environment: "production");
        var request = new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1");
        Decision At(string instant) => Evaluator.Evaluate(policy, request, claims, TestSupport.At(instant), "dec_span");
        static Check Window(Decision d) => d.Checks.Single(c => c.Name == "window");

        var evening = At("2026-11-24T17:00:00Z");               // Tue 18:00 Berlin: closed since 17:00
        var night = At("2026-11-25T07:59:59.9999999Z");         // one tick before Wed 09:00 Berlin
        Assert.Equal(Verdict.Deny, evening.Verdict);
        Assert.Equal(TestSupport.At("2026-11-25T08:00:00Z"), evening.NextAllowedAt);
        Assert.Same(Window(evening), Window(night));            // the same span: the remembered check, no new search
        Assert.Equal(evening.NextAllowedAt, night.NextAllowedAt);

        var opening = At("2026-11-25T08:00:00Z");               // the opening itself is inside
        Assert.Equal(Verdict.Allow, opening.Verdict);
        Assert.Null(opening.NextAllowedAt);

        var nextEvening = At("2026-11-25T16:00:00Z");           // Wed 17:00 Berlin: a new span, a new opening
        Assert.Equal(TestSupport.At("2026-11-26T08:00:00Z"), nextEvening.NextAllowedAt);
        Assert.NotSame(Window(evening), Window(nextEvening));

        var back = At("2026-11-24T15:59:59Z");                  // Tue 16:59:59 Berlin, earlier than any remembered span: still inside
        Assert.Equal(Verdict.Allow, back.Verdict);
    }

    [Fact]
    public void FreezeDeny_IsRemembered_WhileTheSameFreezesCover()
    {
        var policy = TestSupport.Example();
        var claims = TestSupport.Claims(environment: "production");
        var request = new DecisionRequest(GateAction.Deploy, "production", Target: "aks/prod-eu-1");
        Check Freeze(string instant) =>
            Evaluator.Evaluate(policy, request, claims, TestSupport.At(instant), "dec_span").Checks.Single(c => c.Name == "freeze");

        var monday = Freeze("2026-12-21T09:00:00Z");
        Assert.Equal("frozen by `year-end` until 2027-01-04T00:00:00+01:00", monday.Message);
        Assert.Same(monday, Freeze("2026-12-22T15:00:00Z"));
        var christmasEve = Freeze("2026-12-24T09:00:00Z");     // the holidays freeze covers it too
        Assert.Equal("frozen by `year-end` until 2027-01-04T00:00:00+01:00 (and 1 more freeze)", christmasEve.Message);
        Assert.Equal(monday.Message, Freeze("2026-12-27T09:00:00Z").Message);   // Sunday, after the holidays
        Assert.Equal(christmasEve.Message, Freeze("2026-12-24T12:00:00Z").Message);   // back again
    }

    [Fact]
    public void FreezeDeny_BeyondTheHorizon_IsNotRemembered_ForTheHorizonMovesWithTheInstant()
    {
        var yaml = """
            version: 1
            timezone: UTC
            identities:
              any: { repository: "**" }
            roles:
              r: { members: [any] }
            freezes:
              - name: moratorium
                from: 2026-01-01T00:00
                until: 2028-06-01T00:00
            environments:
              e: { deploy: { roles: [r] } }
            """;
        var warm = TestSupport.Compile(yaml);
        string Freeze(CompiledPolicy policy, string instant) => Evaluator.Evaluate(policy, Deploy, TestSupport.Claims(),
            TestSupport.At(instant), "dec_span").Checks.Single(c => c.Name == "freeze").Message;

        Assert.Equal("frozen by `moratorium` for the next 366 days", Freeze(warm, "2026-03-01T00:00:00Z"));
        Assert.Equal("frozen by `moratorium` until 2028-06-01T00:00:00+00:00", Freeze(warm, "2027-07-01T00:00:00Z"));
        Assert.Equal(Freeze(TestSupport.Compile(yaml), "2027-07-01T00:00:00Z"), Freeze(warm, "2027-07-01T00:00:00Z"));
    }

    [Fact]
    public void WindowDeny_DoesNotAnswerForAnEarlierInstant_WhereAnotherOpeningComesFirst()
    {
        var policy = TestSupport.Compile("""
            version: 1
            timezone: UTC
            identities:
              any: { repository: "**" }
            roles:
              r: { members: [any] }
            windows:
              short:
                schedule: "*/20 * * * *"
                duration: 5m
            environments:
              e: { deploy: { roles: [r], windows: [short] } }
            """);
        Decision At(string instant) => Evaluator.Evaluate(policy, Deploy, TestSupport.Claims(), TestSupport.At(instant), "dec_span");

        Assert.Equal(TestSupport.At("2026-11-25T10:40:00Z"), At("2026-11-25T10:26:00Z").NextAllowedAt);   // remembered
        Assert.Equal(TestSupport.At("2026-11-25T10:20:00Z"), At("2026-11-25T10:19:00Z").NextAllowedAt);   // closed too, but earlier
        Assert.Equal(Verdict.Allow, At("2026-11-25T10:21:00Z").Verdict);
        Assert.Equal(TestSupport.At("2026-11-25T10:40:00Z"), At("2026-11-25T10:39:59Z").NextAllowedAt);
    }

    /// <summary>What a time rule remembers must never change its answers: membership and the next opening as the set
    /// says, and <see cref="TimeRule.CloseAfter"/> (which searches growing spans) what one search over the whole horizon
    /// says: the end of the merged interval covering the instant, or null when that lies beyond the horizon.</summary>
    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    [InlineData(23)]
    public void TimeRule_RememberedMembershipNextOpeningAndClose_MatchTheSet(int seed)
    {
        var random = new Random(seed);
        for (var p = 0; p < 40; p++)
        {
            var zone = TimelinePropertyTests.Zones[random.Next(TimelinePropertyTests.Zones.Length)];
            var yaml = TimelinePropertyTests.RandomPolicy(random, zone);
            var policy = TestSupport.Compile(yaml);
            var env = policy.FindEnvironment("e")!;
            var rules = env.Deploy!.Windows.Concat(env.FreezesFor(GateAction.Deploy).Select(f => f.Rule)).ToArray();
            foreach (var t in Walk(random, policy))
            {
                foreach (var rule in rules)
                {
                    var inside = rule.Set.Contains(t, out _);
                    Assert.True(inside == rule.Contains(t), $"{rule.Name} at {t:o}:\n{yaml}");
                    var horizon = random.Next(2) == 0 ? Timeline.Horizon : TimeSpan.FromDays(random.Next(1, 30));
                    if (inside)
                    {
                        var whole = rule.IntervalsIn(t, t + horizon).First(i => i.Start <= t && t < i.End);
                        DateTimeOffset? closes = whole.End < t + horizon ? whole.End : null;
                        Assert.True(closes == rule.CloseAfter(t, horizon), $"{rule.Name} closes after {t:o} within {horizon}:\n{yaml}");
                    }
                    else
                    {
                        Assert.True(rule.Search(t, horizon) == rule.NextOpening(t, horizon), $"{rule.Name} next opening from {t:o} within {horizon}:\n{yaml}");
                    }
                }
            }
        }
    }

    [Fact]
    public void Freeze_WhoseDaysTouchAtTheEndOfASearchedSpan_EndsAfterTheLastDay()
    {
        // Monday, Tuesday and Wednesday, each 00:00–24:00: one frozen span until Thursday 00:00. Asked at Monday 00:00,
        // the first span searched (two days) ends exactly where Wednesday's interval starts.
        var policy = TestSupport.Compile("""
            version: 1
            timezone: UTC
            identities: { any: { repository: "**" } }
            roles: { r: { members: [any] } }
            freezes:
              - name: early-week
                weekly: { days: [mon, tue, wed], from: "00:00", until: "24:00" }
            environments:
              e: { deploy: { roles: [r] } }
            """);
        foreach (var at in new[] { "2026-11-30T00:00:00Z", "2026-11-30T13:00:00Z", "2026-12-01T00:00:00Z", "2026-12-02T23:59:59Z" })
        {
            var d = TestSupport.Decide(policy, Deploy, TestSupport.Claims(), at);
            Assert.Equal("frozen by `early-week` until 2026-12-03T00:00:00+00:00", TestSupport.CheckOf(d, "freeze").Message);
            Assert.Equal(TestSupport.At("2026-12-03T00:00:00Z"), d.NextAllowedAt);
        }
    }

    [Fact]
    public void NextAllowed_PastMoreFrozenOpeningsThanItSteps_IsTheTimelinesFirstOpening()
    {
        // Every opening of `daily` is frozen (the freeze covers 08:00–11:00 each day); `monthly` opens on the 1st at
        // 12:00. From 2 December that is a month of frozen openings, more than the stepping search takes, so the
        // answer comes from the timeline.
        var policy = TestSupport.Compile("""
            version: 1
            timezone: Europe/Berlin
            identities: { any: { repository: "**" } }
            roles: { r: { members: [any] } }
            windows:
              daily: { weekly: { days: [mon, tue, wed, thu, fri, sat, sun], from: "09:00", until: "10:00" } }
              monthly: { schedule: "0 12 1 * *", duration: 1h }
            freezes:
              - name: mornings
                weekly: { days: [mon, tue, wed, thu, fri, sat, sun], from: "08:00", until: "11:00" }
            environments:
              e: { deploy: { roles: [r], windows: [daily, monthly] } }
            """);
        var fromNight = TestSupport.Decide(policy, Deploy, TestSupport.Claims(), "2026-12-02T02:00:00Z");
        var fromFreeze = TestSupport.Decide(policy, Deploy, TestSupport.Claims(), "2026-12-05T08:30:00Z");
        Assert.Equal(TestSupport.At("2027-01-01T11:00:00Z"), fromNight.NextAllowedAt);
        Assert.Equal(TestSupport.At("2027-01-01T11:00:00Z"), fromFreeze.NextAllowedAt);
        Assert.Equal(Timeline.Open(policy, "e", GateAction.Deploy, TestSupport.At("2026-12-02T02:00:00Z"),
            TestSupport.At("2027-12-02T02:00:00Z"))[0].Start, fromNight.NextAllowedAt);
    }

    /// <summary>60 instants: mostly forward in small steps (the clock's order, crossing openings and closings), some
    /// a little back (requests decided out of order), some anywhere in 2026–2027, and the instants on either side of
    /// each next opening a deny names (half-open ends).</summary>
    private static IEnumerable<DateTimeOffset> Walk(Random random, CompiledPolicy policy)
    {
        var t = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(random.Next(0, 2 * 365 * 24 * 60));
        for (var i = 0; i < 60; i++)
        {
            yield return t;
            var next = Evaluator.Evaluate(policy, Deploy, TestSupport.Claims(), t, "dec_walk").NextAllowedAt;
            var roll = random.Next(20);
            if (next is { } n && roll < 4)
            {
                yield return n - TimeSpan.FromTicks(1);
                yield return n;
                t = n + TimeSpan.FromTicks(1);
            }
            else if (roll < 15) t = t.AddMinutes(random.Next(1, 600)).AddSeconds(random.Next(60));
            else if (roll < 18) t = t.AddMinutes(-random.Next(1, 180));
            else t = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(random.Next(0, 2 * 365 * 24 * 60));
        }
    }
}
