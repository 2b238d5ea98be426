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
