import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CausalLM } from './causal-lm.js';
import { MissingWeightsError, UnsupportedArchitectureError, VlmError } from './errors.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import { FIXTURES, LM_FIXTURES, loadReference, maxAbsDiff, tfForward, tfSequenceLogProbs, tfVariables, useTestBackend } from './__fixtures__/test-utils.js';

let scratch: string;
beforeAll(async () => {
  await useTestBackend();
  scratch = await mkdtemp(join(tmpdir(), 'vlm-lm-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.each(LM_FIXTURES)('%s against transformers 5.17', (name) => {
  const ref = loadReference(name);
  let model: CausalLM;
  beforeAll(async () => {
    model = await CausalLM.fromPretrained(join(FIXTURES, name), { backend: null });
  });
  afterAll(() => model.dispose());

  it('logits [2, 8, 1000] match to 1e-4', () => {
    const logits = tfForward(model, ref.input_ids);
    expect(logits.shape).toEqual([2, 8, 1000]);
    expect(maxAbsDiff(logits.dataSync(), ref.logits)).toBeLessThan(1e-4);
    logits.dispose();
  });

  it('left-padded logits match HF forward (positions 0…T−1) at unpadded positions to 1e-4', () => {
    const { input_ids, attention_mask } = ref.left_padded;
    const mask = attention_mask.flat();
    const logits = tfForward(model, input_ids, attention_mask, input_ids.map((row) => row.map((_, j) => j)));
    expect(maxAbsDiff(logits.dataSync(), ref.left_padded.logits, (i) => mask[Math.floor(i / 1000)] === 1)).toBeLessThan(1e-4);
    logits.dispose();
  });

  it('mask-derived positions make a left-padded row equal to the same row unpadded', () => {
    const { input_ids, attention_mask } = ref.left_padded;
    const padded = tfForward(model, input_ids, attention_mask);
    const alone = tfForward(model, [input_ids[1]!.slice(3)]);
    const paddedRow = padded.slice([1, 3, 0], [1, 5, 1000]);
    expect(maxAbsDiff(paddedRow.dataSync(), alone.dataSync())).toBeLessThan(1e-4);
    tf.dispose([padded, alone, paddedRow]);
  });

  it('next-token log-probs from sequenceLogProbs match to 1e-4', () => {
    const prompts = ref.input_ids.map((row) => row.slice(0, 1));
    const completions = ref.input_ids.map((row) => row.slice(1));
    const { logProbs } = tfSequenceLogProbs(model, prompts, completions);
    expect(maxAbsDiff(logProbs.dataSync(), ref.next_token_logprobs.flat())).toBeLessThan(1e-4);
    logProbs.dispose();
  });

  it('ragged batches (left-padded prompts, right-padded completions) give the per-row values', () => {
    const prompts = [ref.input_ids[0]!.slice(0, 3), ref.input_ids[1]!.slice(0, 1)];
    const completions = [ref.input_ids[0]!.slice(3, 5), ref.input_ids[1]!.slice(1)];
    const { logProbs, entropy } = tfSequenceLogProbs(model, prompts, completions, { withEntropy: true });
    expect(logProbs.shape).toEqual([2, 7]);
    const values = logProbs.arraySync();
    expect(maxAbsDiff(values[0]!.slice(0, 2), ref.next_token_logprobs[0]!.slice(2, 4))).toBeLessThan(1e-4);
    expect(values[0]!.slice(2).map(Math.abs)).toEqual([0, 0, 0, 0, 0]);
    expect(maxAbsDiff(values[1]!, ref.next_token_logprobs[1]!)).toBeLessThan(1e-4);
    const h = entropy!.arraySync();
    expect(h[0]![0]).toBeGreaterThan(0);
    expect(h[0]![0]).toBeLessThanOrEqual(Math.log(1000) + 1e-4);
    expect(h[0]![3]).toBe(0);
    tf.dispose([logProbs, entropy!]);
  });

  it('greedy generation equals the reference tokens', async () => {
    const out = await model.generate(ref.greedy.prompt, { maxNewTokens: ref.greedy.max_new_tokens, eosTokenIds: [] });
    expect(out.sequences).toEqual(ref.greedy.output);
    expect(out.finishReasons).toEqual(['length', 'length']);
    // Greedy log-probs are log-softmax(logits) of the chosen tokens: check against a full forward.
    const full = tfSequenceLogProbs(model, out.promptIds, out.completionIds);
    expect(maxAbsDiff(full.logProbs.dataSync(), out.completionLogProbs.flat())).toBeLessThan(1e-4);
    full.logProbs.dispose();
  });

  it('greedy generation on a ragged (left-padded) batch equals unbatched generation', async () => {
    const prompts = [ref.greedy.prompt[0]!, ref.greedy.prompt[1]!.slice(1)];
    const batched = await model.generate(prompts, { maxNewTokens: 6, eosTokenIds: [] });
    for (let i = 0; i < prompts.length; i += 1) {
      const alone = await model.generate([prompts[i]!], { maxNewTokens: 6, eosTokenIds: [] });
      expect(batched.completionIds[i]).toEqual(alone.completionIds[0]);
    }
  });

  it('save → reload gives identical logits and an HF-shaped checkpoint', async () => {
    const dir = join(scratch, `${name}-saved`);
    await model.save(dir);
    const reloaded = await CausalLM.fromPretrained(dir, { backend: null });
    const a = tfForward(model, ref.input_ids);
    const b = tfForward(reloaded, ref.input_ids);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    const original = parseSafetensors(new Uint8Array(await readFile(join(FIXTURES, name, 'model.safetensors'))));
    const saved = parseSafetensors(new Uint8Array(await readFile(join(dir, 'model.safetensors'))));
    expect([...saved.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    expect(saved.metadata).toEqual({ format: 'pt' });
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(config.model_type).toBe(JSON.parse(await readFile(join(FIXTURES, name, 'config.json'), 'utf8')).model_type);
    tf.dispose([a, b]);
    reloaded.dispose();
  });
});

describe('CausalLM loading', () => {
  it('converts bf16 / f16 checkpoints and reads sharded indexes', async () => {
    const source = join(FIXTURES, 'tiny-llama');
    const parsed = parseSafetensors(new Uint8Array(await readFile(join(source, 'model.safetensors'))));
    const model = await CausalLM.fromPretrained(source, { backend: null });
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const dir = join(scratch, `llama-${dtype}`);
      await model.save(dir, { dtype });
      const loaded = await CausalLM.fromPretrained(dir, { backend: null });
      const a = tfForward(model, [[5, 17, 99]]);
      const b = tfForward(loaded, [[5, 17, 99]]);
      // bf16 keeps 8 mantissa bits, f16 11: logits move by well under 0.05 on this model.
      expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(dtype === 'bfloat16' ? 0.05 : 0.005);
      tf.dispose([a, b]);
      loaded.dispose();
    }
    // Shard the original checkpoint in two files with an index.
    const dir = join(scratch, 'llama-sharded');
    const names = [...parsed.tensors.keys()];
    const half = Math.ceil(names.length / 2);
    const weightMap: Record<string, string> = {};
    for (const [i, part] of [names.slice(0, half), names.slice(half)].entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const tensors = Object.fromEntries(part.map((n) => [n, parsed.tensors.get(n)!]));
      await model.save(dir); // writes config.json (model.safetensors removed below)
      await writeFile(join(dir, file), serializeSafetensors(tensors));
      for (const n of part) weightMap[n] = file;
    }
    await rm(join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const sharded = await CausalLM.fromPretrained(dir, { backend: null });
    const a = tfForward(model, [[1, 2, 3]]);
    const b = tfForward(sharded, [[1, 2, 3]]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
    sharded.dispose();
    model.dispose();
  });

  it('rejects unknown architectures with the supported list', async () => {
    const dir = join(scratch, 'bert');
    await CausalLM.fromConfig(JSON.parse(await readFile(join(FIXTURES, 'tiny-gpt2', 'config.json'), 'utf8'))).save(dir);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'] }));
    const error = await CausalLM.fromPretrained(dir, { backend: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
    expect((error as UnsupportedArchitectureError).code).toBe('VLM_UNSUPPORTED_ARCHITECTURE');
    expect((error as Error).message).toMatch(/"bert".*gpt2.*llama.*qwen2/u);
  });

  it('names missing and mis-shaped tensors', async () => {
    const dir = join(scratch, 'broken');
    const model = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-qwen2'), { backend: null });
    await model.save(dir);
    const parsed = parseSafetensors(new Uint8Array(await readFile(join(dir, 'model.safetensors'))));
    const tensors = Object.fromEntries(parsed.tensors);
    delete tensors['model.norm.weight'];
    await writeFile(join(dir, 'model.safetensors'), serializeSafetensors(tensors));
    const error = await CausalLM.fromPretrained(dir, { backend: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingWeightsError);
    expect((error as MissingWeightsError).names).toEqual(['model.norm.weight']);
    model.dispose();
  });

  it('reports a missing folder with VLM_FILE_NOT_FOUND', async () => {
    const error = await CausalLM.fromPretrained(join(scratch, 'nope'), { backend: null }).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_FILE_NOT_FOUND');
  });
});

describe('generation options', () => {
  let model: CausalLM;
  beforeAll(async () => {
    model = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-llama'), { backend: null });
  });
  afterAll(() => model.dispose());

  it('seeded sampling is reproducible and numReturnSequences is prompt-major', async () => {
    const options = { doSample: true, temperature: 1.5, maxNewTokens: 6, numReturnSequences: 3, seed: 7, eosTokenIds: [] };
    const a = await model.generate([[5, 17], [9, 9, 120]], options);
    const b = await model.generate([[5, 17], [9, 9, 120]], options);
    expect(a.completionIds).toEqual(b.completionIds);
    expect(a.promptIds).toEqual([[5, 17], [5, 17], [5, 17], [9, 9, 120], [9, 9, 120], [9, 9, 120]]);
    expect(new Set(a.completionIds.map((row) => row.join())).size).toBeGreaterThan(1);
    const c = await model.generate([[5, 17], [9, 9, 120]], { ...options, seed: 8 });
    expect(c.completionIds).not.toEqual(a.completionIds);
    // Reported log-probs are log-softmax(logits / T) of the chosen tokens.
    const check = tfSequenceLogProbs(model, a.promptIds, a.completionIds, { temperature: 1.5 });
    expect(maxAbsDiff(check.logProbs.dataSync(), a.completionLogProbs.flat())).toBeLessThan(1e-4);
    check.logProbs.dispose();
  });

  it('top-k 1 equals greedy; EOS stops a row and is kept', async () => {
    const greedy = await model.generate([[5, 17, 99, 250]], { maxNewTokens: 8, eosTokenIds: [] });
    const topK = await model.generate([[5, 17, 99, 250]], { doSample: true, topK: 1, maxNewTokens: 8, seed: 1, eosTokenIds: [] });
    expect(topK.completionIds).toEqual(greedy.completionIds);
    const stopAt = greedy.completionIds[0]![2]!;
    const eos = await model.generate([[5, 17, 99, 250]], { maxNewTokens: 8, eosTokenIds: [stopAt] });
    expect(eos.completionIds[0]).toEqual(greedy.completionIds[0]!.slice(0, greedy.completionIds[0]!.indexOf(stopAt) + 1));
    expect(eos.finishReasons).toEqual(['eos']);
  });

  it('stop strings end a row once the decoded text holds them', async () => {
    const decode = (ids: number[]) => ids.map((id) => `<${id}>`).join('');
    const greedy = await model.generate([[5, 17, 99, 250]], { maxNewTokens: 8, eosTokenIds: [] });
    const stop = `<${greedy.completionIds[0]![1]}>`;
    const out = await model.generate([[5, 17, 99, 250]], { maxNewTokens: 8, eosTokenIds: [], stopStrings: [stop], decode });
    expect(out.completionIds[0]).toEqual(greedy.completionIds[0]!.slice(0, 2));
    expect(out.finishReasons).toEqual(['stop']);
  });

  it('repetition penalty changes greedy output away from repeats', async () => {
    const plain = await model.generate([[5, 17, 99, 250]], { maxNewTokens: 8, eosTokenIds: [] });
    const penalised = await model.generate([[5, 17, 99, 250]], { maxNewTokens: 8, eosTokenIds: [], repetitionPenalty: 100 });
    const distinct = (row: number[]) => new Set(row).size;
    expect(distinct(penalised.completionIds[0]!)).toBe(8);
    expect(distinct(penalised.completionIds[0]!)).toBeGreaterThan(distinct(plain.completionIds[0]!));
  });

  it('noRepeatNgramSize: greedy output equals a step-by-step forward + ban + argmax, and no n-gram repeats', async () => {
    const prompt = [5, 17, 99, 250];
    for (const n of [2, 3]) {
      const out = await model.generate([prompt], { maxNewTokens: 10, eosTokenIds: [], noRepeatNgramSize: n });
      // Reference: full forward on the sequence so far, last logits, HF's ban, first argmax.
      const sequence = [...prompt];
      for (let step = 0; step < 10; step += 1) {
        const logits = tfForward(model, [sequence]);
        const vocab = logits.shape[2];
        const last = Array.from(logits.dataSync().subarray((sequence.length - 1) * vocab, sequence.length * vocab));
        logits.dispose();
        const start = sequence.length - (n - 1);
        for (let i = 0; i + n <= sequence.length; i += 1) {
          if (sequence.slice(i, i + n - 1).join() === sequence.slice(start).join()) last[sequence[i + n - 1]!] = Number.NEGATIVE_INFINITY;
        }
        sequence.push(last.indexOf(Math.max(...last)));
      }
      expect(out.sequences[0]).toEqual(sequence);
      const grams = sequence.slice(0, sequence.length - n + 1).map((_, i) => sequence.slice(i, i + n).join());
      expect(new Set(grams).size).toBe(grams.length);
    }
  });

  it('rejects bad options with VLM_INVALID_ARGUMENT', async () => {
    for (const bad of [{ topP: 0 }, { maxNewTokens: -1 }, { temperature: -1 }, { stopStrings: ['x'] }, { noRepeatNgramSize: -1 }, { noRepeatNgramSize: 1.5 }]) {
      const error = await model.generate([[1]], bad).catch((e: unknown) => e);
      expect(VlmError.isInstance(error) && error.code).toBe('VLM_INVALID_ARGUMENT');
    }
    const error = await model.generate([[5000]]).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_INVALID_ARGUMENT');
  });
});

describe('gradients and memory', () => {
  it('d sequenceLogProbs / d weights matches central finite differences (float64-free, tiny-gpt2 and tiny-qwen2)', async () => {
    for (const name of ['tiny-gpt2', 'tiny-qwen2']) {
      const model = await CausalLM.fromPretrained(join(FIXTURES, name), { backend: null });
      const prompts = [[5, 17, 99], [9]];
      const completions = [[250, 3], [120, 640, 11]];
      const loss = () => tfSequenceLogProbs(model, prompts, completions, { temperature: 0.8 }).logProbs.sum() as tf.Scalar;
      const variables = tfVariables(model);
      const { grads } = tf.variableGrads(loss, variables);
      const specs = model.weightSpecs();
      // Probe a few coordinates of several tensors (embedding, attention, norm, final norm).
      const probes = [0, 3, Math.floor(specs.length / 2), specs.length - 1];
      for (const index of probes) {
        const variable = variables[index]!;
        const grad = grads[variable.name]!.dataSync();
        const original = variable.dataSync().slice();
        const size = original.length;
        // The coordinate with the largest gradient, so the difference is well above float32 noise.
        let coordinate = 0;
        for (let i = 1; i < size; i += 1) if (Math.abs(grad[i]!) > Math.abs(grad[coordinate]!)) coordinate = i;
        const eps = 1e-2;
        const at = (delta: number) => {
          const values = original.slice();
          values[coordinate]! += delta;
          variable.assign(tf.tensor(values, variable.shape));
          return tf.tidy(() => loss().dataSync()[0]!);
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        variable.assign(tf.tensor(original, variable.shape));
        expect(Math.abs(numeric - grad[coordinate]!)).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
      }
      tf.dispose(grads);
      model.dispose();
    }
  });

  it('leaks no tensors over 100 generate and 100 log-prob/gradient calls', async () => {
    const model = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-qwen2'), { backend: null });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i += 1) {
      await model.generate([[5, 17], [9]], { doSample: i % 2 === 0, maxNewTokens: 3, numReturnSequences: 2, seed: i, topP: 0.9 });
    }
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 100; i += 1) {
      const { value, grads } = tf.variableGrads(() => {
        const { logProbs, entropy } = tfSequenceLogProbs(model, [[5, 17], [9]], [[1, 2], [3]], { withEntropy: true });
        return logProbs.sum().add(entropy!.sum().mul(0)) as tf.Scalar;
      }, tfVariables(model));
      tf.dispose([value, grads]);
      tf.dispose(tfSequenceLogProbs(model, [[5]], [[6, 7]]).logProbs);
    }
    expect(tf.memory().numTensors).toBe(before);
    const clone = model.clone();
    clone.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before - model.weightSpecs().length);
  });
});

describe('GPT2_SMALL_CONFIG', () => {
  it('is GPT-2 small: 124,439,808 parameters (tied head) in the HF layout', async () => {
    const { GPT2_SMALL_CONFIG, parseModelConfig, weightSpecs } = await import('./model-config.js');
    const config = parseModelConfig({ ...GPT2_SMALL_CONFIG });
    expect(config).toMatchObject({ architecture: 'gpt2', hiddenSize: 768, vocabSize: 50257, maxPositions: 1024 });
    const total = weightSpecs(config).reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1), 0);
    expect(total).toBe(124_439_808);
  });
});
