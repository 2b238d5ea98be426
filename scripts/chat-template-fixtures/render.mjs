// Renders the chat-template fixtures that Tailor's ChatTemplate tests compare against, with @huggingface/jinja
// (the Jinja engine transformers.js uses; it applies transformers' trim_blocks + lstrip_blocks settings).
//
//   cd scripts/chat-template-fixtures && npm install && node render.mjs
//
// Writes tests/Tailor.Tests/Fixtures/chat-template/chatml.rendered.json:
//   template  the ChatML template (must equal Tailor.Text.ChatTemplate.Jinja; the C# test checks)
//   cases     conversations rendered with add_generation_prompt false and true
//   variants  other chat_template strings and whether they render every case exactly as `template` does; the C#
//             detector (ChatTemplate.IsChatMl) must agree with that verdict.
// Run it to add cases, never to make a failing test pass.
import { Template } from "@huggingface/jinja";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const outDir = join(root, "tests", "Tailor.Tests", "Fixtures", "chat-template");

// ChatML as Hugging Face's chat-templating guide and Qwen-style tokenizer_config.json files write it.
const chatml =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const conversations = {
  "user-only": [{ role: "user", content: "Hello!" }],
  "system-user-assistant": [
    { role: "system", content: "You are a careful tailor." },
    { role: "user", content: "How many times should I measure?" },
    { role: "assistant", content: "Twice, then cut once." },
  ],
  "multi-turn": [
    { role: "user", content: "Translate to German: good morning" },
    { role: "assistant", content: "Guten Morgen" },
    { role: "user", content: "And to French?" },
    { role: "assistant", content: "Bonjour" },
  ],
  "whitespace-and-unicode": [
    { role: "system", content: "  leading and trailing spaces  " },
    { role: "user", content: "\n\nTwo newlines first,\ttabs, Zürich, 東京, 😀, and a final newline\n" },
    { role: "assistant", content: " Café naïve résumé \n\n" },
  ],
  "template-syntax-in-content": [
    { role: "user", content: "{{ not a tag }} {% if x %} {# no #} 'single' \"double\" \\n backslash" },
    { role: "assistant", content: "Literal <|im_end|> and <|im_start|>user inside text" },
  ],
  "empty-contents": [
    { role: "user", content: "" },
    { role: "assistant", content: "" },
  ],
  "system-only": [{ role: "system", content: "Only a system message." }],
  "assistant-first": [
    { role: "assistant", content: "I speak first." },
    { role: "user", content: "Fine." },
  ],
};

const cases = [];
for (const [name, messages] of Object.entries(conversations)) {
  for (const addGenerationPrompt of [false, true]) {
    const rendered = new Template(chatml).render({ messages, add_generation_prompt: addGenerationPrompt });
    cases.push({ name, add_generation_prompt: addGenerationPrompt, messages, rendered });
  }
}

const qwen3Config = JSON.parse(
  gunzipSync(readFileSync(join(root, "tests", "Tailor.Tests", "Fixtures", "tokenizers", "qwen3.tokenizer_config.json.gz"))).toString("utf8"),
);

const variants = {
  "chatml": chatml,
  "chatml-dashes-attributes-merged-literal":
    "{%- for message in messages -%}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
  "chatml-multiline-indented-with-dashes":
    "{%- for message in messages %}\n    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
  "chatml-double-quotes-split-outputs":
    '{% for message in messages %}{{ "<|im_start|>" + message["role"] + "\\n" }}{{ message["content"] }}{{ "<|im_end|>\\n" }}{% endfor %}{% if add_generation_prompt %}{{ "<|im_start|>assistant\\n" }}{% endif %}',
  "chatml-literal-text":
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
  "chatml-other-loop-variable":
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  "chatml-comment":
    "{# ChatML #}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  "multiline-without-dashes-adds-newlines":
    "{% for message in messages %}\n{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n{% endfor %}\n{% if add_generation_prompt %}\n{{ '<|im_start|>assistant\\n' }}\n{% endif %}",
  "chatml-with-default-system-prompt":
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are an assistant.<|im_end|>\\n' }}{% endif %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  "chatml-trimmed-content":
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  "chatml-without-generation-prompt":
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}",
  "qwen3-tokenizer-config": qwen3Config.chat_template,
  "inst-style":
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + '</s>' }}{% endif %}{% endfor %}",
};

const reference = (messages, addGenerationPrompt) =>
  cases.find((c) => c.messages === messages && c.add_generation_prompt === addGenerationPrompt).rendered;

const variantRows = [];
for (const [name, template] of Object.entries(variants)) {
  let same = true;
  let firstDifference = null;
  for (const c of cases) {
    let rendered;
    try {
      rendered = new Template(template).render({ messages: c.messages, add_generation_prompt: c.add_generation_prompt });
    } catch (e) {
      rendered = `<error: ${e.message}>`;
    }
    if (rendered !== reference(c.messages, c.add_generation_prompt)) {
      same = false;
      firstDifference ??= { case: c.name, add_generation_prompt: c.add_generation_prompt, rendered };
    }
  }
  variantRows.push({ name, renders_like_chatml: same, template, first_difference: firstDifference });
}

if (!variantRows.find((v) => v.name === "chatml").renders_like_chatml) throw new Error("the reference template differs from itself");

mkdirSync(outDir, { recursive: true });
const out = {
  generator: "scripts/chat-template-fixtures/render.mjs",
  engine: "@huggingface/jinja 0.5.11 (Template: trim_blocks and lstrip_blocks on, as transformers)",
  template: chatml,
  cases,
  variants: variantRows,
};
writeFileSync(join(outDir, "chatml.rendered.json"), JSON.stringify(out, null, 2) + "\n");
for (const v of variantRows) console.log(`${v.renders_like_chatml ? "same     " : "different"}  ${v.name}`);
console.log(`${cases.length} cases written to ${join(outDir, "chatml.rendered.json")}`);
