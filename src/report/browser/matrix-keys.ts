// Keyboard movement in the matrix, as a pure function of the key and the grid: arrows move one cell, Home and
// End to the row's ends, Page Up and Page Down by a screenful, Ctrl+Home and Ctrl+End to the corners.

/** A cell by its place on screen: row and column indices into the current axes. */
export interface GridPosition {
  readonly row: number;
  readonly col: number;
}

/** The grid the movement happens in. */
export interface GridShape {
  readonly rows: number;
  readonly cols: number;
  /** Rows that fit on screen (Page Up / Page Down step). */
  readonly pageRows: number;
}

const clamp = (value: number, max: number) => Math.max(0, Math.min(max, value));

/**
 * Where `key` (a KeyboardEvent.key) moves the focus from `at`, or undefined when the key is not a movement
 * key (so the page lets the browser handle it). Never throws; an empty grid never moves.
 */
export function moveFocus(key: string, ctrl: boolean, at: GridPosition, grid: GridShape): GridPosition | undefined {
  if (grid.rows === 0 || grid.cols === 0) return undefined;
  const lastRow = grid.rows - 1;
  const lastCol = grid.cols - 1;
  const row = clamp(at.row, lastRow);
  const col = clamp(at.col, lastCol);
  const page = Math.max(1, grid.pageRows);
  switch (key) {
    case 'ArrowLeft': return { row, col: clamp(col - 1, lastCol) };
    case 'ArrowRight': return { row, col: clamp(col + 1, lastCol) };
    case 'ArrowUp': return { row: clamp(row - 1, lastRow), col };
    case 'ArrowDown': return { row: clamp(row + 1, lastRow), col };
    case 'PageUp': return { row: clamp(row - page, lastRow), col };
    case 'PageDown': return { row: clamp(row + page, lastRow), col };
    case 'Home': return ctrl ? { row: 0, col: 0 } : { row, col: 0 };
    case 'End': return ctrl ? { row: lastRow, col: lastCol } : { row, col: lastCol };
    default: return undefined;
  }
}
