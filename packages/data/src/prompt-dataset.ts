/**
 * `PromptDataset`: an immutable collection of prompt records with filtering, counts, seeded
 * shuffling, batching, balanced (stratified round-robin) batching, stratified train/validation
 * splits and GRPO group repetition.
 *
 * Determinism: every random choice comes from {@link createSeededRandom} seeded with
 * `deriveSeed(seed, epoch)`, so the same seed and epoch give the same order on any machine.
 */
import { DataError } from './errors.js';
import { loadPrompts, type LoadPromptsOptions } from './load-prompts.js';
import { DIFFICULTIES, type Difficulty, type PromptRecord } from './prompt-record.js';
import { createSeededRandom, deriveSeed, shuffleInPlace } from './seeded-random.js';

/** A record field that batches and splits can be stratified by. */
export type StratifyKey = 'category' | 'difficulty' | 'categoryAndDifficulty';

/** Filter of {@link PromptDataset.filter}. */
export interface PromptFilter {
  /** Keep only these categories (default: all). */
  categories?: readonly string[];
  /** Keep only these difficulties (default: all). */
  difficulties?: readonly Difficulty[];
  /** Extra predicate applied after the other filters. */
  where?: (record: PromptRecord) => boolean;
}

/** Counts per category and difficulty. */
export interface PromptCounts {
  /** Number of records. */
  total: number;
  /** Records per category, categories sorted by name. */
  byCategory: Record<string, number>;
  /** Records per difficulty (all three keys present). */
  byDifficulty: Record<Difficulty, number>;
  /** Records per category, then per difficulty. */
  byCategoryAndDifficulty: Record<string, Record<Difficulty, number>>;
}

/** Options of the batch iterators. */
export interface BatchOptions {
  /** Seed of the shuffle (default: 0). */
  seed?: number;
  /** Epoch number, mixed into the seed so each epoch has its own order (default: 0). */
  epoch?: number;
  /** Shuffle before batching (default: true); `batches` only. */
  shuffle?: boolean;
  /** Drop a last batch smaller than `size` (default: false). */
  dropLast?: boolean;
}

/** Options of {@link PromptDataset.balancedBatches}. */
export interface BalancedBatchOptions extends Omit<BatchOptions, 'shuffle'> {
  /** Field to balance over (default: `category`). */
  by?: StratifyKey;
}

/** Options of {@link PromptDataset.split}. */
export interface SplitOptions {
  /** Fraction of each stratum that goes to validation, in (0, 1) (default: 0.2). */
  validationFraction?: number;
  /** Seed of the split (default: 0). */
  seed?: number;
  /** Field to stratify by (default: `categoryAndDifficulty`). */
  stratifyBy?: StratifyKey;
}

/** The key of `record` in the stratification `by`. */
export function stratumOf(record: PromptRecord, by: StratifyKey): string {
  switch (by) {
    case 'category':
      return record.category;
    case 'difficulty':
      return record.difficulty;
    case 'categoryAndDifficulty':
      return `${record.category}\u0000${record.difficulty}`;
  }
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new DataError('DATA_INVALID_ARGUMENT', `${name} must be a positive integer, received ${value}`);
  }
}

function checkStratifyKey(by: string): asserts by is StratifyKey {
  if (by !== 'category' && by !== 'difficulty' && by !== 'categoryAndDifficulty') {
    throw new DataError('DATA_INVALID_ARGUMENT', `stratify key must be "category", "difficulty" or "categoryAndDifficulty", received ${JSON.stringify(by)}`);
  }
}

/** Record indices grouped by stratum key, in record order within each stratum. */
function indicesByStratum(records: readonly PromptRecord[], by: StratifyKey): Map<string, number[]> {
  const strata = new Map<string, number[]>();
  records.forEach((record, index) => {
    const key = stratumOf(record, by);
    const members = strata.get(key);
    if (members) members.push(index);
    else strata.set(key, [index]);
  });
  return strata;
}

/**
 * Order of the indices `0 … count−1` interleaved round-robin across strata: each stratum is
 * shuffled, the strata are put in a seeded order, then one index is taken from each non-empty
 * stratum in turn. Every index appears exactly once.
 */
export function balancedOrder(records: readonly PromptRecord[], by: StratifyKey, seed: number, epoch: number): number[] {
  const random = createSeededRandom(deriveSeed(seed, epoch, 0x62616c));
  const strata = indicesByStratum(records, by);
  const keys = [...strata.keys()].sort();
  shuffleInPlace(keys, random);
  const queues = keys.map((key) => shuffleInPlace(strata.get(key)!, random));
  const order: number[] = [];
  for (let round = 0; order.length < records.length; round++) {
    for (const queue of queues) if (round < queue.length) order.push(queue[round]!);
  }
  return order;
}

/** Cut `order` into batches of `size` records. */
function* cutBatches(records: readonly PromptRecord[], order: readonly number[], size: number, dropLast: boolean): Generator<PromptRecord[]> {
  for (let start = 0; start < order.length; start += size) {
    const end = Math.min(start + size, order.length);
    if (dropLast && end - start < size) return;
    yield order.slice(start, end).map((index) => records[index]!);
  }
}

/** An immutable collection of validated prompt records. */
export class PromptDataset {
  /** The records, in their stored order. */
  readonly records: readonly PromptRecord[];

  constructor(records: readonly PromptRecord[]) {
    this.records = Object.freeze([...records]);
  }

