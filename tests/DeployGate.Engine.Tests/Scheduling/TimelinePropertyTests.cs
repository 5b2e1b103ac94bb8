using System.Globalization;
using System.Text;

namespace DeployGate.Engine.Tests.Scheduling;

/// <summary>For random policies and instants, the timeline (<c>deploygate windows</c>) and the point
/// decision (<c>deploygate explain</c>) never disagree; the evaluator never errors; a deny always has a
/// failing check; and <c>next_allowed_at</c> is the first instant the time checks pass.</summary>
public sealed class TimelinePropertyTests
{
    internal static readonly string[] Zones =
        ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kolkata", "Pacific/Chatham", "UTC"];
    private static readonly string[] Days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomPolicies_TimelineAndDecisionAgree(int seed)
    {
        var random = new Random(seed);
        var checkedInstants = 0;
        for (var p = 0; p < 60; p++)
        {
            var zone = Zones[random.Next(Zones.Length)];
            var yaml = RandomPolicy(random, zone);
            var load = PolicyLoader.Load(yaml, "random.yml", TestSupport.Now);
            Assert.False(load.HasErrors, yaml + "\n" + string.Join("\n", load.Diagnostics));
            var policy = load.Policy!;
            var tz = TimeZoneInfo.FindSystemTimeZoneById(zone);

            foreach (var t in Instants(random, tz))
            {
                var decision = Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "e", "t"), TestSupport.Claims(), t, "dec_prop");
                Assert.DoesNotContain(decision.Checks, c => c.Code == "DG2900");
                Assert.Equal(decision.Verdict == Verdict.Deny, decision.Checks.Any(c => c.Result == CheckResult.Fail));

                var timeOk = TimePasses(decision);
                var around = Timeline.Open(policy, "e", GateAction.Deploy, t - TimeSpan.FromDays(9), t + TimeSpan.FromDays(9));
                var inTimeline = around.Any(i => i.Start <= t && t < i.End);
                Assert.True(timeOk == inTimeline, $"{Describe(yaml, t)}\ndecision says {(timeOk ? "open" : "closed")}, timeline says {(inTimeline ? "open" : "closed")}");

                if (!timeOk)
                {
                    // next_allowed_at is where the time checks first pass, whatever instant the timeline starts from.
                    var next = decision.NextAllowedAt;
                    var fromEarlier = Timeline.Open(policy, "e", GateAction.Deploy, t - TimeSpan.FromDays(3), t + Timeline.Horizon)
                        .Where(i => i.End > t).Select(i => (DateTimeOffset?)(i.Start > t ? i.Start : t)).FirstOrDefault();
                    Assert.True(fromEarlier == next, $"{Describe(yaml, t)}\nnext_allowed_at {next:o}, timeline {fromEarlier:o}");
                    if (next is { } n)
                    {
                        Assert.True(n > t, Describe(yaml, t));
                        Assert.True(TimePasses(Decide(policy, n)), $"{Describe(yaml, t)}\nnot open at next_allowed_at {n:o}");
                        Assert.False(TimePasses(Decide(policy, n - TimeSpan.FromSeconds(1))), $"{Describe(yaml, t)}\nalready open before {n:o}");
                    }
                }
                checkedInstants++;
            }
        }
        Assert.True(checkedInstants >= 60 * 30);
    }

    private static Decision Decide(CompiledPolicy policy, DateTimeOffset t) =>
        Evaluator.Evaluate(policy, new DecisionRequest(GateAction.Deploy, "e", "t"), TestSupport.Claims(), t, "dec_prop");

    private static bool TimePasses(Decision d) =>
        d.Checks.Where(c => c.Name is "window" or "freeze").All(c => c.Result is CheckResult.Pass or CheckResult.NotApplicable);

    private static string Describe(string yaml, DateTimeOffset t) => $"at {t:o} with policy:\n{yaml}";

    /// <summary>Instants near the zone's transitions in 2026 (±3 h, minute-aligned and odd seconds)
    /// and anywhere in 2026–2027.</summary>
    private static IEnumerable<DateTimeOffset> Instants(Random random, TimeZoneInfo zone)
    {
        var transitions = new List<DateTimeOffset>();
        var t = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var offset = zone.GetUtcOffset(t);
        for (var h = 0; h < 366 * 24; h++)
        {
            var u = t.AddHours(h);
            var o = zone.GetUtcOffset(u);
            if (o != offset) transitions.Add(u);
            offset = o;
        }
        for (var i = 0; i < 30; i++)
        {
            if (transitions.Count > 0 && i % 3 != 0)
            {
                var near = transitions[random.Next(transitions.Count)];
                var minutes = random.Next(-180, 181);
                yield return near.AddMinutes(minutes).AddSeconds(random.Next(4) == 0 ? random.Next(60) : 0);
            }
            else
            {
                yield return new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(random.Next(0, 2 * 365 * 24 * 60));
            }
        }
    }

    internal static string RandomPolicy(Random r, string zone)
    {
        var b = new StringBuilder();
        b.AppendLine("version: 1").AppendLine(CultureInfo.InvariantCulture, $"timezone: {zone}");
        b.AppendLine("identities:\n  any: { repository: \"**\" }\nroles:\n  r: { members: [any] }");
        var windowCount = r.Next(0, 3);
        if (windowCount > 0) b.AppendLine("windows:");
        for (var i = 0; i < windowCount; i++)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"  w{i}:");
            if (r.Next(2) == 0) b.AppendLine(CultureInfo.InvariantCulture, $"    weekly: {Weekly(r)}");
            else b.AppendLine(CultureInfo.InvariantCulture, $"    schedule: \"{Cron(r)}\"\n    duration: {Duration(r)}");
        }
        var freezeCount = r.Next(0, 3);
        if (freezeCount > 0) b.AppendLine("freezes:");
        for (var i = 0; i < freezeCount; i++)
        {
            b.AppendLine(CultureInfo.InvariantCulture, $"  - name: f{i}");
            switch (r.Next(4))
            {
                case 0:
                    var from = new DateTime(2026, 1, 1).AddHours(r.Next(0, 2 * 365 * 24)).AddMinutes(r.Next(0, 60));
                    var until = from.AddMinutes(r.Next(1, 30 * 24 * 60));
                    b.AppendLine(CultureInfo.InvariantCulture, $"    from: {from:yyyy-MM-dd'T'HH:mm}\n    until: {until:yyyy-MM-dd'T'HH:mm}");
                    break;
                case 1:
                    b.AppendLine(CultureInfo.InvariantCulture, $"    weekly: {Weekly(r)}");
                    break;
                case 2:
                    var dates = Enumerable.Range(0, r.Next(1, 6)).Select(_ => new DateOnly(2026, 1, 1).AddDays(r.Next(0, 730)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                    b.AppendLine(CultureInfo.InvariantCulture, $"    dates: [{string.Join(", ", dates)}]");
                    break;
                default:
                    b.AppendLine(CultureInfo.InvariantCulture, $"    schedule: \"{Cron(r)}\"\n    duration: {Duration(r)}");
                    break;
            }
            if (r.Next(3) == 0) b.AppendLine(CultureInfo.InvariantCulture, $"    timezone: {Zones[r.Next(Zones.Length)]}");
        }
        var windows = Enumerable.Range(0, windowCount).Where(_ => r.Next(3) > 0).Select(i => $"w{i}").ToList();
        b.AppendLine(CultureInfo.InvariantCulture, $"environments:\n  e:\n    deploy: {{ roles: [r]{(windows.Count > 0 ? $", windows: [{string.Join(", ", windows)}]" : "")} }}");
        return b.ToString();
    }

    private static string Weekly(Random r)
    {
        var days = Days.Where(_ => r.Next(3) == 0).ToList();
        if (days.Count == 0) days.Add(Days[r.Next(7)]);
        // Times that often land in DST gaps and overlaps (00:00–03:59), on the half and quarter hours.
        string Time() => $"{(r.Next(2) == 0 ? r.Next(0, 4) : r.Next(0, 24)):00}:{r.Next(4) * 15:00}";
        var until = r.Next(8) == 0 ? "24:00" : Time();
        return $"{{ days: [{string.Join(", ", days)}], from: \"{Time()}\", until: \"{until}\" }}";
    }

    private static string Cron(Random r) => r.Next(3) switch
    {
        0 => $"{r.Next(4) * 15} {r.Next(0, 4)} * * *",
        1 => $"*/{new[] { 15, 20, 30 }[r.Next(3)]} {r.Next(0, 24)} * * {r.Next(0, 7)}",
        _ => $"{r.Next(60)} {r.Next(24)} {r.Next(1, 29)} * *",
    };

    private static string Duration(Random r) => r.Next(3) switch
    {
        0 => $"{r.Next(1, 120)}m",
        1 => $"{r.Next(1, 30)}h",
        _ => $"{r.Next(1, 3)}h{r.Next(1, 59)}m",
    };
}
