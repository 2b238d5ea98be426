using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tailor.Evaluation;
using Tailor.Recipes;
using Tailor.Tests.Data.Instructions;

namespace Tailor.Tests.Serving;

/// <summary>`tailor eval --endpoint URL1,URL2` against two `tailor serve` processes on loopback.</summary>
[Collection("TorchSharp")]
public sealed class EndpointPoolTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tailor-endpoint-pool-").FullName;
    private readonly List<Process> _servers = [];

    public void Dispose()
    {
        foreach (var p in _servers)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.Dispose();
        }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Starts `tailor serve` in its own process on a free loopback port and waits until it lists its model.</summary>
    private (Process Process, string Url) Serve(string folder)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { Path.Combine(AppContext.BaseDirectory, "Tailor.Cli.dll"), "serve", "--model", folder, "--name", "tiny-chat", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        var process = Process.Start(psi)!;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _servers.Add(process);
        string url = $"http://127.0.0.1:{port}/v1";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            Assert.False(process.HasExited, $"tailor serve on port {port} exited with {(process.HasExited ? process.ExitCode : 0)}");
            try
            {
                if (http.GetAsync(url + "/models").GetAwaiter().GetResult().IsSuccessStatusCode) return (process, url);
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            Thread.Sleep(200);
        }
        throw new TimeoutException($"tailor serve on port {port} did not come up");
    }

    [Fact]
    public void Two_servers_one_killed_mid_eval_give_the_answers_of_one_server_and_report_each_servers_throughput()
    {
        string folder = ServingTestSupport.SaveChatModel(Path.Combine(_dir, "model"), maxPositions: 512);
        var (_, first) = Serve(folder);
        var (second, secondUrl) = Serve(folder);
        var common = new EvalOptions
        {
            Tasks = "sentiment,translation-en-de", Limit = 6, Runtime = new() { Threads = 1 }, MaxNewTokensScale = 0.25, Loglik = false,
            TaskData = Path.Combine(InstructionFixtures.RepoRoot, "data", "tasks"), Templates = InstructionFixtures.TemplatesFolder,
        };
        var one = Evaluate.Run(common with { Endpoint = first, Output = Path.Combine(_dir, "one") });

        // The second server dies (SIGKILL) once two items are answered; what it had in flight or is sent later goes to the first.
        bool killed = false;
        var two = Evaluate.Run(common with { Endpoint = first + "," + secondUrl, Output = Path.Combine(_dir, "two") }, p =>
        {
            if (!killed && p.Done >= 2)
            {
                killed = true;
                second.Kill();
            }
        });
        Assert.True(killed);
        Assert.Equal(one.Items.Select(i => (i.Task, i.Id, i.Template, i.Prediction, i.GeneratedTokens)),
            two.Items.Select(i => (i.Task, i.Id, i.Template, i.Prediction, i.GeneratedTokens)));
        Assert.Equal(one.Run.Tasks.SelectMany(t => t.Metrics.Select(kv => (t.Task, kv.Key, kv.Value))), two.Run.Tasks.SelectMany(t => t.Metrics.Select(kv => (t.Task, kv.Key, kv.Value))));

        // Per-server throughput lands in results.json's config: both served, the killed one failed and was retried.
        string stats0 = two.Run.Config["endpoint_0"], stats1 = two.Run.Config["endpoint_1"];
        Assert.StartsWith(first + "/ requests=", stats0, StringComparison.Ordinal);
        Assert.Contains("items_per_s=", stats0, StringComparison.Ordinal);
        int Field(string stats, string name) => int.Parse(stats.Split(' ').Single(f => f.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..],
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Field(stats1, "failures") >= 1, stats1);
        Assert.Equal(two.Items.Count, Field(stats0, "requests") + Field(stats1, "requests"));
        Assert.False(one.Run.Config.ContainsKey("endpoint_1"));
    }

    [Fact]
    public void A_bad_endpoint_list_is_a_clear_error()
    {
        Assert.Contains("listed twice", Assert.Throws<TailorException>(() => new EndpointPool("http://a/v1,http://a/v1/", null, TimeSpan.FromSeconds(1))).Message);
        Assert.Contains("give an http(s) base URL", Assert.Throws<TailorException>(() => new EndpointPool("http://a/v1,ftp://b", null, TimeSpan.FromSeconds(1))).Message);
        Assert.Contains("one or more", Assert.Throws<TailorException>(() => new EndpointPool(" , ", null, TimeSpan.FromSeconds(1))).Message);
    }
}
