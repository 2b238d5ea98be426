using System.Text.RegularExpressions;
using static Tailor.Tests.Data.Instructions.InstructionFixtures;
using Tailor.Data.Instructions;
using Tailor.Text;

namespace Tailor.Tests.Data.Instructions;

public partial class TaskTemplateTests
{
    private static readonly string[] Tasks = ["sentiment", "summarization", "translation-en-de", "translation-en-fr"];

    private static IReadOnlyDictionary<string, TaskTemplateSet> All() => TaskTemplates.LoadAll(TemplatesFolder);

    [GeneratedRegex(@"(?<!\{)\{([A-Za-z0-9_]+)\}(?!\})")]
    private static partial Regex Placeholder();

    [Fact]
    public void Every_task_has_ten_or_more_phrasings_three_held_out_and_one_or_two_vague()
    {
        var sets = All();

        Assert.Equal(Tasks, sets.Keys.Order(StringComparer.Ordinal));
        foreach (string task in Tasks)
        {
            TaskTemplateSet set = sets[task];
            int train = set.Pool(TemplatePool.Train).Count, eval = set.Pool(TemplatePool.Eval).Count, vague = set.Pool(TemplatePool.Vague).Count;
            Assert.True(train + eval >= 10, $"{task}: {train + eval} phrasings");
            Assert.True(eval == 3, $"{task}: {eval} eval templates");
            Assert.True(vague is 1 or 2, $"{task}: {vague} vague templates");
            Assert.Equal(set.Templates.Count, set.Templates.Select(t => t.Prompt).Distinct().Count());
        }
    }

    [Fact]
    public void Sentiment_has_templates_that_spell_out_the_options()
    {
        TaskTemplateSet set = All()["sentiment"];
        var record = new TaskRecord("x", new Dictionary<string, string> { ["text"] = "Great food.", ["label"] = "positive" }, "s.jsonl", 1);

        var spelled = set.Templates.Where(t => t.Pool != TemplatePool.Vague && set.Apply(record, t).Prompt.Contains("positive or negative", StringComparison.Ordinal)).ToList();
        var listed = set.Templates.Where(t => set.Apply(record, t).Prompt.Contains("- positive\n- negative", StringComparison.Ordinal)).ToList();

        Assert.True(spelled.Count >= 3, $"{spelled.Count} templates spell out the options inline");
        Assert.True(listed.Count >= 1, $"{listed.Count} templates list the options");
        Assert.Contains(spelled, t => t.Pool == TemplatePool.Eval);
    }

