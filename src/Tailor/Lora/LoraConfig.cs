using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tailor.Model;

namespace Tailor.Lora;

/// <summary>
/// What <see cref="LoraAdapter.Apply"/> adds to a model, and the content of PEFT's <c>adapter_config.json</c>. Unset
/// fields start from Tailor's one set of LoRA defaults, <see cref="LoraOptions"/> (rank 16, alpha 32, dropout 0.05,
/// all-linear; the reasons are there).
/// </summary>
public sealed record LoraConfig
{
    /// <summary>PEFT's shorthand for every linear layer but the output head (Llama: the seven projections of each layer; GPT-2: c_attn, c_proj, c_fc).</summary>
    public const string AllLinear = "all-linear";

    /// <summary>The projections LoRA can target, in module order within a decoder layer: Llama/Qwen2's, then GPT-2's.</summary>
    public static readonly IReadOnlyList<string> ProjectionNames =
        [.. Attention.ProjectionNames, .. Mlp.ProjectionNames, .. Gpt2Attention.ProjectionNames.Concat(Gpt2Mlp.ProjectionNames).Distinct()];

    /// <summary>r, the rank of A (r, in) and B (out, r). PEFT: <c>r</c>.</summary>
    public int Rank { get; init; } = LoraOptions.Default.Rank;

    /// <summary>The LoRA alpha; the adapter's output is scaled by alpha / r (or alpha / √r). PEFT: <c>lora_alpha</c>.</summary>
    public double Alpha { get; init; } = LoraOptions.Default.Alpha;

    /// <summary>Dropout probability on the adapter's input while training, in [0, 1). PEFT: <c>lora_dropout</c>.</summary>
    public double Dropout { get; init; } = LoraOptions.Default.Dropout;

    /// <summary>
    /// HF names of the projections to adapt (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj), or the
    /// single entry <see cref="AllLinear"/>. Every layer's projection of that name is adapted. PEFT: <c>target_modules</c>.
    /// </summary>
    public IReadOnlyList<string> TargetModules { get; init; } = LoraOptions.Default.TargetList();

    /// <summary>Rank-stabilised scaling alpha / √r instead of alpha / r. PEFT: <c>use_rslora</c>.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>
    /// PEFT's <c>fan_in_fan_out</c>: the adapted layers store their weight (in, out), as GPT-2's Conv1D does. The layer
    /// type decides it (as in PEFT, which corrects the flag to the layer); <see cref="LoraAdapter.Save"/> writes it and
    /// <see cref="LoraAdapter.Load"/> checks it against the model.
    /// </summary>
    public bool FanInFanOut { get; init; }

