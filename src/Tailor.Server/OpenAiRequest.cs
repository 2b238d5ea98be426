using System.Text.Json;
using Tailor.Generation;
using Tailor.Text;

namespace Tailor.Server;

/// <summary>
/// The fields of an OpenAI <c>/v1/completions</c> or <c>/v1/chat/completions</c> body that Tailor acts on, read strictly:
/// a field of the wrong type or out of range is a 400 naming it. Fields Tailor does not implement are refused when
/// they would change the answer (<c>n</c> &gt; 1, <c>logprobs</c>, <c>tools</c>, penalties, <c>echo</c>) and ignored
/// otherwise (<c>user</c>, <c>metadata</c>, ...), as OpenAI-compatible servers commonly do. One extension is read:
/// <c>no_repeat_ngram_size</c> (HF generate's n-gram ban over the answer; <see cref="SamplingOptions.NoRepeatNgramSize"/>).
/// </summary>
internal sealed class OpenAiRequest
{
    private readonly JsonElement _root;

    private OpenAiRequest(JsonElement root) => _root = root;

    /// <summary>The <c>model</c> field.</summary>
    public string Model { get; private init; } = "";

    /// <summary>Whether to answer with server-sent events.</summary>
    public bool Stream { get; private init; }

    /// <summary><c>stream_options.include_usage</c>: a last chunk with usage and no choices.</summary>
    public bool IncludeUsage { get; private init; }

    /// <summary>Chat messages (chat endpoint only).</summary>
    public IReadOnlyList<ChatMessage> Messages { get; private init; } = [];

    /// <summary>The completion prompt as text, or null when given as token ids.</summary>
    public string? PromptText { get; private init; }

    /// <summary>The completion prompt as token ids, when given so.</summary>
    public IReadOnlyList<int>? PromptIds { get; private init; }

    /// <summary>max_completion_tokens, else max_tokens; null when neither was given.</summary>
    public int? MaxTokens { get; private init; }

    /// <summary>Which field <see cref="MaxTokens"/> came from, for error messages.</summary>
    public string MaxTokensField { get; private init; } = "max_tokens";

    /// <summary>Sampling options except the token budget (set once the prompt length is known).</summary>
    public SamplingOptions Sampling { get; private init; } = new();

    /// <summary>Parses a chat completion body.</summary>
    public static OpenAiRequest ParseChat(JsonElement root) => Parse(root, chat: true);

    /// <summary>Parses a (legacy) completion body.</summary>
    public static OpenAiRequest ParseCompletion(JsonElement root) => Parse(root, chat: false);

    private static OpenAiRequest Parse(JsonElement root, bool chat)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw Bad($"the request body must be a JSON object, not {Kind(root)}.", null);
        var r = new OpenAiRequest(root);

        string model = r.String("model") ?? throw Bad("you must provide a model parameter (one of the ids GET /v1/models lists).", "model", "missing_required_parameter");
        int? n = r.Int("n", 1, 128);
        if (n is > 1) throw Bad("n: only 1 choice per request is supported; send several requests instead.", "n");
        if (r.Get("logprobs") is { ValueKind: not (JsonValueKind.Null or JsonValueKind.False) })
            throw Bad("logprobs: log probabilities are not supported; leave logprobs out.", "logprobs");
        foreach (string penalty in new[] { "presence_penalty", "frequency_penalty" })
            if (r.Number(penalty, -2, 2) is double v && v != 0)
                throw Bad($"{penalty}: only 0 is supported (Tailor has no presence/frequency penalties).", penalty);
        if (r.Get("tools") is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0)
            throw Bad("tools: Tailor models do not call tools; leave tools out.", "tools");
        if (r.Get("response_format") is { ValueKind: JsonValueKind.Object } format
            && (!format.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "text"))
            throw Bad("response_format: only {\"type\": \"text\"} is supported.", "response_format");
        if (!chat && r.Bool("echo") == true) throw Bad("echo: echoing the prompt is not supported; leave echo out.", "echo");
        if (!chat && r.Int("best_of", 1, 128) is > 1) throw Bad("best_of: only 1 is supported.", "best_of");

