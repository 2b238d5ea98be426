namespace Tailor.Text;

/// <summary>Who speaks in a chat message. ChatML writes these as <c>system</c>, <c>user</c> and <c>assistant</c>.</summary>
public enum ChatRole
{
    /// <summary>Instructions that frame the conversation.</summary>
    System,

    /// <summary>The person asking.</summary>
    User,

    /// <summary>The model; its messages are what training teaches.</summary>
    Assistant,
}

/// <summary>One message of a conversation.</summary>
/// <param name="Role">Who speaks.</param>
/// <param name="Content">The text, exactly as it is rendered (nothing is trimmed).</param>
public sealed record ChatMessage(ChatRole Role, string Content)
{
    /// <summary>The role as ChatML and OpenAI-style JSON spell it: <c>system</c>, <c>user</c> or <c>assistant</c>.</summary>
    public string RoleName => Name(Role);

    /// <summary>The lower-case name of <paramref name="role"/>.</summary>
    public static string Name(ChatRole role) => role switch
    {
        ChatRole.System => "system",
        ChatRole.User => "user",
        ChatRole.Assistant => "assistant",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
    };
}
