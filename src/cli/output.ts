// Plain-text tables for command output.

/** Column alignment. */
export type Align = 'left' | 'right';

/**
 * Formats rows under headers as space-separated columns padded to their widest cell, one line each,
 * ending with a newline. `align` defaults to left for every column. Never throws.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((width, i) => {
        const cell = cells[i] ?? '';
        return align[i] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `0x`-prefixed lower-case hex. */
export function hexAddress(value: number): string {
  return value < 0 ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`;
}