        bool stream = r.Bool("stream") ?? false;
        bool includeUsage = false;
        if (r.Get("stream_options") is { ValueKind: not JsonValueKind.Null } options)
        {
            if (options.ValueKind != JsonValueKind.Object) throw Bad($"stream_options must be an object, not {Kind(options)}.", "stream_options");
            if (!stream) throw Bad("stream_options: only allowed when stream is true.", "stream_options");
            if (options.TryGetProperty("include_usage", out var usage) && usage.ValueKind != JsonValueKind.Null)
            {
                if (usage.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    throw Bad($"stream_options.include_usage must be a boolean, not {Kind(usage)}.", "stream_options.include_usage");
                includeUsage = usage.GetBoolean();
            }
        }

        // max_completion_tokens is the chat API's current name; max_tokens the older one (and the completions API's).
        int? maxCompletion = r.Int("max_completion_tokens", 1, int.MaxValue);
        int? maxTokens = r.Int("max_tokens", 1, int.MaxValue);
        int? seed = r.Int("seed", int.MinValue, int.MaxValue);
        var sampling = new SamplingOptions
        {
            Temperature = r.Number("temperature", 0, 2) ?? 0,       // greedy by default: Tailor's (and HF's) default, not OpenAI's 1
            TopP = r.Number("top_p", 0, 1) is double p ? (p > 0 ? p : throw Bad("top_p must be greater than 0 (1 = off).", "top_p")) : 1.0,
            Seed = seed,
            Stop = r.Stop(),
            // An extension (HF generate's name): tailor eval sends it so a served model decodes as a local one does.
            NoRepeatNgramSize = r.Int("no_repeat_ngram_size", 0, 1024) ?? 0,
        };

        var (text, ids) = chat ? (null, null) : r.Prompt();
        return new OpenAiRequest(root)
        {
            Model = model,
            Stream = stream,
            IncludeUsage = includeUsage,
            MaxTokens = maxCompletion ?? maxTokens,
            MaxTokensField = maxCompletion is not null ? "max_completion_tokens" : "max_tokens",
            Sampling = sampling,
            Messages = chat ? r.ChatMessages() : [],
            PromptText = text,
            PromptIds = ids,
        };
    }

    private JsonElement? Get(string name) => _root.TryGetProperty(name, out var value) ? value : null;

