namespace Tailor.Evaluation.Metrics;

/// <summary>
/// The Porter stemmer as NLTK implements it in its default <c>NLTK_EXTENSIONS</c> mode
/// (<c>nltk.stem.porter.PorterStemmer()</c>, unchanged in behaviour since NLTK 3.6), which is what
/// rouge-score's <c>use_stemmer=True</c> calls. That mode is neither Porter's 1980 paper nor Martin Porter's
/// frozen reference: it adds an irregular-forms table, leaves words of one or two letters alone, and changes
/// steps 1a, 1b, 1c, 2 and the *o condition. The rules are listed in the order NLTK tries them; within a rule
/// list the first suffix that matches decides, whether or not its condition then holds.
/// </summary>
public static class PorterStemmer
{
    private static readonly Dictionary<string, string> IrregularForms = new(StringComparer.Ordinal)
    {
        ["sky"] = "sky",
        ["skies"] = "sky",
        ["dying"] = "die",
        ["lying"] = "lie",
        ["tying"] = "tie",
        ["news"] = "news",
        ["innings"] = "inning",
        ["inning"] = "inning",
        ["outings"] = "outing",
        ["outing"] = "outing",
        ["cannings"] = "canning",
        ["canning"] = "canning",
        ["howe"] = "howe",
        ["proceed"] = "proceed",
        ["exceed"] = "exceed",
        ["succeed"] = "succeed",
    };

    // Stems of words already seen: corpora repeat words, and stemming allocates a string per step. Bounded so a
    // long-running server cannot grow it without limit; past the bound words are stemmed without caching.
    private const int CacheLimit = 200_000;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Cache = new(StringComparer.Ordinal);

    /// <summary>Stems one word (lowercased first, as NLTK's <c>stem(word)</c> does by default).</summary>
    public static string Stem(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (Cache.TryGetValue(word, out string? cached))
            return cached;
        string result = StemUncached(word);
        if (Cache.Count < CacheLimit)
            Cache.TryAdd(word, result);
        return result;
    }

    private static string StemUncached(string word)
    {
        string stem = PyText.Lower(word);

        // NLTK looks the original word up but returns the entry of the lowercased one.
        if (IrregularForms.ContainsKey(word))
            return IrregularForms[stem];
        if (word.Length <= 2)
            return stem;

        stem = Step1a(stem);
        stem = Step1b(stem);
        stem = Step1c(stem);
        stem = Step2(stem);
        stem = Step3(stem);
        stem = Step4(stem);
        stem = Step5a(stem);
        stem = Step5b(stem);
        return stem;
    }

    private static bool IsVowelLetter(char c) => c is 'a' or 'e' or 'i' or 'o' or 'u';

    // A consonant is a letter other than a, e, i, o, u, and other than y preceded by a consonant.
    private static bool IsConsonant(ReadOnlySpan<char> word, int i)
    {
        while (true)
        {
            char c = word[i];
            if (IsVowelLetter(c))
                return false;
            if (c != 'y')
                return true;
            if (i == 0)
                return true;
            // y is a consonant exactly when the letter before it is a vowel.
            if (IsConsonant(word, i - 1))
                return false;
            return true;
        }
    }

    // m in [C](VC){m}[V]: the number of vowel-consonant transitions.
    private static int Measure(ReadOnlySpan<char> stem)
    {
        int m = 0;
        bool prevVowel = false;
        for (int i = 0; i < stem.Length; i++)
        {
            bool consonant = IsConsonant(stem, i);
            if (consonant && prevVowel)
                m++;
            prevVowel = !consonant;
        }
        return m;
    }

    private static bool ContainsVowel(ReadOnlySpan<char> stem)
    {
        for (int i = 0; i < stem.Length; i++)
        {
            if (!IsConsonant(stem, i))
                return true;
        }
        return false;
    }

    // *d: ends with a double consonant.
    private static bool EndsDoubleConsonant(ReadOnlySpan<char> word) =>
        word.Length >= 2 && word[^1] == word[^2] && IsConsonant(word, word.Length - 1);

