// Kestrel plaintext baseline: the least an ASP.NET Core endpoint over loopback can cost. It is sent the same
// requests as the gate (same token header, same body), so the difference between the two is the gate's work.
// With `--github-policy FILE` it is instead the GitHub REST API of the `example-github` target (see FakeGitHub.cs).
using DeployGate.Bench.Plaintext;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
var app = builder.Build();
app.MapGet("/", () => "OK");
app.MapPost("/", () => "OK");
if (builder.Configuration["github-policy"] is { } policy) FakeGitHub.Map(app, File.ReadAllBytes(policy));
app.Run();
