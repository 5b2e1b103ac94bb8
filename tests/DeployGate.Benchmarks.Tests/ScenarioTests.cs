using DeployGate.Engine;

namespace DeployGate.Benchmarks.Tests;

/// <summary>The in-process scenarios are the decisions docs/performance.md (*Method*) says they are: a figure for an
/// allow that had become a deny, or a freeze deny that no longer met a freeze, would be a figure for something else.</summary>
public sealed class ScenarioTests
{
    private static readonly Scenario[] All = Scenario.All();

    private static Scenario Named(string name) => All.Single(s => s.Name == name);

    private static bool Fails(Decision d, string check) => d.Checks.Any(c => c.Name == check && c.Result == CheckResult.Fail);

    [Theory]
    [InlineData("example/deploy")]
    [InlineData("example/read-secret")]
    [InlineData("large/deploy")]
    [InlineData("large/read-secret")]
    public void TheFourAllows_AreAllowsInsideAWindow(string name)
    {
        var d = Named(name).Decide();
        Assert.Equal(Verdict.Allow, d.Verdict);
        Assert.Contains(d.Checks, c => c.Name == "window" && c.Result == CheckResult.Pass);
    }

    [Theory]
    [InlineData("example/deploy-night")]
    [InlineData("large/deploy-night")]
    public void NightDenies_AreWindowDenies_ThatSayWhenTheyWouldNextBeAllowed(string name)
    {
        var d = Named(name).Decide();
        Assert.Equal(Verdict.Deny, d.Verdict);
        Assert.True(Fails(d, "window"));
        Assert.False(Fails(d, "freeze"));
        Assert.NotNull(d.NextAllowedAt);
    }

    [Theory]
    [InlineData("example/deploy-frozen")]
    [InlineData("large/deploy-frozen")]
    public void FrozenDenies_AreInsideTheYearEndFreeze_AndNextAllowedAfterIt(string name)
    {
        var d = Named(name).Decide();
        Assert.Equal(Verdict.Deny, d.Verdict);
        Assert.True(Fails(d, "freeze"));
        Assert.Contains(d.Checks, c => c.Name == "window" && c.Result == CheckResult.Pass);
        Assert.True(d.NextAllowedAt >= new DateTimeOffset(2027, 1, 3, 23, 0, 0, TimeSpan.Zero), $"next allowed {d.NextAllowedAt:o}");
    }

    [Theory]
    [InlineData("example/deploy-anytime")]
    [InlineData("large/deploy-anytime")]
    [InlineData("holidays/deploy-anytime")]
    public void AnytimeScenarios_MixAllowsAndDenies_OverInstantsSpreadOverAYear(string name)
    {
        var s = Named(name);
        Assert.NotNull(s.Instants);
        Assert.Equal(4096, s.Instants!.Distinct().Count());
        Assert.True(s.Instants.Max() - s.Instants.Min() > TimeSpan.FromDays(360));
        var verdicts = Enumerable.Range(0, s.Instants.Length).Select(_ => s.Decide().Verdict).ToList();
        Assert.Contains(Verdict.Allow, verdicts);
        Assert.Contains(Verdict.Deny, verdicts);
    }

    [Fact]
    public void TheHolidaysPolicy_ListsFourHundredDates_AndItsFreezeDeniesOnThem()
    {
        var example = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "web.yml"));
        var yaml = Scenario.WithHolidays(example, 400);
        var list = yaml.Split('\n').Single(l => l.TrimStart().StartsWith("dates:", StringComparison.Ordinal));
        var dates = list[(list.IndexOf('[') + 1)..list.IndexOf(']')].Split(',', StringSplitOptions.TrimEntries).Select(DateOnly.Parse).ToList();
        Assert.Equal(400, dates.Distinct().Count());
        Assert.True(dates.Min() <= new DateOnly(2021, 1, 1) && dates.Max() >= new DateOnly(2030, 12, 1));

        var load = PolicyLoader.Load(yaml, "holidays.yml", new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero));
        Assert.False(load.HasErrors, string.Join("\n", load.Diagnostics));
        var holidays = Named("holidays/deploy-anytime");
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        // February to November, away from the year-end freeze, whose name a deny would give first.
        var checkedDays = 0;
        foreach (var day in dates.Where(d => d.Year is 2027 or 2028 && d.Month is >= 2 and <= 11))
        {
            checkedDays++;
            var noon = new DateTimeOffset(day.ToDateTime(new TimeOnly(12, 0)), berlin.GetUtcOffset(day.ToDateTime(new TimeOnly(12, 0))));
            var d = Evaluator.Evaluate(load.Policy!, holidays.Request, holidays.Claims, noon, "dec_test");
            Assert.True(d.Checks.Any(c => c.Name == "freeze" && c.Result == CheckResult.Fail && c.Message.Contains("holidays", StringComparison.Ordinal)),
                $"{day}: {string.Join("; ", d.Checks.Select(c => $"{c.Name} {c.Result} {c.Message}"))}");
        }
        Assert.True(checkedDays >= 50, $"{checkedDays} days checked");
    }
}
