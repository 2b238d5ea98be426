// Regenerates afinn-reference.jsonl: the scores npm sentiment@5.0.2 itself gives to a few IMDB test sentences and
// edge cases. Run after `scripts/data/build-all.sh tools indexes packages` has unpacked the package:
//   node tests/Tailor.Tests/Evaluation/Baselines/make_afinn_reference.js > tests/Tailor.Tests/Evaluation/Baselines/afinn-reference.jsonl
// Inputs are the texts already in the file (read from stdin when given with --texts FILE), so the cases stay fixed.
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "../../../..");
const work = process.env.DATA_WORK || path.join(root, ".build", "data");
const Sentiment = require(path.join(work, "pkg", "npm-sentiment", "package", "lib", "index.js"));
const analyzer = new Sentiment();
const file = path.join(__dirname, "afinn-reference.jsonl");
for (const line of fs.readFileSync(file, "utf8").trim().split("\n")) {
  const c = JSON.parse(line);
  console.log(JSON.stringify({ id: c.id, text: c.text, score: analyzer.analyze(c.text).score }));
}