    /// <summary>The base model the adapter belongs to (a folder or hub id), written as <c>base_model_name_or_path</c>; may be null.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>The factor on the adapter's output: alpha / r, or alpha / √r with <see cref="UseRsLora"/>.</summary>
    public double Scaling => UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    /// <summary>Value equality, <see cref="TargetModules"/> compared element by element (records compare lists by reference).</summary>
    public bool Equals(LoraConfig? other) =>
        other is not null && Rank == other.Rank && Alpha.Equals(other.Alpha) && Dropout.Equals(other.Dropout)
        && UseRsLora == other.UseRsLora && FanInFanOut == other.FanInFanOut && BaseModelNameOrPath == other.BaseModelNameOrPath
        && (TargetModules ?? []).SequenceEqual(other.TargetModules ?? []);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Rank, Alpha, Dropout, UseRsLora, BaseModelNameOrPath, TargetModules?.Count ?? 0);

    /// <summary>The targeted projection names with <see cref="AllLinear"/> expanded, distinct, in module order.</summary>
    public IReadOnlyList<string> ResolvedTargetModules() =>
        TargetModules.Count == 1 && string.Equals(TargetModules[0], AllLinear, StringComparison.OrdinalIgnoreCase)
            ? ProjectionNames
            : [.. ProjectionNames.Where(TargetModules.Contains)];

    /// <summary>Checks every field; the message names the field (and <paramref name="source"/>) and the accepted values.</summary>
    /// <exception cref="TailorException">A field is out of range or names an unknown module.</exception>
    public void Validate(string source = "LoRA config")
    {
        if (Rank < 1)
            throw new TailorException($"{source}: Rank (r) must be a positive integer, got {Rank}. Typical values are 8 to 64.");
        if (!(Alpha > 0) || double.IsInfinity(Alpha))
            throw new TailorException($"{source}: Alpha (lora_alpha) must be a positive number, got {Alpha.ToString(CultureInfo.InvariantCulture)}. A common choice is 2 × r.");
        if (!(Dropout >= 0 && Dropout < 1))
            throw new TailorException($"{source}: Dropout (lora_dropout) must be in [0, 1), got {Dropout.ToString(CultureInfo.InvariantCulture)}.");
        if (TargetModules is null || TargetModules.Count == 0)
            throw new TailorException($"{source}: TargetModules (target_modules) is empty. Name projections ({string.Join(", ", ProjectionNames)}) or use \"{AllLinear}\".");
        foreach (string name in TargetModules)
        {
            if (string.Equals(name, AllLinear, StringComparison.OrdinalIgnoreCase))
            {
                if (TargetModules.Count > 1)
                    throw new TailorException($"{source}: TargetModules (target_modules) mixes \"{AllLinear}\" with other names; use \"{AllLinear}\" alone or list the projections.");
                continue;
            }
            if (!ProjectionNames.Contains(name))
                throw new TailorException($"{source}: TargetModules (target_modules) names '{name}', which is not a projection of a Llama, Qwen2 or GPT-2 layer. Use {string.Join(", ", ProjectionNames)} or \"{AllLinear}\" (embeddings, norms and lm_head cannot take LoRA here).");
        }
    }

    /// <summary>
    /// The text of PEFT's <c>adapter_config.json</c> for this config: PEFT's field names, keys sorted and two-space
    /// indented as PEFT's <c>save_pretrained</c> writes them, <c>target_modules</c> expanded (as PEFT stores "all-linear"
    /// after resolving it), <c>inference_mode</c> true (a saved adapter is loaded for inference unless told otherwise).
    /// </summary>
    public string ToAdapterConfigJson()
    {
        Validate();
        var fields = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["alpha_pattern"] = new JsonObject(),
            ["base_model_name_or_path"] = BaseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = FanInFanOut,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = Alpha == Math.Floor(Alpha) && Math.Abs(Alpha) < 1e15 ? JsonValue.Create((long)Alpha) : JsonValue.Create(Alpha),
            ["lora_bias"] = false,
            ["lora_dropout"] = Dropout,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = Rank,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = new JsonArray([.. ResolvedTargetModules().Select(n => JsonValue.Create(n))]),
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = false,
            ["use_rslora"] = UseRsLora,
        };
        var root = new JsonObject();
        foreach ((string key, JsonNode? value) in fields) root[key] = value;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Reads PEFT's <c>adapter_config.json</c>. Accepts what PEFT writes for a plain LoRA adapter (unknown keys are
    /// ignored); refuses, naming the field, anything that would change the math this loader implements: another
    /// peft_type, DoRA, LoRA biases, per-module rank or alpha patterns, layer selections, modules to
    /// save, trainable tokens, regex target_modules.
    /// </summary>
    /// <param name="json">The file's text.</param>
    /// <param name="source">The file path, for messages.</param>
    /// <exception cref="TailorException">The JSON is malformed, or a field is missing, of the wrong type or unsupported.</exception>
    public static LoraConfig FromAdapterConfigJson(string json, string source = "adapter_config.json")
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            throw new TailorException($"{source}: not valid JSON ({e.Message}). Re-save the adapter with PEFT's save_pretrained or Tailor's LoraAdapter.Save.", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new TailorException($"{source}: must be a JSON object, not {root.ValueKind}.");

            string peftType = root.TryGetProperty("peft_type", out var pt) && pt.ValueKind == JsonValueKind.String
                ? pt.GetString()!
                : throw new TailorException($"{source}: field 'peft_type' is missing or not a string; a LoRA adapter has \"peft_type\": \"LORA\".");
            if (!string.Equals(peftType, "LORA", StringComparison.Ordinal))
                throw new TailorException($"{source}: field 'peft_type' is \"{peftType}\"; Tailor loads only LoRA adapters (\"LORA\").");

            RequireAbsentOrDefault(root, source, "task_type", v => v.ValueKind == JsonValueKind.Null || (v.ValueKind == JsonValueKind.String && v.GetString() == "CAUSAL_LM"), "CAUSAL_LM or null");
            RequireAbsentOrDefault(root, source, "bias", v => v.ValueKind == JsonValueKind.String && v.GetString() == "none", "\"none\"");
            RequireAbsentOrDefault(root, source, "use_dora", v => v.ValueKind == JsonValueKind.False, "false (DoRA is not supported)");
            RequireAbsentOrDefault(root, source, "lora_bias", v => v.ValueKind == JsonValueKind.False, "false");
            RequireAbsentOrDefault(root, source, "use_qalora", v => v.ValueKind == JsonValueKind.False, "false");
            foreach (string field in (string[])["rank_pattern", "alpha_pattern"])
                RequireAbsentOrDefault(root, source, field, IsNullOrEmpty, "empty (per-module ranks and alphas are not supported)");
            foreach (string field in (string[])["layers_to_transform", "layers_pattern", "modules_to_save", "trainable_token_indices",
                                                "layer_replication", "exclude_modules", "target_parameters", "alora_invocation_tokens"])
                RequireAbsentOrDefault(root, source, field, IsNullOrEmpty, "null (not supported by Tailor's loader)");

            int rank = root.TryGetProperty("r", out var r) && r.ValueKind == JsonValueKind.Number && r.TryGetInt32(out int ri)
                ? ri
                : throw new TailorException($"{source}: field 'r' is missing or not an integer.");
            double alpha = root.TryGetProperty("lora_alpha", out var a) && a.ValueKind == JsonValueKind.Number
                ? a.GetDouble()
                : throw new TailorException($"{source}: field 'lora_alpha' is missing or not a number.");
            double dropout = 0;
            if (root.TryGetProperty("lora_dropout", out var d) && d.ValueKind != JsonValueKind.Null)
                dropout = d.ValueKind == JsonValueKind.Number ? d.GetDouble() : throw new TailorException($"{source}: field 'lora_dropout' is not a number.");
            bool rsLora = false;
            if (root.TryGetProperty("use_rslora", out var rs) && rs.ValueKind != JsonValueKind.Null)
                rsLora = rs.ValueKind is JsonValueKind.True or JsonValueKind.False ? rs.GetBoolean() : throw new TailorException($"{source}: field 'use_rslora' is not true or false.");
            bool fanInFanOut = false;
            if (root.TryGetProperty("fan_in_fan_out", out var ff) && ff.ValueKind != JsonValueKind.Null)
                fanInFanOut = ff.ValueKind is JsonValueKind.True or JsonValueKind.False ? ff.GetBoolean() : throw new TailorException($"{source}: field 'fan_in_fan_out' is not true or false.");
            string? baseModel = root.TryGetProperty("base_model_name_or_path", out var bm) && bm.ValueKind == JsonValueKind.String ? bm.GetString() : null;

            if (!root.TryGetProperty("target_modules", out var tm))
                throw new TailorException($"{source}: field 'target_modules' is missing.");
            List<string> targets;
            if (tm.ValueKind == JsonValueKind.String)
            {
                string text = tm.GetString()!;
                if (!string.Equals(text, AllLinear, StringComparison.OrdinalIgnoreCase))
                    throw new TailorException($"{source}: field 'target_modules' is the string \"{text}\", which PEFT reads as a regular expression; Tailor needs a list of projection names or \"{AllLinear}\".");
                targets = [AllLinear];
            }
            else if (tm.ValueKind == JsonValueKind.Array)
            {
                targets = [];
                foreach (var item in tm.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                        throw new TailorException($"{source}: field 'target_modules' must list strings, found {item.ValueKind}.");
                    targets.Add(item.GetString()!);
                }
            }
            else
            {
                throw new TailorException($"{source}: field 'target_modules' must be a list of projection names, not {tm.ValueKind}.");
            }

            var config = new LoraConfig
            {
                Rank = rank,
                Alpha = alpha,
                Dropout = dropout,
                TargetModules = targets,
                UseRsLora = rsLora,
                FanInFanOut = fanInFanOut,
                BaseModelNameOrPath = baseModel,
            };
            config.Validate(source);
            return config;
        }
    }

    private static bool IsNullOrEmpty(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Null => true,
        JsonValueKind.Object => !v.EnumerateObject().Any(),
        JsonValueKind.Array => v.GetArrayLength() == 0,
        _ => false,
    };

    private static void RequireAbsentOrDefault(JsonElement root, string source, string field, Func<JsonElement, bool> isDefault, string expected)
    {
        if (root.TryGetProperty(field, out var value) && !isDefault(value))
            throw new TailorException($"{source}: field '{field}' is {value.GetRawText()}; Tailor supports only {expected}. Re-train or convert the adapter without it.");
    }
}
