/**
 * The prompt record: one line of `train_prompts.jsonl` / `val_prompts.jsonl`.
 */
import { z } from 'zod';

/** Maximum length of `user_prompt` in characters. */
export const MAX_USER_PROMPT_LENGTH = 1000;

/** The three difficulty levels, easiest first. */
export const DIFFICULTIES = ['easy', 'medium', 'hard'] as const;

/** Difficulty of a prompt: `easy` | `medium` | `hard`. */
export const difficultySchema = z.enum(DIFFICULTIES);

/** Difficulty of a prompt. */
export type Difficulty = z.infer<typeof difficultySchema>;

/**
 * Schema of a prompt record. Unknown keys are rejected so that typos (`catgory`) surface.
 * - `user_prompt`: the short prompt as a user types it; non-empty after trimming, ≤ 1000 characters.
 * - `category`: free label such as `animals` or `architecture` (non-empty).
 * - `difficulty`: `easy` | `medium` | `hard`.
 * - `id`: optional stable identifier (string or integer).
 * - `reference`: optional enhanced prompt, the target for supervised fine-tuning.
 * - `meta`: optional free JSON object.
 */
export const promptRecordSchema = z.strictObject({
  user_prompt: z
    .string()
    .refine((value) => value.trim().length > 0, { message: 'must not be empty or whitespace only' })
    .refine((value) => value.length <= MAX_USER_PROMPT_LENGTH, {
      message: `must be at most ${MAX_USER_PROMPT_LENGTH} characters`,
    }),
  category: z.string().trim().min(1, { message: 'must not be empty' }),
  difficulty: difficultySchema,
  id: z.union([z.string().min(1), z.number().int()]).optional(),
  reference: z.string().trim().min(1, { message: 'must not be empty when given' }).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});

/** A validated prompt record. */
export type PromptRecord = z.infer<typeof promptRecordSchema>;

/** Input accepted by {@link promptRecordSchema} before validation. */
export type PromptRecordInput = z.input<typeof promptRecordSchema>;

/**
 * Normalise a prompt for duplicate detection: Unicode NFKC, lower case, whitespace collapsed,
 * trimmed. `"A  Cat "` and `"a cat"` normalise to the same key.
 */
export function normalizePromptText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}
