using Microsoft.Extensions.AI;
using Tailor.Generation;
using Tailor.Serving;
using Chat = Tailor.Text;

namespace Tailor.Tests.Serving;

/// <summary>The in-process Microsoft.Extensions.AI client: each ChatOptions field reaches the engine.</summary>
[Collection("TorchSharp")]
public sealed class ServingChatClientTests(ServingModels models) : IClassFixture<ServingModels>
{
    private static readonly Chat.ChatMessage[] Prompt = [new(Chat.ChatRole.System, "be brief"), new(Chat.ChatRole.User, "the sea and 4 boats")];

    [Fact]
    public async Task Chat_options_map_to_the_engines_sampling_options_one_for_one()
    {
        Tailor.Torch.TorchRuntime.SetThreads(1);
        using var model = ServedModel.Load(models.Short, options: new EngineOptions { MaxBatch = 2 });
        using var client = new TailorChatClient(model);
        var ids = model.EncodeChat(Prompt);

        // Temperature, top-p, seed and max tokens: the same text as the engine given the same sampling options, twice.
        var options = new ChatOptions { Instructions = "be brief", Temperature = 1.1f, TopP = 0.9f, Seed = 77, MaxOutputTokens = 9 };
        var sampled = await client.GetResponseAsync("the sea and 4 boats", options);
        var again = await client.GetResponseAsync("the sea and 4 boats", options);
        var engine = await model.Engine.GenerateAsync(ids, new SamplingOptions { Temperature = 1.1f, TopP = 0.9f, Seed = 77, MaxNewTokens = 9 });
        Assert.Equal(engine.Text, sampled.Text);
        Assert.Equal(sampled.Text, again.Text);
        Assert.Equal(ids.Count, sampled.Usage!.InputTokenCount);
        Assert.Equal(engine.Ids.Count, sampled.Usage.OutputTokenCount);
        Assert.Equal(model.Id, sampled.ModelId);
        var greedy = await model.Engine.GenerateAsync(ids, new SamplingOptions { MaxNewTokens = 9 });
        Assert.NotEqual(greedy.Text, sampled.Text);

        // Stop sequences cut the text where the first one begins, and the finish reason says stop.
        var longer = await model.Engine.GenerateAsync(ids, new SamplingOptions { MaxNewTokens = 24 });
        string stop = longer.Text.Substring(longer.Text.Length / 2, 2);
        var stopped = await client.GetResponseAsync("the sea and 4 boats",
            new ChatOptions { Instructions = "be brief", MaxOutputTokens = 24, StopSequences = [stop] });
        Assert.Equal(longer.Text[..longer.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);

        // Streaming ends with one update carrying the finish reason and the usage.
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync("the sea and 4 boats", options)) updates.Add(update);
        Assert.Equal(sampled.Text, string.Concat(updates.Select(u => u.Text)));
        var usage = Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>());
        Assert.Equal(sampled.Usage.OutputTokenCount, usage.Details.OutputTokenCount);
        Assert.Equal(sampled.FinishReason, updates[^1].FinishReason);
        var response = updates.ToChatResponse();
        Assert.Equal(sampled.Text, response.Text);

        var metadata = Assert.IsType<ChatClientMetadata>(client.GetService(typeof(ChatClientMetadata)));
        Assert.Equal(model.Id, metadata.DefaultModelId);
        Assert.Same(model, client.GetService(typeof(ServedModel)));
    }

    [Fact]
    public async Task Options_the_model_cannot_honour_are_refused_by_name()
    {
        using var model = ServedModel.Load(models.Short);
        using var client = new TailorChatClient(model);
        var tool = AIFunctionFactory.Create(() => 1, "one");
        var toolError = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync("hi", new ChatOptions { Tools = [tool] }));
        Assert.Contains("Tools", toolError.Message, StringComparison.Ordinal);
        var topP = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync("hi", new ChatOptions { TopP = 0 }));
        Assert.Contains("top_p", topP.Message, StringComparison.Ordinal);
        var image = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")])]));
        Assert.Contains("text only", image.Message, StringComparison.Ordinal);
        var tooLong = await Assert.ThrowsAsync<ContextLengthException>(() => client.GetResponseAsync("hi", new ChatOptions { MaxOutputTokens = 400 }));
        Assert.Equal(256, tooLong.ContextLength);
        Assert.Equal(0, model.Engine.Stats.Completed);
    }
}
