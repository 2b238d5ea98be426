using Tailor.Recipes;
using Tailor.Tests.Data.Instructions;
using Tailor.Evaluation;

namespace Tailor.Tests.Serving;

/// <summary>`tailor eval --endpoint` against a live `tailor serve`: the same answers as evaluating the folder in-process.</summary>
[Collection("TorchSharp")]
public sealed class EndpointEvalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-endpoint-eval-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Evaluating_through_the_server_gives_the_answers_of_evaluating_the_folder()
    {
        string folder = ServingTestSupport.SaveChatModel(Path.Combine(_dir, "model"), maxPositions: 512);
        var common = new EvalOptions
        {
            Tasks = "sentiment,translation-en-de", Limit = 4, Runtime = new() { Threads = 1 }, MaxNewTokensScale = 0.25, Loglik = false,
            TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder,
        };
        var local = Evaluate.Run(common with { Model = folder, Output = Path.Combine(_dir, "local"), Format = EvalFormat.Chatml });

        var (model, server) = await ServingTestSupport.StartAsync(folder);
        await using (server)
        using (model)
        {
            var remote = await Task.Run(() => Evaluate.Run(common with { Endpoint = new Uri(server.BaseAddress, "v1").ToString(), Output = Path.Combine(_dir, "remote") }));
            Assert.Equal("chat", remote.Run.Kind);
            Assert.Equal(local.Items.Select(i => (i.Task, i.Id, i.Template)), remote.Items.Select(i => (i.Task, i.Id, i.Template)));
            Assert.Equal(local.Items.Select(i => i.Prediction), remote.Items.Select(i => i.Prediction));
            Assert.Equal(local.Run.Tasks.Select(t => t.Metrics["accuracy" is var k && t.Metrics.ContainsKey(k) ? k : "chrf"]),
                remote.Run.Tasks.Select(t => t.Metrics["accuracy" is var k && t.Metrics.ContainsKey(k) ? k : "chrf"]));
            Assert.All(remote.Items, i => Assert.True(i.GeneratedTokens >= 0));
        }
    }

    [Fact]
    public void A_bad_endpoint_is_a_clear_error()
    {
        var o = new EvalOptions { Endpoint = "http://127.0.0.1:9/v1", Output = Path.Combine(_dir, "x"), Limit = 1, Tasks = "sentiment",
            TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder };
        var e = Assert.Throws<TailorException>(() => Evaluate.Run(o));
        Assert.Contains("GET models failed", e.Message);
        Assert.Throws<TailorException>(() => Evaluate.Run(o with { Endpoint = "ftp://x" }));
    }
}
