namespace DeployGate.Api; internal static class Placeholder { }