    private string? String(string name)
    {
        if (Get(name) is not { } v || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw Bad($"{name} must be a string, not {Kind(v)}.", name, "invalid_type");
        return v.GetString();
    }

    private bool? Bool(string name)
    {
        if (Get(name) is not { } v || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Bad($"{name} must be a boolean, not {Kind(v)}.", name, "invalid_type");
        return v.GetBoolean();
    }

    private double? Number(string name, double min, double max)
    {
        if (Get(name) is not { } v || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number) throw Bad($"{name} must be a number, not {Kind(v)}.", name, "invalid_type");
        double d = v.GetDouble();
        if (d < min || d > max) throw Bad($"{name} is {d}; it must be between {min} and {max}.", name, "invalid_value");
        return d;
    }

    private int? Int(string name, int min, int max)
    {
        if (Get(name) is not { } v || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long l))
            throw Bad($"{name} must be an integer, not {Kind(v)}{(v.ValueKind == JsonValueKind.Number ? $" {v.GetRawText()}" : "")}.", name, "invalid_type");
        if (l < min || l > max)
            throw Bad(max == int.MaxValue ? $"{name} is {l}; it must be at least {min}." : $"{name} is {l}; it must be between {min} and {max}.", name, "invalid_value");
        return (int)l;
    }

    /// <summary><c>stop</c>: a string or an array of up to 4 non-empty strings (OpenAI's limit).</summary>
    private string[] Stop()
    {
        if (Get("stop") is not { } v || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.String)
            return v.GetString() is { Length: > 0 } s ? [s] : throw Bad("stop must not be an empty string.", "stop", "invalid_value");
        if (v.ValueKind != JsonValueKind.Array) throw Bad($"stop must be a string or an array of strings, not {Kind(v)}.", "stop", "invalid_type");
        if (v.GetArrayLength() > 4) throw Bad($"stop has {v.GetArrayLength()} strings; give at most 4.", "stop", "invalid_value");
        return [.. v.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 } s ? s
            : throw Bad($"stop[{i}] must be a non-empty string, not {Kind(e)}.", "stop", "invalid_type"))];
    }

    /// <summary><c>prompt</c>: a string, an array holding one string, or an array of token ids.</summary>
    private (string? Text, IReadOnlyList<int>? Ids) Prompt()
    {
        if (Get("prompt") is not { } v || v.ValueKind == JsonValueKind.Null)
            throw Bad("you must provide a prompt parameter (a string).", "prompt", "missing_required_parameter");
        if (v.ValueKind == JsonValueKind.String) return (v.GetString(), null);
        if (v.ValueKind == JsonValueKind.Array)
        {
            var items = v.EnumerateArray().ToArray();
            if (items.Length == 1 && items[0].ValueKind == JsonValueKind.String) return (items[0].GetString(), null);
            if (items.Length > 0 && items.All(e => e.ValueKind == JsonValueKind.Number))
                return (null, [.. items.Select(e => e.TryGetInt32(out int id) && id >= 0 ? id : throw Bad($"prompt: {e.GetRawText()} is not a token id.", "prompt", "invalid_value"))]);
            if (items.Length > 1 && items.All(e => e.ValueKind == JsonValueKind.String))
                throw Bad($"prompt has {items.Length} strings; only one prompt per request is supported.", "prompt", "invalid_value");
        }
        throw Bad($"prompt must be a string (or an array of token ids), not {Kind(v)}.", "prompt", "invalid_type");
    }

    /// <summary><c>messages</c>: objects with a role (system, developer, user, assistant) and text content.</summary>
    private IReadOnlyList<ChatMessage> ChatMessages()
    {
        if (Get("messages") is not { } v || v.ValueKind == JsonValueKind.Null)
            throw Bad("you must provide a messages parameter (an array of {\"role\", \"content\"} objects).", "messages", "missing_required_parameter");
        if (v.ValueKind != JsonValueKind.Array) throw Bad($"messages must be an array, not {Kind(v)}.", "messages", "invalid_type");
        if (v.GetArrayLength() == 0) throw Bad("messages is empty; give at least one message.", "messages", "invalid_value");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var m in v.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw Bad($"{at} must be an object, not {Kind(m)}.", at, "invalid_type");
            if (!m.TryGetProperty("role", out var roleValue) || roleValue.ValueKind != JsonValueKind.String)
                throw Bad($"{at}.role is missing or not a string; use system, user or assistant.", $"{at}.role", "invalid_type");
            ChatRole role = roleValue.GetString() switch
            {
                "system" or "developer" => ChatRole.System,      // "developer" is OpenAI's newer name for system
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                var other => throw Bad($"{at}.role '{other}' is not supported; use system, user or assistant.", $"{at}.role", "invalid_value"),
            };
            messages.Add(new ChatMessage(role, Content(m, at, role)));
        }
        return messages;
    }

    private static string Content(JsonElement message, string at, ChatRole role)
    {
        if (!message.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null)
        {
            if (role == ChatRole.Assistant) return "";
            throw Bad($"{at}.content is missing; give the message text.", $"{at}.content", "missing_required_parameter");
        }
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array)
            throw Bad($"{at}.content must be a string or an array of text parts, not {Kind(c)}.", $"{at}.content", "invalid_type");
        var text = new System.Text.StringBuilder();
        int j = 0;
        foreach (var part in c.EnumerateArray())
        {
            string p = $"{at}.content[{j++}]";
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw Bad($"{p} must be an object with a type.", p, "invalid_type");
            if (type.GetString() != "text")
                throw Bad($"{p}: content of type '{type.GetString()}' is not supported; Tailor models read text only.", p, "invalid_value");
            if (!part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw Bad($"{p}.text is missing or not a string.", $"{p}.text", "invalid_type");
            text.Append(t.GetString());
        }
        return text.ToString();
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static ApiException Bad(string message, string? param, string? code = null) => new(ApiError.BadRequest(message, param, code));
}
