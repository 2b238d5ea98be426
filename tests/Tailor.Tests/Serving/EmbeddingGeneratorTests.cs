using Microsoft.Extensions.AI;
using Tailor.Model;
using Tailor.Serving;

using Tailor.Tests.Model;

namespace Tailor.Tests.Serving;

/// <summary>The IEmbeddingGenerator over an encoder gives the same vectors as the encoder itself, in order, with usage.</summary>
[Collection("TorchSharp")]
public sealed class EmbeddingGeneratorTests : IClassFixture<PretrainedEncoderTests.Converted>
{
    private readonly PretrainedEncoderTests.Converted _converted;

    public EmbeddingGeneratorTests(PretrainedEncoderTests.Converted converted) => _converted = converted;

    [Fact]
    public async Task Generated_embeddings_equal_the_encoders_own_in_order_with_token_usage()
    {
        var spec = PretrainedEncoders.Find("all-MiniLM-L6-v2")!;
        using var encoder = PretrainedEncoder.Load(_converted.Folder(spec));
        using IEmbeddingGenerator<string, Embedding<float>> generator = new TailorEmbeddingGenerator(encoder, "all-MiniLM-L6-v2");
        string[] texts = ["The new movie is awesome!", "x", "A man is eating food."];
        var result = await generator.GenerateAsync(texts);
        var direct = encoder.Embed(texts);
        Assert.Equal(3, result.Count);
        for (int i = 0; i < texts.Length; i++)
        {
            Assert.Equal(direct[i], result[i].Vector.ToArray());
            Assert.Equal("all-MiniLM-L6-v2", result[i].ModelId);
        }
        Assert.Equal(texts.Sum(t => encoder.Tokenizer.Encode(t, 256).Ids.Length), result.Usage!.InputTokenCount);
        Assert.Equal(384, generator.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelDimensions);
        await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["a"], new EmbeddingGenerationOptions { Dimensions = 128 }));
    }
}
