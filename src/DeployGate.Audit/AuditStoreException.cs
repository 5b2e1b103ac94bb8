namespace DeployGate.Audit;

/// <summary>Broken storage infrastructure, carrying a <see cref="StoreCodes"/> code. Callers fail closed:
/// a request whose decision could not be recorded is answered 503 (deny) with <see cref="Code"/>.</summary>
public sealed class AuditStoreException : Exception
{
    public AuditStoreException()
        : this(StoreCodes.Unavailable, "audit store unavailable")
    {
    }

    public AuditStoreException(string message)
        : this(StoreCodes.Unavailable, message)
    {
    }

    public AuditStoreException(string message, Exception innerException)
        : this(StoreCodes.Unavailable, message, innerException)
    {
    }

    public AuditStoreException(string code, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        Code = code;
    }

    /// <summary>One of <see cref="StoreCodes"/>, e.g. <c>DG5001</c>.</summary>
    public string Code { get; }
}
