using Tailor.Evaluation;

namespace Tailor.Tests.Evaluation;

public sealed class OffTaskTests
{
    private static readonly EvalTask Sentiment = EvalTask.Get("sentiment", "data/tasks");
    private static readonly EvalTask Summaries = EvalTask.Get("summarization", "data/tasks");
    private static readonly EvalTask German = EvalTask.Get("translation-en-de", "data/tasks");
    private static readonly EvalTask French = EvalTask.Get("translation-en-fr", "data/tasks");

    [Theory]
    [InlineData("positive", "positive")]
    [InlineData(" Negative.", "negative")]
    [InlineData("\"positive\"", "positive")]
    [InlineData("negative - the reviewer hated it", "negative")]
    [InlineData("positively", null)]
    [InlineData("The man's a", null)]
    [InlineData("", null)]
    public void A_label_is_matched_only_as_a_whole_leading_word(string answer, string? label) =>
        Assert.Equal(label, OffTask.MatchLabel(answer, ["positive", "negative"]));

    [Fact]
    public void Sentiment_answers_that_name_no_label_are_off_task()
    {
        Assert.Null(OffTask.Reason(Sentiment, "Great phone.", "positive"));
        Assert.Equal("not_a_label", OffTask.Reason(Sentiment, "Great phone.", "The first part of"));
        Assert.Equal("empty", OffTask.Reason(Sentiment, "Great phone.", "  "));
    }

    [Fact]
    public void Summaries_longer_than_their_text_are_off_task()
    {
        Assert.Null(OffTask.Reason(Summaries, "a tool to convert images between many formats", "image converter"));
        Assert.Equal("longer_than_input", OffTask.Reason(Summaries, "image tool", "a tool that converts images between formats"));
        Assert.Equal("wrong_language", OffTask.Reason(Summaries, "This package contains the files for the library of the tool.", "Das Paket enthält die Bibliothek für das Werkzeug"));
    }

    [Fact]
    public void Translations_that_ramble_far_past_their_source_are_off_task()
    {
        const string source = "basic command line homebanking utilities";                              // 5 words: up to 14 allowed
        Assert.Null(OffTask.Reason(German, source, "Einfache Befehlszeilenwerkzeuge für Homebanking"));
        Assert.Null(OffTask.Reason(German, source, "Einfache Werkzeuge für die Befehlszeile, mit denen man Bankgeschäfte zu Hause erledigen kann"));
        Assert.Equal("longer_than_input", OffTask.Reason(German, source,
            "Büroprogrammsammlung für die Erstellung von Programmen, die für die Entwicklung von Programmen benötigt werden, die von Programmen verwendet werden"));
        Assert.Equal("longer_than_input", OffTask.Reason(French, "spam filter",
            "un filtre pour le courriel indésirable qui fournit des outils pour gérer les systèmes"));
    }

    [Fact]
    public void A_summary_or_translation_that_is_only_a_sentiment_label_is_off_task()
    {
        const string text = "This package contains the command line tools of the library for reading image files.";
        Assert.Equal("another_tasks_label", OffTask.Reason(Summaries, text, "negative"));
        Assert.Equal("another_tasks_label", OffTask.Reason(Summaries, text, " Positive."));
        Assert.Equal("another_tasks_label", OffTask.Reason(German, text, "\"negative\""));
        Assert.Equal("another_tasks_label", OffTask.Reason(French, text, "positive"));
        // Only the whole answer: a summary that starts with the word is judged by the other rules.
        Assert.Null(OffTask.Reason(Summaries, "Positive displacement pumps move fluid by trapping a fixed amount of it.", "Positive displacement pump tools"));
        // A one-word source whose translation is the same word ("positive" is French too) is a translation.
        Assert.Null(OffTask.Reason(French, "Positive", "positive"));
        // The labels are the caller's: none given, none caught; a user's task's labels, caught.
        Assert.Null(OffTask.Reason(Summaries, text, "negative", []));
        Assert.Equal("another_tasks_label", OffTask.Reason(Summaries, text, "Yes", ["yes", "no"]));
        Assert.Null(OffTask.Reason(Sentiment, "Great phone.", "positive", ["positive"]));
    }

    [Fact]
    public void Foreign_labels_are_every_evaluated_classification_tasks_less_the_tasks_own_answers()
    {
        var questions = EvalTask.Get("summarization", "data/tasks") with { Name = "questions" };
        var yesNo = Sentiment with { Name = "yes-no", Options = ["yes", "no"] };
        EvalRecord[] records = [new("a", "Is the sky blue?", ["Yes."], null), new("b", "Describe the sky.", ["It is blue."], null)];
        Assert.Equal(["positive", "negative", "no"], OffTask.ForeignLabels(questions, records, [Sentiment, yesNo]));
        Assert.Equal(["positive", "negative"], OffTask.ForeignLabels(Summaries, [], []));
        Assert.Empty(OffTask.ForeignLabels(Sentiment, [], [Sentiment, yesNo]));
    }

    [Fact]
    public void Degenerate_repetition_is_off_task_whatever_the_task()
    {
        Assert.Equal("repetition", OffTask.Reason(Summaries, string.Join(' ', Enumerable.Repeat("word", 40)), "the the the the the the the the the the"));
        Assert.Equal("repetition", OffTask.Reason(German, "x", "das ist gut das ist gut das ist gut"));
        Assert.Null(OffTask.Reason(German, "This package contains the files for the library.", "Dieses Paket enthält die Dateien für die Bibliothek."));
    }

    [Theory]
    [InlineData("This package contains the files for the library.", "en")]
    [InlineData("Dieses Paket enthält die Dateien für die Bibliothek.", "de")]
    [InlineData("Ce paquet contient les fichiers pour la bibliothèque.", "fr")]
    [InlineData("Python-Bibliothek", null)]
    [InlineData("", null)]
    public void Language_id_names_the_language_or_abstains_on_short_text(string text, string? lang) =>
        Assert.Equal(lang, OffTask.LanguageId(text));

    [Fact]
    public void A_translation_in_the_wrong_language_is_off_task()
    {
        const string source = "This package contains the files for the library.";
        Assert.Equal("wrong_language", OffTask.Reason(German, source, "This package contains the files for the library."));
        Assert.Equal("wrong_language", OffTask.Reason(French, source, "Dieses Paket enthält die Dateien für die Bibliothek."));
        Assert.Null(OffTask.Reason(French, source, "Ce paquet contient les fichiers pour la bibliothèque."));
    }
}
