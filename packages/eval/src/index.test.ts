import { describe, expect, it } from 'vitest';

import * as entry from './index.js';

describe('@vlm-grpo/eval entry point', () => {
  it('exposes the public API and nothing from the fakes', () => {
    expect(entry.PACKAGE_NAME).toBe('@vlm-grpo/eval');
    for (const name of ['Validator', 'renderReport', 'renderContactSheet', 'validationResultSchema', 'parseValidationResult', 'computeMetrics', 'loadValidationHistory', 'EvalError', 'imageSeeds', 'selectMetric']) {
      expect(entry, name).toHaveProperty(name);
    }
    expect(entry).not.toHaveProperty('FakeRenderer');
    expect(entry.VALIDATION_RESULT_VERSION).toBe(1);
  });

  it('brands errors across copies of the package', () => {
    const error = new entry.EvalError('EVAL_NO_RECORDS', 'x');
    expect(entry.EvalError.isInstance(error)).toBe(true);
    expect(entry.EvalError.isInstance({ code: 'EVAL_NO_RECORDS' })).toBe(false);
    expect(entry.EvalError.isInstance(Object.assign(new Error('y'), { [Symbol.for('vlm-grpo.eval.error')]: true }))).toBe(true);
  });
});
