import { describe, expect, it } from 'vitest';

import { MAX_USER_PROMPT_LENGTH, normalizePromptText, promptRecordSchema } from './prompt-record.js';

const valid = { user_prompt: 'a cat', category: 'animals', difficulty: 'easy' };

describe('promptRecordSchema', () => {
  it('accepts a minimal record and the optional fields', () => {
    expect(promptRecordSchema.parse(valid)).toEqual(valid);
    const full = { ...valid, id: 'train-1', reference: 'a fluffy cat, soft light', meta: { source: 'hand' } };
    expect(promptRecordSchema.parse(full)).toEqual(full);
    expect(promptRecordSchema.parse({ ...valid, id: 7 }).id).toBe(7);
  });

  it.each([
    ['empty prompt', { ...valid, user_prompt: '' }, ['user_prompt']],
    ['whitespace prompt', { ...valid, user_prompt: ' \t ' }, ['user_prompt']],
    ['too long prompt', { ...valid, user_prompt: 'x'.repeat(MAX_USER_PROMPT_LENGTH + 1) }, ['user_prompt']],
    ['unknown difficulty', { ...valid, difficulty: 'extreme' }, ['difficulty']],
    ['numeric category', { ...valid, category: 3 }, ['category']],
    ['empty category', { ...valid, category: '  ' }, ['category']],
    ['empty reference', { ...valid, reference: '' }, ['reference']],
    ['fractional id', { ...valid, id: 1.5 }, ['id']],
    ['array meta', { ...valid, meta: [1] }, ['meta']],
  ])('rejects %s', (_name, record, path) => {
    const result = promptRecordSchema.safeParse(record);
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual(path);
  });

  it('accepts a prompt of exactly the maximum length', () => {
    expect(promptRecordSchema.safeParse({ ...valid, user_prompt: 'x'.repeat(MAX_USER_PROMPT_LENGTH) }).success).toBe(true);
  });

  it('rejects unknown keys so that typos surface', () => {
    const result = promptRecordSchema.safeParse({ ...valid, catgory: 'animals' });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.code).toBe('unrecognized_keys');
  });
});

describe('normalizePromptText', () => {
  it('folds case, whitespace and compatibility characters', () => {
    expect(normalizePromptText('  A   Cat\t')).toBe('a cat');
    expect(normalizePromptText('ｃａｔ')).toBe('cat');
    expect(normalizePromptText('a cat')).not.toBe(normalizePromptText('a dog'));
  });
});