    [Fact]
    public void Vague_templates_name_no_task()
    {
        foreach (TaskTemplateSet set in All().Values)
        {
            foreach (TaskTemplate t in set.Pool(TemplatePool.Vague))
            {
                string words = Placeholder().Replace(t.Prompt, "").ToLowerInvariant();
                Assert.DoesNotContain("translat", words, StringComparison.Ordinal);
                Assert.DoesNotContain("summar", words, StringComparison.Ordinal);
                Assert.DoesNotContain("sentiment", words, StringComparison.Ordinal);
                Assert.DoesNotContain("positive", words, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Applying_every_template_to_real_records_fills_every_placeholder_and_keeps_the_answer_out_of_the_prompt()
    {
        foreach (string task in Tasks)
        {
            TaskTemplateSet set = All()[task];
            TaskRecord record = TaskTemplates.ReadRecords(TaskFile($"{task}.dev.jsonl"))[0];
            string answerField = set.Answer.Trim('{', '}');
            foreach (TaskTemplate t in set.Templates)
            {
                TemplatedRecord filled = set.Apply(record, t);
                Assert.DoesNotMatch(Placeholder(), filled.Prompt.Replace(record.Fields[set.Inputs[0]], "", StringComparison.Ordinal));
                Assert.Contains(record.Fields[set.Inputs[0]], filled.Prompt, StringComparison.Ordinal);
                Assert.Equal(record.Fields[answerField], filled.Answer);
                Assert.DoesNotContain(filled.Answer, filled.Prompt.Replace(record.Fields[set.Inputs[0]], "", StringComparison.Ordinal).Replace("positive or negative", "", StringComparison.Ordinal).Replace("- positive\n- negative", "", StringComparison.Ordinal), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void ToChatExample_gives_a_user_prompt_and_the_answer_with_the_records_origin()
    {
        TaskTemplateSet set = All()["translation-en-fr"];
        string path = TaskFile("translation-en-fr.dev.jsonl");
        TaskRecord record = TaskTemplates.ReadRecords(path)[4];

        ChatExample example = set.ToChatExample(record, TemplatePool.Eval, seed: 0);

        Assert.Equal([ChatRole.User, ChatRole.Assistant], example.Messages.Select(m => m.Role));
        Assert.Equal(record.Fields["target"], example.Messages[1].Content);
        Assert.Contains(example.Messages[0].Content, set.Pool(TemplatePool.Eval).Select(t => TaskTemplates.Fill(t.Prompt, _ => record.Fields["source"])));
        Assert.Equal((path, 5), (example.Source, example.Line));
    }

    [Fact]
    public void Template_choice_is_seeded_per_record_and_spreads_over_the_pool()
    {
        TaskTemplateSet set = All()["sentiment"];
        var records = TaskTemplates.ReadRecords(TaskFile("sentiment.train.jsonl"));

        var first = records.Select(r => set.Choose(r, TemplatePool.Train, seed: 42).Id).ToList();
        var again = records.Reverse().Select(r => set.Choose(r, TemplatePool.Train, seed: 42).Id).Reverse().ToList();
        var otherSeed = records.Select(r => set.Choose(r, TemplatePool.Train, seed: 43).Id).ToList();

        Assert.Equal(first, again); // independent of reading order
        Assert.True(first.Zip(otherSeed).Count(p => p.First != p.Second) > records.Count / 2, "another seed picks other templates");
        var counts = first.GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(set.Pool(TemplatePool.Train).Select(t => t.Id).Order(), counts.Keys.Order());
        double expected = (double)records.Count / counts.Count;
        Assert.All(counts.Values, n => Assert.InRange(n, expected * 0.75, expected * 1.25));
        Assert.All(first, id => Assert.Equal(TemplatePool.Train, set.Templates.Single(t => t.Id == id).Pool));
    }

    [Fact]
    public void An_answer_outside_the_options_names_the_record()
    {
        TaskTemplateSet set = All()["sentiment"];
        var record = new TaskRecord("r", new Dictionary<string, string> { ["text"] = "Meh.", ["label"] = "neutral" }, "s.jsonl", 7);

        var e = Assert.Throws<TailorException>(() => set.ToChatExample(record, TemplatePool.Train, 1));

        Assert.StartsWith("s.jsonl:7: answer 'neutral' is not one of the options of task sentiment", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"id": "t1", "pool": "train", "prompt": "Classify {txt}"}""", "template t1: unknown placeholder {txt}; use one of {options}, {options_list}, {text}")]
    [InlineData("""{"id": "t1", "pool": "train", "prompt": "{text} is {label}"}""", "template t1: the prompt uses {label}, the answer's field")]
    [InlineData("""{"id": "t1", "pool": "later", "prompt": "{text}"}""", "template t1: pool 'later' is not one of train, eval, vague")]
    [InlineData("""{"id": "t1", "pool": "train", "prompt": "{text"}""", "template t1: bad placeholder in \"prompt\" at character 0")]
    [InlineData("""{"id": "t1", "pool": "train", "prompt": "a"}, {"id": "t1", "pool": "eval", "prompt": "b"}""", "template t1: the id is used twice")]
    public void A_bad_template_file_names_the_file_and_the_template(string templates, string expected)
    {
        string dir = Directory.CreateTempSubdirectory("tailor-templates-").FullName;
        try
        {
            string path = Path.Combine(dir, "sentiment.json");
            File.WriteAllText(path, $$"""{"task": "sentiment", "inputs": ["text"], "answer": "{label}", "options": ["positive", "negative"], "templates": [{{templates}}]}""");

            var e = Assert.Throws<TailorException>(() => TaskTemplates.Load(path));

            Assert.StartsWith($"{path}: {expected}", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Double_braces_are_literal_braces()
    {
        Assert.Equal("{x} = 1", TaskTemplates.Fill("{{x}} = {v}", _ => "1"));
        Assert.Equal("translation-en-de", TaskTemplates.TaskOf("data/tasks/translation-en-de.freedict.train.jsonl"));
    }
}
