using System.Collections.Frozen;
using DeployGate.Engine.Policies;

namespace DeployGate.Engine;

public sealed partial class CompiledPolicy
{
    private readonly FrozenDictionary<string, EnvironmentDef> _environments;

    internal CompiledPolicy(
        PolicyRef reference,
        string zone,
        IdentityDef[] identities,
        FrozenDictionary<string, int[]> roleMembers,
        int[][] rolesOfIdentity,
        string[] roleNames,
        DelegationDef[] delegations,
        EnvironmentDef[] environments)
    {
        Ref = reference;
        TimeZone = zone;
        Identities = identities;
        RoleMembers = roleMembers;
        RolesOfIdentity = rolesOfIdentity;
        RoleNames = roleNames;
        Delegations = delegations;
        _environments = environments.ToFrozenDictionary(e => e.Name, StringComparer.OrdinalIgnoreCase);
        EnvironmentNames = [.. environments.Select(e => e.Name)];
        HeldByMembership = [.. roleNames.Select(r => new HeldRole(r, "membership"))];
        MembershipPass = [.. roleNames.Select(r => new Check("role", CheckResult.Pass, null, $"holds role `{r}` through membership"))];
        RoleIndex = roleNames.Select((r, i) => (r, i)).ToFrozenDictionary(x => x.r, x => x.i, StringComparer.Ordinal);
    }

    internal Check[] MembershipPass { get; }
    internal FrozenDictionary<string, int> RoleIndex { get; }

    internal IdentityDef[] Identities { get; }
    internal FrozenDictionary<string, int[]> RoleMembers { get; }
    /// <summary>For identity i, the indexes (into <see cref="RoleNames"/>) of the roles it is a member of.</summary>
    internal int[][] RolesOfIdentity { get; }
    internal string[] RoleNames { get; }
    internal HeldRole[] HeldByMembership { get; }
    internal DelegationDef[] Delegations { get; }

    internal EnvironmentDef? FindEnvironment(string name) =>
        _environments.TryGetValue(name, out var env) ? env : null;

    internal IEnumerable<EnvironmentDef> AllEnvironments => _environments.Values;
}
