/**
 * Text helpers shared by the contact sheet (SVG) and the HTML report: escaping, XML-safe
 * characters, and greedy word wrapping by an estimated character width.
 */

/** Escape `&`, `<`, `>`, `"` and `'` for HTML/XML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/gu, (character) => {
    switch (character) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&#39;';
    }
  });
}

/**
 * Remove characters XML 1.0 does not allow (C0 controls except tab/newline/CR, lone surrogates,
 * U+FFFE/U+FFFF), so that any prompt can go into an SVG document.
 */
export function stripInvalidXmlCharacters(text: string): string {
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu, '');
}

/**
 * Greedy word wrap of `text` (whitespace collapsed) into at most `maxLines` lines of at most
 * `maxChars` code points; a word longer than a line is cut; when text remains, the last line ends
 * with `…`.
 */
export function wrapText(text: string, maxChars: number, maxLines: number): string[] {
  const width = Math.max(1, Math.floor(maxChars));
  const words = text.replace(/\s+/gu, ' ').trim().split(' ').filter((word) => word !== '');
  const lines: string[] = [];
  let current = '';
  let index = 0;
  while (index < words.length && lines.length < maxLines) {
    const word = words[index]!;
    const candidate = current === '' ? word : `${current} ${word}`;
    if ([...candidate].length <= width) {
      current = candidate;
      index++;
    } else if (current === '') {
      const characters = [...word];
      lines.push(characters.slice(0, width).join(''));
      words[index] = characters.slice(width).join('');
    } else {
      lines.push(current);
      current = '';
    }
  }
  if (current !== '' && lines.length < maxLines) lines.push(current);
  const truncated = index < words.length;
  if (truncated && lines.length > 0) {
    const last = [...lines[lines.length - 1]!];
    const kept = last.length >= width ? last.slice(0, Math.max(0, width - 1)) : last;
    lines[lines.length - 1] = `${kept.join('').trimEnd()}…`;
  }
  return lines;
}

/** Format a number for display: 4 significant decimals, `—` for null. */
export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toFixed(digits);
}

/** Format a fraction in [0, 1] as a percentage with one decimal, `—` for null. */
export function formatPercent(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${(100 * value).toFixed(1)}%`;
}

/** Format a signed difference (`+0.1234` / `-0.0500`), `—` for null. */
export function formatSigned(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}
