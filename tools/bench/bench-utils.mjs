/** Small helpers shared by the benchmark scripts in tools/bench. */

/**
 * GPT-2 small (124M parameters): the Hugging Face `gpt2` config, built with random weights by
 * `CausalLM.fromConfig` (this project's own code), so no download is needed.
 */
export const GPT2_SMALL_CONFIG = {
  model_type: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  tie_word_embeddings: true,
  eos_token_id: 50256,
};

/** Median of a non-empty list. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `rows` × `length` deterministic token ids in [0, vocab), varied by `salt`. */
export function syntheticIds(rows, length, vocab, salt = 0) {
  return Array.from({ length: rows }, (_, r) => Array.from({ length }, (_, t) => (r * 31 + t * 7 + salt * 13 + 5) % vocab));
}
