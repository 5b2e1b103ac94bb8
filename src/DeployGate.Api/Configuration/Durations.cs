using System.Globalization;

namespace DeployGate.Api;

/// <summary>Durations as users write them: <c>90s</c>, <c>5m</c>, <c>1h</c>, <c>2d</c>, or <c>hh:mm:ss</c>.</summary>
public static class Durations
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        var unit = text[^1];
        if (char.IsAsciiLetter(unit))
        {
            if (!long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return false;
            long? seconds = unit switch { 's' => n, 'm' => n * 60, 'h' => n * 3600, 'd' => n * 86400, _ => null };
            if (seconds is null || n > 10_000_000) return false;
            value = TimeSpan.FromSeconds(seconds.Value);
            return true;
        }
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
    }
}
