/**
 * `PromptSampler`: an endless, resumable stream of prompt batches over epochs, for training loops.
 *
 * Epoch `e` visits every record exactly once, in the order of `PromptDataset.batches` /
 * `balancedBatches` for `(seed, e)`; batches may span an epoch boundary so every batch is full.
 * `getState()` / `setState()` capture the position (epoch, offset) so a resumed run continues
 * with exactly the batches an uninterrupted run would have drawn.
 */
import { DataError } from './errors.js';
import { balancedOrder, type PromptDataset, type StratifyKey } from './prompt-dataset.js';
import type { PromptRecord } from './prompt-record.js';

/** Options of {@link PromptSampler}. */
export interface PromptSamplerOptions {
  /** Records per batch. */
  batchSize: number;
  /** Seed of the per-epoch order (default: 0). */
  seed?: number;
  /** Balance batches over this field (round-robin strata), or `none` for a plain shuffle (default: `category`). */
  balanceBy?: StratifyKey | 'none';
}

/** Position of a {@link PromptSampler}, JSON-serialisable. */
export interface PromptSamplerState {
  /** Current epoch, from 0. */
  epoch: number;
  /** Records of the current epoch already drawn. */
  offset: number;
  /** Batches drawn since the start. */
  batchesDrawn: number;
}

/** Endless, resumable batches over a dataset. */
export class PromptSampler {
  readonly batchSize: number;
  readonly seed: number;
  readonly balanceBy: StratifyKey | 'none';
  private readonly dataset: PromptDataset;
  private epoch = 0;
  private offset = 0;
  private batchesDrawn = 0;
  private order: number[] | undefined;

  constructor(dataset: PromptDataset, options: PromptSamplerOptions) {
    if (dataset.size === 0) throw new DataError('DATA_EMPTY_DATASET', 'PromptSampler: the dataset has no records');
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new DataError('DATA_INVALID_ARGUMENT', `PromptSampler: batchSize must be a positive integer, received ${options.batchSize}`);
    }
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.seed = options.seed ?? 0;
    this.balanceBy = options.balanceBy ?? 'category';
  }

  private epochIndices(): number[] {
    this.order ??=
      this.balanceBy === 'none'
        ? this.dataset.epochOrder(this.seed, this.epoch)
        : balancedOrder(this.dataset.records, this.balanceBy, this.seed, this.epoch);
    return this.order;
  }

  /** The next batch of `batchSize` records. */
  next(): PromptRecord[] {
    const batch: PromptRecord[] = [];
    while (batch.length < this.batchSize) {
      const order = this.epochIndices();
      const take = Math.min(this.batchSize - batch.length, order.length - this.offset);
      for (const index of order.slice(this.offset, this.offset + take)) batch.push(this.dataset.records[index]!);
      this.offset += take;
      if (this.offset === order.length) {
        this.epoch += 1;
        this.offset = 0;
        this.order = undefined;
      }
    }
    this.batchesDrawn += 1;
    return batch;
  }

  /** The current position. */
  getState(): PromptSamplerState {
    return { epoch: this.epoch, offset: this.offset, batchesDrawn: this.batchesDrawn };
  }

  /** Move to a position saved by {@link getState}. */
  setState(state: PromptSamplerState): void {
    const valid =
      Number.isInteger(state.epoch) && state.epoch >= 0 &&
      Number.isInteger(state.offset) && state.offset >= 0 && state.offset < this.dataset.size &&
      Number.isInteger(state.batchesDrawn) && state.batchesDrawn >= 0;
    if (!valid) {
      throw new DataError('DATA_INVALID_ARGUMENT', `PromptSampler.setState: invalid state ${JSON.stringify(state)} for a dataset of ${this.dataset.size} records`);
    }
    this.epoch = state.epoch;
    this.offset = state.offset;
    this.batchesDrawn = state.batchesDrawn;
    this.order = undefined;
  }
}
