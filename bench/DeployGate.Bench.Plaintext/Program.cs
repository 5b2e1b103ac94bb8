// Kestrel plaintext baseline: the least an ASP.NET Core endpoint over loopback can cost. It is sent the same
// requests as the gate (same token header, same body), so the difference between the two is the gate's work.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
var app = builder.Build();
app.MapGet("/", () => "OK");
app.MapPost("/", () => "OK");
app.Run();
