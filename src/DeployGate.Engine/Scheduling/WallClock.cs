namespace DeployGate.Engine.Scheduling;

/// <summary>Maps wall-clock times in an IANA zone to instants, per SPEC §2:
/// a time in a spring-forward gap maps to the first instant after the gap; an ambiguous time in a
/// fall-back overlap maps to its first occurrence.</summary>
internal static class WallClock
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    public static DateTimeOffset ToInstant(DateTime wall, TimeZoneInfo zone) => ToInstant(wall, ZoneOffsets.Of(zone));

    /// <summary>As the other overload; the time sets hold their zone's <see cref="ZoneOffsets"/>.</summary>
    public static DateTimeOffset ToInstant(DateTime wall, ZoneOffsets zone)
    {
        wall = DateTime.SpecifyKind(wall, DateTimeKind.Unspecified);
        var asUtc = new DateTimeOffset(wall, TimeSpan.Zero);
        var early = zone.At(asUtc - Day);
        var late = zone.At(asUtc + Day);
        if (early == late)
        {
            var only = new DateTimeOffset(wall - early, TimeSpan.Zero);
            if (zone.At(only) == early) return only;
            return Slow(wall, zone); // two transitions within two days: rare zone histories
        }

        var byEarly = new DateTimeOffset(wall - early, TimeSpan.Zero);
        var byLate = new DateTimeOffset(wall - late, TimeSpan.Zero);
        var earlyValid = zone.At(byEarly) == early;
        var lateValid = zone.At(byLate) == late;
        if (earlyValid && lateValid) return byEarly < byLate ? byEarly : byLate; // overlap: first occurrence
        if (earlyValid) return byEarly;
        if (lateValid) return byLate;
        // Gap: the transition lies between the two candidates; it is the first instant after the gap.
        return byEarly < byLate ? Transition(zone, byEarly, byLate) : Transition(zone, byLate, byEarly);
    }

    private static DateTimeOffset Slow(DateTime wall, ZoneOffsets zone)
    {
        var asUtc = new DateTimeOffset(wall, TimeSpan.Zero);
        DateTimeOffset? best = null;
        for (var h = -48; h <= 48; h += 3)
        {
            var offset = zone.At(asUtc.AddHours(h));
            var candidate = new DateTimeOffset(wall - offset, TimeSpan.Zero);
            if (zone.At(candidate) == offset && (best is null || candidate < best)) best = candidate;
        }
        if (best is { } found) return found;
        for (var m = 1; m <= 48 * 60; m++) // gap: the first valid wall time after it
        {
            var w = wall.AddMinutes(m);
            if (!zone.Zone.IsInvalidTime(w)) return ToInstant(w, zone);
        }
        return new DateTimeOffset(wall - zone.Zone.BaseUtcOffset, TimeSpan.Zero);
    }

    /// <summary>The first instant in (lo, hi] whose offset differs from lo's (second precision).</summary>
    private static DateTimeOffset Transition(ZoneOffsets zone, DateTimeOffset lo, DateTimeOffset hi)
    {
        var before = zone.At(lo);
        var loS = lo.ToUnixTimeSeconds();
        var hiS = hi.ToUnixTimeSeconds();
        while (hiS - loS > 1)
        {
            var mid = loS + ((hiS - loS) / 2);
            if (zone.At(DateTimeOffset.FromUnixTimeSeconds(mid)) == before) loS = mid; else hiS = mid;
        }
        return DateTimeOffset.FromUnixTimeSeconds(hiS);
    }

    /// <summary>The wall-clock time of an instant in a zone: what <see cref="TimeZoneInfo.ConvertTime(DateTimeOffset, TimeZoneInfo)"/>
    /// gives (clamped to the range of <see cref="DateTime"/>), from the remembered offsets.</summary>
    public static DateTime ToWall(DateTimeOffset instant, ZoneOffsets zone)
    {
        var ticks = instant.UtcTicks + zone.At(instant).Ticks;
        return ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks
            ? TimeZoneInfo.ConvertTime(instant, zone.Zone).DateTime
            : new DateTime(ticks, DateTimeKind.Unspecified);
    }
}
