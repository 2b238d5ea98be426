using System.Text;

namespace Tailor.Tests.Text;

/// <summary>
/// A small, seeded, English-like corpus for trainer tests: sentences written for these tests, recombined by a seeded
/// generator so that word frequencies vary (some words common, some rare) as in real text.
/// </summary>
internal static class TrainingCorpus
{
    private static readonly string[] Sentences =
    [
        "The tailor measured the cloth twice before cutting it once.",
        "A small model learns quickly when the data is clean and the learning rate is warm.",
        "Tokenizers split text into pieces; the pieces become numbers, and the numbers become vectors.",
        "She said: \"It's late, we'll finish tomorrow,\" and closed the notebook.",
        "In 2024 the team trained 3 models with 12, 24 and 36 layers on 1,000,000 documents.",
        "def train(model, data):\n    for batch in data:\n        loss = model(batch)\n        loss.backward()\n",
        "Weather report: rain in the morning, sun in the afternoon, wind from the north-west at 20 km/h.",
        "They're testing whether the merges are deterministic, and they've written the results down.",
        "Café, naïve and résumé keep their accents; 東京 and Zürich keep their names.",
        "Lists:\n- apples\n- pears\n- plums\n\nTotal: 3 kinds of fruit.",
        "The quick brown fox jumps over the lazy dog, then the dog sleeps again.",
        "Numbers like 3.14159 and 2.71828 appear in science; dates like 1999-12-31 appear in logs.",
    ];

    private static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he",
        "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were", "their",
        "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so",
        "no", "tokenizer", "merge", "vocabulary", "frequency", "training", "sequence", "pattern", "language", "model",
    ];

    /// <summary>Documents totalling about <paramref name="chars"/> characters; same seed, same documents.</summary>
    public static List<string> Documents(int chars, int seed = 1234)
    {
        Random random = new(seed);
        List<string> documents = [];
        int total = 0;
        while (total < chars)
        {
            StringBuilder doc = new();
            int parts = random.Next(1, 6);
            for (int p = 0; p < parts; p++)
            {
                if (random.Next(3) == 0)
                {
                    doc.Append(Sentences[random.Next(Sentences.Length)]);
                }
                else
                {
                    // Zipf-like: low indices are picked far more often.
                    int n = random.Next(5, 20);
                    for (int w = 0; w < n; w++)
                    {
                        int index = (int)(Words.Length * Math.Pow(random.NextDouble(), 2.5));
                        doc.Append(w == 0 ? "" : " ").Append(Words[index]);
                    }

                    doc.Append(random.Next(4) == 0 ? ".\n" : ". ");
                }
            }

            documents.Add(doc.ToString());
            total += doc.Length;
        }

        return documents;
    }
}
