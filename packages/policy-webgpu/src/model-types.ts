/**
 * The parts of @vlm-grpo/vlm's `ModelConfig` and `WeightSpec` the engine reads, declared here so
 * that this package's public types do not pull in @vlm-grpo/vlm's declarations (and through them
 * TensorFlow.js's). vlm's `parseModelConfig` and `weightSpecs` results are assignable to them.
 */

/** RoPE frequency scaling (as vlm's `RopeScaling`). */
export interface EngineRopeScaling {
  /** Scaling kind. */
  type: 'default' | 'linear' | 'llama3';
  /** Factor (`linear`, `llama3`). */
  factor: number;
  /** `llama3`: low-frequency factor. */
  lowFreqFactor: number;
  /** `llama3`: high-frequency factor. */
  highFreqFactor: number;
  /** `llama3`: original context length. */
  originalMaxPositions: number;
}

/** A normalised model configuration (the fields of vlm's `ModelConfig` the engine uses). */
export interface EngineModelConfig {
  /** Architecture family. */
  architecture: 'gpt2' | 'llama' | 'qwen2';
  /** Vocabulary size. */
  vocabSize: number;
  /** Model width C. */
  hiddenSize: number;
  /** Decoder blocks. */
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads. */
  numKvHeads: number;
  /** Head width D. */
  headDim: number;
  /** MLP inner width. */
  intermediateSize: number;
  /** Longest sequence (GPT-2: rows of the position embedding). */
  maxPositions: number;
  /** Output head shares the input embedding. */
  tieWordEmbeddings: boolean;
  /** Norm epsilon. */
  normEps: number;
  /** RoPE base θ (unused by GPT-2). */
  ropeTheta: number;
  /** RoPE scaling. */
  ropeScaling: EngineRopeScaling;
  /** GPT-2 `scale_attn_by_inverse_layer_idx`. */
  scaleAttnByInverseLayerIdx: boolean;
  /** EOS token ids. */
  eosTokenIds: number[];
  /** Padding id, if any. */
  padTokenId: number | null;
}

/** One parameter tensor of an architecture (as vlm's `WeightSpec`). */
export interface EngineWeightSpec {
  /** Hugging Face tensor name. */
  name: string;
  /** Hugging Face shape. */
  shape: number[];
  /** Kind: decides weight decay (matrices and embeddings decay). */
  kind: 'embedding' | 'matrix' | 'bias' | 'norm';
}
