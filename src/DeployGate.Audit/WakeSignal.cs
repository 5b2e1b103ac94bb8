namespace DeployGate.Audit;

/// <summary>Wakes one dedicated thread that waits for it, without spinning: an auto-reset signal (a <see cref="Set"/>
/// while nobody waits is kept for the next <see cref="Wait"/>; several are one). <see cref="SemaphoreSlim.Wait()"/>
/// spins before it blocks (<c>sched_yield</c>, then <c>Sleep(0)</c> and <c>Sleep(1)</c>), every time it is called;
/// on two cores at saturation the checkpointer's spinning alone was about a tenth of the gate's CPU samples
/// (docs/performance.md). For threads whose wake-up no answer waits on, a few microseconds more
/// to wake are worth nothing, and the cores are worth the requests'.</summary>
internal sealed class WakeSignal
{
    private readonly object _monitor = new();   // Monitor.Wait/Pulse: the waiter blocks in the kernel at once
    private bool _set;

    /// <summary>Wakes the waiter, or the next one to wait.</summary>
    public void Set()
    {
        lock (_monitor)
        {
            _set = true;
            Monitor.Pulse(_monitor);
        }
    }

    /// <summary>Waits until <see cref="Set"/> (true, and resets) or until <paramref name="timeoutMs"/> (false;
    /// <see cref="Timeout.Infinite"/> waits for ever, 0 only looks).</summary>
    public bool Wait(int timeoutMs)
    {
        lock (_monitor)
        {
            if (!_set && timeoutMs == Timeout.Infinite)
            {
                while (!_set) Monitor.Wait(_monitor);
            }
            else if (!_set && timeoutMs > 0)
            {
                var deadline = Environment.TickCount64 + timeoutMs;
                for (var left = timeoutMs; !_set && left > 0; left = (int)(deadline - Environment.TickCount64))
                {
                    Monitor.Wait(_monitor, left);
                }
            }
            var was = _set;
            _set = false;
            return was;
        }
    }
}