  /** Load a JSONL file with {@link loadPrompts} (strict by default) into a dataset. */
  static async fromFile(path: string, options: LoadPromptsOptions = {}): Promise<PromptDataset> {
    const loaded = await loadPrompts(path, options);
    return new PromptDataset(loaded.records);
  }

  /** Number of records. */
  get size(): number {
    return this.records.length;
  }

  /** The record at `index` (negative counts from the end). */
  at(index: number): PromptRecord | undefined {
    return this.records.at(index);
  }

  /** Categories present, sorted by name. */
  categories(): string[] {
    return [...new Set(this.records.map((record) => record.category))].sort();
  }

  /** A new dataset with the records that pass every given filter. */
  filter(filter: PromptFilter): PromptDataset {
    const categories = filter.categories ? new Set(filter.categories) : undefined;
    const difficulties = filter.difficulties ? new Set(filter.difficulties) : undefined;
    return new PromptDataset(
      this.records.filter(
        (record) =>
          (!categories || categories.has(record.category)) &&
          (!difficulties || difficulties.has(record.difficulty)) &&
          (!filter.where || filter.where(record)),
      ),
    );
  }

  /** Counts per category, per difficulty and per both. */
  counts(): PromptCounts {
    const zero = (): Record<Difficulty, number> => Object.fromEntries(DIFFICULTIES.map((name) => [name, 0])) as Record<Difficulty, number>;
    const byDifficulty = zero();
    const byCategory: Record<string, number> = {};
    const byCategoryAndDifficulty: Record<string, Record<Difficulty, number>> = {};
    for (const category of this.categories()) {
      byCategory[category] = 0;
      byCategoryAndDifficulty[category] = zero();
    }
    for (const record of this.records) {
      byDifficulty[record.difficulty] += 1;
      byCategory[record.category]! += 1;
      byCategoryAndDifficulty[record.category]![record.difficulty] += 1;
    }
    return { total: this.records.length, byCategory, byDifficulty, byCategoryAndDifficulty };
  }

  /** A new dataset with the records in a seeded random order. */
  shuffled(seed: number, epoch = 0): PromptDataset {
    return new PromptDataset(this.epochOrder(seed, epoch).map((index) => this.records[index]!));
  }

  /** The shuffled order of record indices for one epoch; a permutation of `0 … size−1`. */
  epochOrder(seed: number, epoch = 0): number[] {
    const order = this.records.map((_, index) => index);
    return shuffleInPlace(order, createSeededRandom(deriveSeed(seed, epoch)));
  }

  /** Batches of `size` records covering the dataset once (shuffled per epoch by default). */
  *batches(size: number, options: BatchOptions = {}): Generator<PromptRecord[]> {
    checkPositiveInteger('batch size', size);
    const order = options.shuffle === false ? this.records.map((_, index) => index) : this.epochOrder(options.seed ?? 0, options.epoch ?? 0);
    yield* cutBatches(this.records, order, size, options.dropLast ?? false);
  }

  /**
   * Balanced batches covering the dataset once: strata (categories by default) interleaved
   * round-robin in a seeded order, so every batch holds each stratum that still has records
   * within ±1 of the others.
   */
  *balancedBatches(size: number, options: BalancedBatchOptions = {}): Generator<PromptRecord[]> {
    checkPositiveInteger('batch size', size);
    const by = options.by ?? 'category';
    checkStratifyKey(by);
    const order = balancedOrder(this.records, by, options.seed ?? 0, options.epoch ?? 0);
    yield* cutBatches(this.records, order, size, options.dropLast ?? false);
  }

  /**
   * Seeded, stratified train/validation split: within every stratum, `round(n·fraction)` records
   * go to validation (at least one when the stratum has two or more records).
   */
  split(options: SplitOptions = {}): { train: PromptDataset; validation: PromptDataset } {
    const fraction = options.validationFraction ?? 0.2;
    if (!(fraction > 0 && fraction < 1)) {
      throw new DataError('DATA_INVALID_ARGUMENT', `validationFraction must be in (0, 1), received ${fraction}`);
    }
    const by = options.stratifyBy ?? 'categoryAndDifficulty';
    checkStratifyKey(by);
    const random = createSeededRandom(deriveSeed(options.seed ?? 0, 0x73706c));
    const strata = indicesByStratum(this.records, by);
    const validationIndices = new Set<number>();
    for (const key of [...strata.keys()].sort()) {
      const members = shuffleInPlace(strata.get(key)!, random);
      let take = Math.round(members.length * fraction);
      if (take === 0 && members.length >= 2) take = 1;
      if (take === members.length) take = members.length - 1;
      for (const index of members.slice(0, take)) validationIndices.add(index);
    }
    return {
      train: new PromptDataset(this.records.filter((_, index) => !validationIndices.has(index))),
      validation: new PromptDataset(this.records.filter((_, index) => validationIndices.has(index))),
    };
  }
}

/**
 * Repeat each item `groupSize` times, adjacent (`[a, b]`, 3 → `[a, a, a, b, b, b]`): the layout
 * GRPO uses to sample a group of completions per prompt.
 */
export function repeatByGroup<T>(items: readonly T[], groupSize: number): T[] {
  checkPositiveInteger('groupSize', groupSize);
  const repeated: T[] = [];
  for (const item of items) for (let copy = 0; copy < groupSize; copy++) repeated.push(item);
  return repeated;
}
