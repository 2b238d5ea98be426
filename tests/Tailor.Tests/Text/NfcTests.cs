using System.Globalization;
using System.Text;
using Tailor.Text;
using Xunit.Sdk;

namespace Tailor.Tests.Text;

/// <summary>
/// Tailor's hand-written NFC against the Unicode conformance file NormalizationTest.txt (UCD 15.0.0, see
/// Fixtures/tokenizers/PROVENANCE.md), with the rules stated in its header:
/// c2 == NFC(c1) == NFC(c2) == NFC(c3), c4 == NFC(c4) == NFC(c5), and NFC(x) == x for every code point not in part 1.
/// </summary>
public class NfcTests
{
    [Fact]
    public void Nfc_passes_the_unicode_conformance_test()
    {
        string[] lines = Encoding.UTF8.GetString(TokenizerFixtures.ReadGz("NormalizationTest-15.0.0.txt.gz")).Split('\n');
        HashSet<int> partOne = [];
        string part = "";
        int checkedLines = 0;
        List<string> failures = [];
        foreach (string raw in lines)
        {
            string line = raw.Split('#')[0].Trim();
            if (line.Length == 0)
                continue;
            if (line.StartsWith('@'))
            {
                part = line;
                continue;
            }

            string[] c = [.. line.Split(';').Take(5).Select(Decode)];
            if (part == "@Part1")
                partOne.Add(char.ConvertToUtf32(c[0], 0));
            Expect(c[1], c[0], raw, failures);
            Expect(c[1], c[1], raw, failures);
            Expect(c[1], c[2], raw, failures);
            Expect(c[3], c[3], raw, failures);
            Expect(c[3], c[4], raw, failures);
            checkedLines++;
        }

        for (int cp = 0; cp <= 0x10FFFF; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF || partOne.Contains(cp))
                continue;
            string x = char.ConvertFromUtf32(cp);
            Expect(x, x, $"U+{cp:X4} (not in part 1)", failures);
        }

        Assert.True(checkedLines > 19000, $"only {checkedLines} test lines were read");
        if (failures.Count > 0)
            throw new XunitException($"{failures.Count} NFC failures, first ones:\n{string.Join("\n", failures.Take(10))}");
    }

    [Fact]
    public void Text_that_is_already_nfc_comes_back_as_the_same_instance()
    {
        const string Text = "Plain ASCII, café, 日本語, 😀";

        Assert.Same(Text, Nfc.Normalize(Text));
    }

    [Fact]
    public void Lone_surrogates_become_replacement_characters()
    {
        Assert.Equal("a\uFFFDb\uFFFD", Nfc.Normalize("a\uD800b\uDC00"));
    }

    private static void Expect(string expected, string input, string line, List<string> failures)
    {
        string actual = Nfc.Normalize(input);
        if (actual != expected)
            failures.Add($"{line.Trim()}: NFC({Hex(input)}) = {Hex(actual)}, expected {Hex(expected)}");
    }

    private static string Decode(string field)
    {
        StringBuilder s = new();
        foreach (string hex in field.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            s.Append(char.ConvertFromUtf32(int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
        return s.ToString();
    }

    private static string Hex(string s) => string.Join(" ", s.EnumerateRunes().Select(r => r.Value.ToString("X4", CultureInfo.InvariantCulture)));
}
