import { describe, expect, it } from 'vitest';
import { classifyAdapter } from './adapter.js';

describe('classifyAdapter', () => {
  it('calls lavapipe as Dawn reports it (info.isFallbackAdapter, architecture software) software', () => {
    const lavapipe = {
      info: {
        vendor: 'mesa',
        architecture: 'software',
        device: 'llvmpipe-llvm-15-0-6-256-bits-',
        description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
        isFallbackAdapter: true,
      },
    };
    expect(classifyAdapter(lavapipe)).toMatchObject({ software: true, reason: 'info.isFallbackAdapter is true' });
    expect(classifyAdapter(lavapipe).label).toBe('mesa software llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1');
  });

  it('uses each weaker signal when the stronger ones are absent', () => {
    expect(classifyAdapter({ isFallbackAdapter: true, info: { vendor: 'x' } }).reason).toBe('isFallbackAdapter is true');
    expect(classifyAdapter({ info: { architecture: 'Software' } }).reason).toBe('architecture is "software"');
    expect(classifyAdapter({ info: { adapterType: 'CPU', vendor: 'google' } }).reason).toBe('adapter type is "CPU"');
    expect(classifyAdapter({ info: { description: 'SwiftShader Device (Subzero)' } })).toMatchObject({ software: true, reason: 'the driver is swiftshader' });
    expect(classifyAdapter({ info: { description: 'Microsoft Basic Render Driver' } })).toMatchObject({ software: true });
    expect(classifyAdapter({ info: { device: 'lavapipe' } })).toMatchObject({ software: true });
  });

  it('calls GPUs hardware, including names that merely contain a software driver name', () => {
    expect(classifyAdapter({ info: { vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: false } }).software).toBe(false);
    expect(classifyAdapter({ info: { vendor: 'apple', architecture: 'metal-3', description: 'Apple M3 Max' } }).software).toBe(false);
    expect(classifyAdapter({ info: { vendor: 'amd', description: 'AMD Radeon RX 7900 (RADV NAVI31)', adapterType: 'discrete GPU' } })).toMatchObject({ software: false, reason: 'adapter type is "discrete GPU"' });
    // "warp" only as a word: a hypothetical "Warpdrive GPU" is not Microsoft's WARP
    expect(classifyAdapter({ info: { description: 'Warpdrive GPU' } }).software).toBe(false);
    expect(classifyAdapter({}).software).toBe(false);
  });
});
