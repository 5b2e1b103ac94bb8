namespace DeployGate.Engine.Scheduling;

/// <summary>An instant as the wall clock of a zone shows it, in the form deny messages use
/// (<c>yyyy-MM-dd'T'HH:mm:sszzz</c>, e.g. <c>2026-12-03T09:00:00+01:00</c>). Interpolated into a message it writes its
/// 25 characters straight into the message's buffer, with the offset from <see cref="ZoneOffsets"/>: the custom
/// format through <see cref="TimeZoneInfo.ConvertTime(DateTimeOffset, TimeZoneInfo)"/> was ~5 % of a decision at an
/// arbitrary instant (a window deny names the next opening, a freeze deny its end). Same text as that format
/// (<c>LocalTimeTests</c> compares them in every zone).</summary>
internal readonly struct LocalTime(DateTimeOffset instant, ZoneOffsets zone) : ISpanFormattable
{
    public const int Length = 25;

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        if (destination.Length < Length) return false;
        var offset = zone.At(instant);
        var ticks = instant.UtcTicks + offset.Ticks;
        if (ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks || offset.Ticks % TimeSpan.TicksPerMinute != 0)
        {
            // At the ends of time, as ConvertTime clamps them, and offsets of whole seconds (local mean time before a
            // zone's first rule, e.g. Berlin's +00:53:28), which it rounds to the minute: never a request's instant.
            return TimeZoneInfo.ConvertTime(instant, zone.Zone)
                .TryFormat(destination, out charsWritten, "yyyy-MM-dd'T'HH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture);
        }
        IsoDigits.DateAndTime(destination, new DateTime(ticks, DateTimeKind.Unspecified));
        destination[19] = offset < TimeSpan.Zero ? '-' : '+';
        var minutes = (int)Math.Abs(offset.Ticks / TimeSpan.TicksPerMinute);
        IsoDigits.Digits(destination.Slice(20, 2), minutes / 60);
        destination[22] = ':';
        IsoDigits.Digits(destination.Slice(23, 2), minutes % 60);
        charsWritten = Length;
        return true;
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public override string ToString() => string.Create(Length, this, static (span, t) => t.TryFormat(span, out _, default, null));
}
