using Tailor.Evaluation.Metrics;

namespace Tailor.Tests.Evaluation.Metrics;

// Expected strings are what CPython 3.11 prints for the same expressions (str.lower, str.split, f"{x:.2f}").
public class PyTextTests
{
    [Theory]
    [InlineData("ΟΔΟΣ ΣΟΦΟΣ. Σ ΑΣ'Α", "οδος σοφος. σ ασ'α")] // final sigma only at the end of a word
    [InlineData("İstanbul", "i\u0307stanbul")] // U+0130 lowercases to two code points
    [InlineData("Straße ÉCOLE \u212A", "straße école k")] // Kelvin sign becomes ASCII k
    [InlineData("𐐀BC", "𐐨bc")] // Deseret, outside the BMP
    public void Lower_matches_python_str_lower(string input, string expected)
    {
        Assert.Equal(expected, PyText.Lower(input));
    }

    [Fact]
    public void Whitespace_includes_the_information_separators_as_in_python()
    {
        Assert.Equal("x y z", PyText.NormalizeSpaces(" x\u001Fy\u00A0 z\u2003"));
        Assert.Equal("xyz", PyText.RemoveSpaces("x\u001Cy\tz"));
        Assert.Equal("abc", PyText.RStrip("abc \u001E\n"));
    }

    [Theory]
    [InlineData(0.125, 2, "0.12")] // exact tie: to even
    [InlineData(2.675, 2, "2.67")] // 2.67499999... in binary
    [InlineData(0.5, 0, "0")]
    [InlineData(1.5, 0, "2")]
    [InlineData(48.530827, 2, "48.53")]
    [InlineData(-0.0625, 3, "-0.062")]
    public void FormatFixed_rounds_like_python(double value, int digits, string expected)
    {
        Assert.Equal(expected, PyText.FormatFixed(value, digits));
    }
}
