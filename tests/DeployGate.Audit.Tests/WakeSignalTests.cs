using Xunit;

namespace DeployGate.Audit.Tests;

/// <summary>The wake-up of the audit log's checkpointer and query indexer: auto-reset, kept when nobody waits,
/// several Sets one wake-up, a timeout that returns false.</summary>
public sealed class WakeSignalTests
{
    [Fact]
    public void SetBeforeWait_IsKept_AndTakenByTheNextWaitOnly()
    {
        var signal = new WakeSignal();
        signal.Set();

        Assert.True(signal.Wait(0));
        Assert.False(signal.Wait(0));
    }

    [Fact]
    public void SeveralSets_WakeOnce()
    {
        var signal = new WakeSignal();
        signal.Set();
        signal.Set();
        signal.Set();

        Assert.True(signal.Wait(Timeout.Infinite));
        Assert.False(signal.Wait(0));
    }

    [Fact]
    public void WaitWithNoSet_ReturnsFalseAtItsTimeout()
    {
        var signal = new WakeSignal();

        Assert.False(signal.Wait(0));
        Assert.False(signal.Wait(20));
    }

    [Fact]
    public async Task SetFromAnotherThread_WakesAWaiterBlockedWithoutTimeout()
    {
        var signal = new WakeSignal();
        var entered = new ManualResetEventSlim();
        var waiter = Task.Factory.StartNew(() =>
        {
            entered.Set();
            return signal.Wait(Timeout.Infinite);
        }, TaskCreationOptions.LongRunning);
        entered.Wait();
        Assert.False(waiter.IsCompleted);   // nothing has set it: it cannot have returned yet

        signal.Set();

        Assert.True(await waiter.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.False(signal.Wait(0));   // the waiter took the one wake-up
    }

    [Fact]
    public async Task ManyRounds_EverySetIsSeenByTheWaiter_NoneLost()
    {
        // A ping-pong: the waiter acknowledges each wake-up and the setter waits for that before the next Set, so
        // every one of the Sets must come out of exactly one Wait; a lost wake-up hangs the round and fails the test.
        var signal = new WakeSignal();
        var ack = new WakeSignal();
        const int Rounds = 2_000;
        var waiter = Task.Factory.StartNew(() =>
        {
            var woken = 0;
            for (var i = 0; i < Rounds; i++)
            {
                if (signal.Wait(Timeout.Infinite)) woken++;
                ack.Set();
            }
            return woken;
        }, TaskCreationOptions.LongRunning);

        for (var i = 0; i < Rounds; i++)
        {
            signal.Set();
            Assert.True(ack.Wait(30_000), $"round {i}: the waiter did not wake");
        }

        Assert.Equal(Rounds, await waiter.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
