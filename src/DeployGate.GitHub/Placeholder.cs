namespace DeployGate.GitHub; internal static class Placeholder { }
