// Encodes each line of a text file with the @lenml/tokenizers JS runtime and a tokenizer folder written by Tailor,
// printing one JSON array of ids per line: an independent check that Tailor's tokenizer.json is read as Tailor means it.
// Usage: node check_trained.mjs TOKENIZER_FOLDER TEXT_FILE > ids.jsonl
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
const require = createRequire(import.meta.url);
const { TokenizerLoader } = require("@lenml/tokenizers");
const [folder, textFile] = process.argv.slice(2);
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(folder, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(folder, "tokenizer_config.json"), "utf8")),
});
for (const line of readFileSync(textFile, "utf8").split("\n")) {
  console.log(JSON.stringify(Array.from(tokenizer.encode(line, { add_special_tokens: false }))));
}