    // *o: ends consonant-vowel-consonant with the last not w, x or y; NLTK also accepts a two-letter
    // vowel-consonant word.
    private static bool EndsCvc(ReadOnlySpan<char> word) =>
        (word.Length >= 3
            && IsConsonant(word, word.Length - 3)
            && !IsConsonant(word, word.Length - 2)
            && IsConsonant(word, word.Length - 1)
            && word[^1] is not ('w' or 'x' or 'y'))
        || (word.Length == 2 && !IsConsonant(word, 0) && IsConsonant(word, 1));

    private delegate bool Condition(string stem);

    private readonly record struct Rule(string Suffix, string Replacement, Condition? When);

    private static bool PositiveMeasure(string stem) => Measure(stem) > 0;

    private static bool MeasureAboveOne(string stem) => Measure(stem) > 1;

    // The first rule whose suffix matches decides: its condition either holds (replace) or not (keep the word).
    private static string ApplyRules(string word, Rule[] rules)
    {
        foreach (Rule rule in rules)
        {
            if (word.EndsWith(rule.Suffix, StringComparison.Ordinal))
            {
                string stem = word[..^rule.Suffix.Length];
                return rule.When is null || rule.When(stem) ? stem + rule.Replacement : word;
            }
        }
        return word;
    }

    private static readonly Rule[] Step1aRules =
    [
        new("sses", "ss", null),
        new("ies", "i", null),
        new("ss", "ss", null),
        new("s", "", null),
    ];

    private static string Step1a(string word)
    {
        // NLTK: a four-letter -ies word keeps its e ("dies" -> "die", but "flies" -> "fli").
        if (word.EndsWith("ies", StringComparison.Ordinal) && word.Length == 4)
            return word[..^3] + "ie";
        return ApplyRules(word, Step1aRules);
    }

    private static string Step1b(string word)
    {
        // NLTK: -ied becomes -ie in four-letter words, -i otherwise ("died" -> "die", "spied" -> "spi").
        if (word.EndsWith("ied", StringComparison.Ordinal))
            return word.Length == 4 ? word[..^3] + "ie" : word[..^3] + "i";

        if (word.EndsWith("eed", StringComparison.Ordinal))
        {
            string stem = word[..^3];
            return Measure(stem) > 0 ? stem + "ee" : word;
        }

        string? intermediate = null;
        foreach (string suffix in (ReadOnlySpan<string>)["ed", "ing"])
        {
            if (word.EndsWith(suffix, StringComparison.Ordinal))
            {
                string candidate = word[..^suffix.Length];
                if (ContainsVowel(candidate))
                {
                    intermediate = candidate;
                    break;
                }
            }
        }
        if (intermediate is null)
            return word;

        if (intermediate.EndsWith("at", StringComparison.Ordinal))
            return intermediate + "e";
        if (intermediate.EndsWith("bl", StringComparison.Ordinal))
            return intermediate + "e";
        if (intermediate.EndsWith("iz", StringComparison.Ordinal))
            return intermediate + "e";
        if (EndsDoubleConsonant(intermediate))
        {
            // (*d and not (*L or *S or *Z)) -> single letter; a double l, s or z stays.
            char last = intermediate[^1];
            return last is 'l' or 's' or 'z' ? intermediate : intermediate[..^1];
        }
        // (m=1 and *o) -> E
        return Measure(intermediate) == 1 && EndsCvc(intermediate) ? intermediate + "e" : intermediate;
    }

    private static string Step1c(string word)
    {
        // NLTK: y -> i when preceded by a consonant that is not the whole stem ("happy" -> "happi",
        // "enjoy" stays, "fly" -> "fli").
        if (word.EndsWith('y'))
        {
            string stem = word[..^1];
            return stem.Length > 1 && IsConsonant(stem, stem.Length - 1) ? stem + "i" : word;
        }
        return word;
    }

