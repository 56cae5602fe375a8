// Builds the tiny byte-level BPE tokenizer used by the tests (≤ 1000 ids, so it fits the tiny
// models' vocabulary of 1000). Run: node make-tokenizer.mjs (writes tokenizer.json and
// tokenizer_config.json into tiny-gpt2/ and tiny-llama/ (plain, no chat template) and tiny-qwen2/
// (ChatML chat template, eos <|im_end|>)). Deterministic: same corpus, same output.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SPECIALS = ['<|pad|>', '<|startoftext|>', '<|endoftext|>', '<|im_start|>', '<|im_end|>'];
const VOCAB_LIMIT = 1000;
const corpus = `
a cat sitting on a windowsill, golden hour, soft light, highly detailed, 8k
a portrait of an old fisherman, dramatic lighting, sharp focus, cinematic
a mountain landscape at sunrise, misty valley, volumetric light, wide angle
a red sports car on a wet city street at night, neon reflections, photorealistic
a bowl of ramen with steam, food photography, shallow depth of field
a futuristic city with flying cars, sci-fi concept art, intricate details
a medieval castle on a hill, fantasy illustration, epic clouds, matte painting
a dog running on the beach, motion blur, vibrant colors, award winning photo
an astronaut riding a horse on mars, surreal, digital art, trending on artstation
a cozy cabin in a snowy forest, warm light from windows, winter evening
a bouquet of flowers in a vase, still life, oil painting, rich textures
a dragon flying over the ocean, stormy sky, dynamic composition, epic scale
a young woman reading a book in a cafe, candid, natural light, 35mm film
a modern house with large glass windows, architectural photography, minimalist
an owl perched on a branch, wildlife photography, bokeh background, detailed feathers
rewrite the prompt with more visual detail. keep the subject. answer with the prompt only.
you rewrite short text to image prompts into rich detailed prompts
the quick brown fox jumps over the lazy dog, beautiful, stunning, masterpiece
`.trim();

// GPT-2 bytes_to_unicode.
const bs = [];
for (let i = 33; i <= 126; i += 1) bs.push(i);
for (let i = 161; i <= 172; i += 1) bs.push(i);
for (let i = 174; i <= 255; i += 1) bs.push(i);
const cs = [...bs];
let extra = 0;
for (let b = 0; b < 256; b += 1) if (!bs.includes(b)) { bs.push(b); cs.push(256 + extra); extra += 1; }
const byteToChar = new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i])]));

const pattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const words = new Map();
for (const line of corpus.split('\n')) {
  for (const piece of line.match(pattern) ?? []) {
    const mapped = [...new TextEncoder().encode(piece)].map((b) => byteToChar.get(b)).join('');
    words.set(mapped, (words.get(mapped) ?? 0) + 1);
  }
}
const vocab = new Map();
SPECIALS.forEach((token, id) => vocab.set(token, id));
for (let b = 0; b < 256; b += 1) vocab.set(byteToChar.get(b), vocab.size);
const splits = new Map([...words.keys()].map((word) => [word, [...word]]));
const merges = [];
while (vocab.size < VOCAB_LIMIT) {
  const counts = new Map();
  for (const [word, parts] of splits) {
    for (let i = 0; i < parts.length - 1; i += 1) {
      const key = `${parts[i]} ${parts[i + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + words.get(word));
    }
  }
  let best = null;
  for (const [key, count] of counts) {
    if (!best || count > best[1] || (count === best[1] && key < best[0])) best = [key, count];
  }
  if (!best || best[1] < 2) break;
  const [left, right] = best[0].split(' ');
  merges.push(best[0]);
  vocab.set(left + right, vocab.size);
  for (const [word, parts] of splits) {
    const next = [];
    for (let i = 0; i < parts.length; i += 1) {
      if (i < parts.length - 1 && parts[i] === left && parts[i + 1] === right) { next.push(left + right); i += 1; }
      else next.push(parts[i]);
    }
    splits.set(word, next);
  }
}
const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
    fuse_unk: false, byte_fallback: false, ignore_merges: false,
    vocab: Object.fromEntries(vocab), merges,
  },
};
for (const model of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2']) writeFileSync(join(here, model, 'tokenizer.json'), `${JSON.stringify(tokenizer)}\n`);
const config = {
  bos_token: '<|startoftext|>',
  eos_token: '<|endoftext|>',
  pad_token: '<|pad|>',
  unk_token: null,
  add_bos_token: false,
  model_max_length: 64,
  tokenizer_class: 'GPT2Tokenizer',
  clean_up_tokenization_spaces: false,
};
for (const model of ['tiny-gpt2', 'tiny-llama']) writeFileSync(join(here, model, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);
const chat = {
  ...config,
  eos_token: '<|im_end|>',
  chat_template:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
};
writeFileSync(join(here, 'tiny-qwen2', 'tokenizer_config.json'), `${JSON.stringify(chat, null, 2)}\n`);
console.log(`vocab ${vocab.size}, merges ${merges.length}`);
