// Plain-text tables for command output.

/** Column alignment. */
export type Align = 'left' | 'right';

/**
 * Formats rows under headers as space-separated columns padded to their widest cell, one line each,
 * ending with a newline. `align` defaults to left for every column. Never throws.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  // A loop, not Math.max(...rows): a spread of thousands of rows overflows the stack.
  const widths = headers.map((header) => header.length);
  for (const row of rows) for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, (row[i] ?? '').length);
  const line = (cells: readonly string[]): string =>
    widths
      .map((width, i) => {
        const cell = cells[i] ?? '';
        return align[i] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  const lines = [line(headers)];
  for (const row of rows) lines.push(line(row));
  return lines.join('\n') + '\n';
}

/** `0x`-prefixed lower-case hex. */
export function hexAddress(value: number): string {
  return value < 0 ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`;
}