    private static readonly Rule[] Step2Rules =
    [
        new("ational", "ate", PositiveMeasure),
        new("tional", "tion", PositiveMeasure),
        new("enci", "ence", PositiveMeasure),
        new("anci", "ance", PositiveMeasure),
        new("izer", "ize", PositiveMeasure),
        new("bli", "ble", PositiveMeasure),
        new("alli", "al", PositiveMeasure),
        new("entli", "ent", PositiveMeasure),
        new("eli", "e", PositiveMeasure),
        new("ousli", "ous", PositiveMeasure),
        new("ization", "ize", PositiveMeasure),
        new("ation", "ate", PositiveMeasure),
        new("ator", "ate", PositiveMeasure),
        new("alism", "al", PositiveMeasure),
        new("iveness", "ive", PositiveMeasure),
        new("fulness", "ful", PositiveMeasure),
        new("ousness", "ous", PositiveMeasure),
        new("aliti", "al", PositiveMeasure),
        new("iviti", "ive", PositiveMeasure),
        new("biliti", "ble", PositiveMeasure),
        new("fulli", "ful", PositiveMeasure),
    ];

    private static string Step2(string word)
    {
        // NLTK: -alli -> -al first, and the result goes through step 2 again.
        if (word.EndsWith("alli", StringComparison.Ordinal) && PositiveMeasure(word[..^4]))
            return Step2(word[..^4] + "al");

        // NLTK's last step-2 rule, -logi -> -log, measured with the l left on the stem so that short stems like
        // "geo" and "theo" qualify. No other step-2 suffix ends in "gi", so testing it first changes nothing.
        if (word.EndsWith("logi", StringComparison.Ordinal))
            return PositiveMeasure(word[..^3]) ? word[..^1] : word;

        return ApplyRules(word, Step2Rules);
    }

    private static readonly Rule[] Step3Rules =
    [
        new("icate", "ic", PositiveMeasure),
        new("ative", "", PositiveMeasure),
        new("alize", "al", PositiveMeasure),
        new("iciti", "ic", PositiveMeasure),
        new("ical", "ic", PositiveMeasure),
        new("ful", "", PositiveMeasure),
        new("ness", "", PositiveMeasure),
    ];

    private static string Step3(string word) => ApplyRules(word, Step3Rules);

    private static readonly Rule[] Step4Rules =
    [
        new("al", "", MeasureAboveOne),
        new("ance", "", MeasureAboveOne),
        new("ence", "", MeasureAboveOne),
        new("er", "", MeasureAboveOne),
        new("ic", "", MeasureAboveOne),
        new("able", "", MeasureAboveOne),
        new("ible", "", MeasureAboveOne),
        new("ant", "", MeasureAboveOne),
        new("ement", "", MeasureAboveOne),
        new("ment", "", MeasureAboveOne),
        new("ent", "", MeasureAboveOne),
        new("ion", "", stem => Measure(stem) > 1 && stem.Length > 0 && stem[^1] is 's' or 't'),
        new("ou", "", MeasureAboveOne),
        new("ism", "", MeasureAboveOne),
        new("ate", "", MeasureAboveOne),
        new("iti", "", MeasureAboveOne),
        new("ous", "", MeasureAboveOne),
        new("ive", "", MeasureAboveOne),
        new("ize", "", MeasureAboveOne),
    ];

    private static string Step4(string word) => ApplyRules(word, Step4Rules);

    private static string Step5a(string word)
    {
        // Both e-rules are tried (unlike the rule lists): (m>1) E -> ; (m=1 and not *o) E -> .
        if (word.EndsWith('e'))
        {
            string stem = word[..^1];
            int m = Measure(stem);
            if (m > 1 || (m == 1 && !EndsCvc(stem)))
                return stem;
        }
        return word;
    }

    private static string Step5b(string word)
    {
        // (m > 1 and *d and *L) -> single letter; the measure is taken with one l left on.
        if (word.EndsWith("ll", StringComparison.Ordinal))
            return Measure(word.AsSpan(0, word.Length - 1)) > 1 ? word[..^1] : word;
        return word;
    }
}
