using System.Text.Json;
using System.Xml.Linq;
using Tailor.Report.Charts;
using Tailor.Tests.Data.Instructions;

namespace Tailor.Tests;

/// <summary>
/// The core library carries no native libtorch runtime and no charting package, so that a program can reference Tailor
/// with the CUDA runtime or without charts (README, "Referencing Tailor"): checked in src/Tailor/Tailor.csproj, in its
/// restored package graph (transitive packages included; the SkiaSharp that TorchSharp itself depends on is TorchSharp's)
/// and in Tailor.dll's assembly references. Each check is also run on a project that does hold those packages, to show
/// it would see them.
/// </summary>
public class LibraryPackagesTests
{
    // A native libtorch runtime (libtorch-cpu-*, libtorch-cuda-*, or the TorchSharp-cpu/-cuda bundles that carry one), or
    // the charting and native graphics packages of the report's charts.
    private static readonly string[] ForbiddenPrefixes = ["libtorch-", "TorchSharp-cpu", "TorchSharp-cuda", "ScottPlot", "SkiaSharp"];

    private static bool Forbidden(string package) => ForbiddenPrefixes.Any(p => package.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    private static string Project(string name) => Path.Combine(InstructionFixtures.RepoRoot, "src", name);

    [Fact]
    public void The_core_library_project_references_no_native_runtime_or_charting_package()
    {
        var references = PackageReferences(Path.Combine(Project("Tailor"), "Tailor.csproj"));
        Assert.Contains("TorchSharp", references);
        AssertNone(references.Where(Forbidden), "src/Tailor/Tailor.csproj");

        var cli = PackageReferences(Path.Combine(Project("Tailor.Cli"), "Tailor.Cli.csproj"));
        Assert.Contains(cli, Forbidden);
    }

    [Fact]
    public void The_core_library_restored_package_graph_holds_no_native_runtime_or_charting_package()
    {
        var graph = RestoredGraph(Project("Tailor"));
        Assert.Contains("TorchSharp", graph.Keys);
        // TorchSharp 0.107 itself depends on SkiaSharp 2.88.6 (managed, with Windows and macOS natives only): that is
        // TorchSharp's, in every program that uses it, and not a charting choice. Anything else that is forbidden is ours.
        var torchSharps = OwnDependencies(graph, "TorchSharp");
        AssertNone(graph.Keys.Where(p => (Forbidden(p) && !torchSharps.Contains(p)) || p.StartsWith("SkiaSharp.NativeAssets.Linux", StringComparison.OrdinalIgnoreCase)),
            "src/Tailor's restored package graph");

        var cli = RestoredGraph(Project("Tailor.Cli"));
        Assert.Contains("libtorch-cpu-linux-x64", cli.Keys);
        Assert.Contains("ScottPlot", cli.Keys);
        Assert.DoesNotContain("SkiaSharp", OwnDependencies(cli, "TorchSharp"));   // ScottPlot lifts SkiaSharp above TorchSharp's version
    }

    [Fact]
    public void Tailor_dll_references_no_charting_assembly()
    {
        var names = typeof(TailorException).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains("TorchSharp", names);
        AssertNone(names.Where(Forbidden), "Tailor.dll's assembly references");

        var charts = typeof(ScottPlotCharts).Assembly.GetReferencedAssemblies().Select(a => a.Name!);
        Assert.Contains(charts, Forbidden);
    }

    private static void AssertNone(IEnumerable<string> found, string where)
    {
        var packages = found.ToList();
        Assert.True(packages.Count == 0, $"{where} holds {string.Join(", ", packages)}: the core library carries no native runtime " +
            "and no charting package; reference it from the program instead (README, \"Referencing Tailor\").");
    }

    private static List<string> PackageReferences(string csproj) =>
        [.. XDocument.Load(csproj).Descendants("PackageReference").Select(e => (string?)e.Attribute("Include") ?? "")];

    // A project's restore graph (obj/project.assets.json: every package, direct or transitive): package id → resolved
    // version and the dependencies it declares (id → version).
    private static Dictionary<string, (string Version, Dictionary<string, string> Dependencies)> RestoredGraph(string projectFolder)
    {
        string assets = Path.Combine(projectFolder, "obj", "project.assets.json");
        Assert.True(File.Exists(assets), $"{assets} is missing: restore the solution (dotnet restore Tailor.slnx) before the tests.");
        using var json = JsonDocument.Parse(File.ReadAllText(assets));
        var target = Assert.Single(json.RootElement.GetProperty("targets").EnumerateObject()).Value;
        var graph = new Dictionary<string, (string, Dictionary<string, string>)>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in target.EnumerateObject().Where(e => e.Value.GetProperty("type").GetString() == "package"))
        {
            var dependencies = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (entry.Value.TryGetProperty("dependencies", out var declared))
                foreach (var d in declared.EnumerateObject()) dependencies[d.Name] = d.Value.GetString()!;
            int slash = entry.Name.IndexOf('/', StringComparison.Ordinal);
            graph[entry.Name[..slash]] = (entry.Name[(slash + 1)..], dependencies);
        }
        return graph;
    }

    // The packages a package brings by itself: its dependencies, theirs and so on, each at the version its parent asks
    // for (a package lifted to another version by someone else is not the parent's).
    private static HashSet<string> OwnDependencies(Dictionary<string, (string Version, Dictionary<string, string> Dependencies)> graph, string package)
    {
        var own = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var queue = new Queue<string>([package]);
        while (queue.TryDequeue(out string? parent))
            foreach (var (id, version) in graph[parent].Dependencies)
                if (graph.TryGetValue(id, out var resolved) && resolved.Version == version && own.Add(id)) queue.Enqueue(id);
        return own;
    }
}
