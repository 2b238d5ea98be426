using Microsoft.AspNetCore.Http;
using System.Text.Json.Nodes;

namespace Tailor.Server;

/// <summary>
/// An error answered as OpenAI does: an HTTP status and <c>{"error": {"message", "type", "param", "code"}}</c>.
/// </summary>
/// <param name="Status">HTTP status code.</param>
/// <param name="Message">What went wrong and what to do, naming the field.</param>
/// <param name="Type">OpenAI's error type (<c>invalid_request_error</c>, <c>rate_limit_error</c>, <c>server_error</c>).</param>
/// <param name="Param">The request field at fault, or null.</param>
/// <param name="Code">A machine-readable code, or null.</param>
public sealed record ApiError(int Status, string Message, string Type, string? Param = null, string? Code = null)
{
    /// <summary>A 400 <c>invalid_request_error</c> about <paramref name="param"/>.</summary>
    public static ApiError BadRequest(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    /// <summary>The body: <c>{"error": {...}}</c>.</summary>
    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = Message,
            ["type"] = Type,
            ["param"] = Param,
            ["code"] = Code,
        },
    };
}

/// <summary>Thrown by request parsing and handlers; the endpoint wrapper answers it with <see cref="Error"/>.</summary>
public sealed class ApiException(ApiError error) : Exception(error.Message)
{
    /// <summary>The answer to send.</summary>
    public ApiError Error { get; } = error;
}
