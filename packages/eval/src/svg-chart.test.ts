import { describe, expect, it } from 'vitest';

import { lineChart, niceTicks } from './svg-chart.js';
import { escapeHtml, stripInvalidXmlCharacters, wrapText } from './text.js';

describe('niceTicks', () => {
  it('uses steps of 1, 2 or 5 × 10^k', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(-3, 17, 4)).toEqual([0, 5, 10, 15]);
    expect(niceTicks(2, 2)).toEqual([2]);
  });
});

describe('lineChart', () => {
  it('maps points into the plot area (x left→right, y bottom→top)', () => {
    const svg = lineChart([{ name: 'a', points: [[0, 0], [10, 1]] }], { title: 't', width: 200, height: 100, yDomain: [0, 1] });
    // Plot: left 64, right 200−16 = 184, top 40, bottom 100−40 = 60.
    expect(svg).toContain('points="64.0,60.0 184.0,40.0"');
  });

  it('skips non-finite points and says when there is no data', () => {
    expect(lineChart([{ name: 'a', points: [[0, Number.NaN]] }], { title: 'Loss <x>' })).toBe('<p class="empty">Loss &lt;x&gt;: no data yet.</p>');
    const single = lineChart([{ name: 'a', points: [[3, 0.5], [4, Number.POSITIVE_INFINITY]] }], { title: 't' });
    expect(single).not.toContain('<polyline');
    expect((single.match(/<circle [^>]*><title>a @/gu) ?? []).length).toBe(1);
  });

  it('keeps coinciding series apart: a dash pattern and a marker shape per series, shown in the legend', () => {
    const flat = [[0, 0], [1, 0], [2, 0]] as const;
    const svg = lineChart(
      [
        { name: 'low', points: flat },
        { name: 'high', points: flat },
        { name: 'region', points: flat },
      ],
      { title: 'clip ratios' },
    );
    const dashes = [...svg.matchAll(/<polyline [^>]*>/gu)].map((match) => /stroke-dasharray="([^"]+)"/u.exec(match[0])?.[1] ?? 'solid');
    expect(new Set(dashes).size).toBe(3);
    expect(svg).toMatch(/<circle [^>]*><title>low @ 1: 0<\/title>/u);
    expect(svg).toMatch(/<rect class="marker" [^>]*><title>high @ 1: 0<\/title>/u);
    expect(svg).toMatch(/<polygon class="marker" [^>]*><title>region @ 1: 0<\/title>/u);
    // Legend: the same marker next to each name.
    expect(svg).toMatch(/<rect class="marker" [^>]*><title>high<\/title>/u);
  });

  it('draws a band (mean ± std) under its line and fits the axis to it', () => {
    const svg = lineChart([{ name: 'reward', points: [[0, 1], [1, 2]], band: [[0, 0, 2], [1, 1, 3]] }], { title: 'r', width: 200, height: 100 });
    expect(svg).toContain('<polygon class="band"');
    expect(svg).toContain('reward (± band)');
    // The y axis covers the band (0 … 3), not only the line (1 … 2).
    expect(svg).toMatch(/>0\.0<\/text>|>0<\/text>/u);
    expect(svg).toMatch(/>3(\.0)?<\/text>/u);
  });
});

describe('text helpers', () => {
  it('escapes HTML and strips characters XML forbids', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(stripInvalidXmlCharacters('a\u0000b\u0007c\td\n\uD800e\uD83D\uDE00')).toBe('abc\td\ne\uD83D\uDE00');
  });

  it('wraps words greedily, cuts long words and marks truncation', () => {
    expect(wrapText('a cat sat on the mat', 9, 3)).toEqual(['a cat sat', 'on the', 'mat']);
    expect(wrapText('a cat sat on the mat', 9, 2)).toEqual(['a cat sat', 'on the…']);
    expect(wrapText('abcdefghijkl', 5, 2)).toEqual(['abcde', 'fghi…']);
    expect(wrapText('  ', 5, 2)).toEqual([]);
  });
});
