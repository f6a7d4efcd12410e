/// <reference lib="dom" />
// The P2P matrix on a canvas, virtualised: the canvas is the size of the visible window and sticks to it
// while a spacer gives the scroller the matrix's full size, so a frame draws only the cells in view
// (a few thousand at most, whatever the machine). Row and column headers stay in place; the focused cell
// has a two-tone ring drawn inside it, visible on every fill in both colour schemes.
import type { MatrixCells } from '../matrix-codec.js';
import type { PageEndpoint } from '../page-data.js';
import { CELL_STYLES } from '../palette.js';
import { moveFocus, type GridPosition } from './matrix-keys.js';

interface Theme {
  readonly bg: string;
  readonly fg: string;
  readonly muted: string;
  readonly focus: string;
  readonly focusInner: string;
  readonly headerHi: string;
}

/** Called when the focused cell changes: endpoint indices (undefined when an axis is empty) and its place. */
export type FocusListener = (provider: number | undefined, client: number | undefined, at: GridPosition, byUser: boolean) => void;

const LABEL_FONT = '12px ui-monospace, "DejaVu Sans Mono", monospace';

/** The canvas matrix: draws, scrolls, and turns clicks and keys into a focused cell. */
export class MatrixView {
  private rows: number[] = [];
  private cols: number[] = [];
  private cell = 32;
  private rowHeader = 0;
  private colHeader = 0;
  private at: GridPosition = { row: 0, col: 0 };
  private focused = false;
  private pending = 0;
  private theme: Theme;
  private readonly labels: string[];
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly scroller: HTMLElement,
    private readonly spacer: HTMLElement,
    private readonly cells: MatrixCells,
    endpoints: readonly PageEndpoint[],
    private readonly onFocusChange: FocusListener,
  ) {
    this.ctx = canvas.getContext('2d', { alpha: false })!;
    this.labels = endpoints.map((e) => `${e.bdf} ${e.deviceClass}`);
    this.theme = readTheme();
    this.measureHeaders();
    scroller.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.relayout()).observe(scroller);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      this.theme = readTheme();
      this.schedule();
    });
    canvas.addEventListener('keydown', (event) => this.onKey(event));
    canvas.addEventListener('click', (event) => this.onClick(event));
    canvas.addEventListener('focus', () => {
      this.focused = true;
      this.draw();
      this.notify(true);
    });
    canvas.addEventListener('blur', () => {
      this.focused = false;
      this.draw();
    });
  }

  /** Shows these endpoint indices as rows (providers) and columns (clients), keeping the focused pair if it is still shown. */
  setAxes(rows: number[], cols: number[]): void {
    const provider = this.rows[this.at.row];
    const client = this.cols[this.at.col];
    this.rows = rows;
    this.cols = cols;
    const row = provider === undefined ? -1 : rows.indexOf(provider);
    const col = client === undefined ? -1 : cols.indexOf(client);
    this.at = { row: row >= 0 ? row : Math.min(this.at.row, Math.max(0, rows.length - 1)), col: col >= 0 ? col : Math.min(this.at.col, Math.max(0, cols.length - 1)) };
    this.relayout();
    this.ensureVisible();
    this.notify(false);
  }

  /** Cell edge in CSS pixels. */
  setCellSize(px: number): void {
    this.cell = px;
    this.relayout();
    this.ensureVisible();
  }

  private measureHeaders(): void {
    this.ctx.font = LABEL_FONT;
    let widest = 0;
    for (const label of this.labels) widest = Math.max(widest, this.ctx.measureText(label).width);
    this.rowHeader = Math.ceil(widest) + 16;
    this.colHeader = Math.ceil(widest) + 16;
  }

  private relayout(): void {
    const width = this.rowHeader + this.cols.length * this.cell;
    const height = this.colHeader + this.rows.length * this.cell;
    this.spacer.style.width = `${width}px`;
    this.spacer.style.height = `${height}px`;
    const cssWidth = Math.max(1, Math.min(this.scroller.clientWidth, width));
    const cssHeight = Math.max(1, Math.min(this.scroller.clientHeight, height));
    const dpr = window.devicePixelRatio || 1;
    this.canvas.style.width = `${cssWidth}px`;
    this.canvas.style.height = `${cssHeight}px`;
    this.canvas.width = Math.round(cssWidth * dpr);
    this.canvas.height = Math.round(cssHeight * dpr);
    // The layout, for anything that reads the picture (the cells start below and right of the headers).
    this.canvas.dataset.rowHeader = String(this.rowHeader);
    this.canvas.dataset.colHeader = String(this.colHeader);
    this.canvas.dataset.cell = String(this.cell);
    this.canvas.dataset.rows = String(this.rows.length);
    this.canvas.dataset.cols = String(this.cols.length);
    this.draw();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.draw();
    });
  }

  /** Draws the visible window now. */
  draw(): void {
    const { ctx, cell, rowHeader, colHeader, theme } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.width / dpr;
    const h = this.canvas.height / dpr;
    const sx = this.scroller.scrollLeft;
    const sy = this.scroller.scrollTop;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = theme.bg;
    ctx.fillRect(0, 0, w, h);
    if (this.rows.length === 0 || this.cols.length === 0) {
      ctx.fillStyle = theme.fg;
      ctx.font = '14px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      ctx.fillText(this.rows.length === 0 ? 'No provider matches the filter.' : 'No client matches the filter.', 12, Math.min(h, 40) / 2);
      return;
    }
    const c0 = Math.max(0, Math.floor(sx / cell));
    const c1 = Math.min(this.cols.length - 1, Math.floor((sx + w - rowHeader) / cell));
    const r0 = Math.max(0, Math.floor(sy / cell));
    const r1 = Math.min(this.rows.length - 1, Math.floor((sy + h - colHeader) / cell));

    ctx.save();
    ctx.beginPath();
    ctx.rect(rowHeader, colHeader, w - rowHeader, h - colHeader);
    ctx.clip();
    const letterFont = `700 ${Math.round(cell * (cell >= 24 ? 0.42 : 0.6))}px system-ui, sans-serif`;
    const distanceFont = `${Math.round(cell * 0.32)}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let r = r0; r <= r1; r++) {
      const provider = this.rows[r]!;
      const y = colHeader + r * cell - sy;
      for (let c = c0; c <= c1; c++) {
        const client = this.cols[c]!;
        const x = rowHeader + c * cell - sx;
        const style = CELL_STYLES[this.cells.kind(provider, client)];
        ctx.fillStyle = style.fill;
        ctx.fillRect(x, y, cell - 1, cell - 1);
        ctx.fillStyle = style.ink;
        if (cell >= 24) {
          ctx.font = letterFont;
          ctx.fillText(style.letter, x + cell / 2, y + cell * 0.36);
          if (provider !== client) {
            ctx.font = distanceFont;
            ctx.fillText(String(this.cells.distance(provider, client)), x + cell / 2, y + cell * 0.74);
          }
        } else {
          ctx.font = letterFont;
          ctx.fillText(style.letter, x + cell / 2, y + cell / 2);
        }
      }
    }
    if (this.focused) this.drawRing(sx, sy);
    ctx.restore();
    this.drawHeaders(w, h, sx, sy, r0, r1, c0, c1);
  }

  private drawRing(sx: number, sy: number): void {
    const { ctx, cell } = this;
    const x = this.rowHeader + this.at.col * cell - sx;
    const y = this.colHeader + this.at.row * cell - sy;
    ctx.lineWidth = 2;
    ctx.strokeStyle = this.theme.focus;
    ctx.strokeRect(x + 1, y + 1, cell - 3, cell - 3);
    ctx.lineWidth = 1;
    ctx.strokeStyle = this.theme.focusInner;
    ctx.strokeRect(x + 2.5, y + 2.5, cell - 6, cell - 6);
  }

  private drawHeaders(w: number, h: number, sx: number, sy: number, r0: number, r1: number, c0: number, c1: number): void {
    const { ctx, cell, rowHeader, colHeader, theme } = this;
    ctx.font = LABEL_FONT;
    ctx.textBaseline = 'middle';
    // Row headers (providers), left.
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, colHeader, rowHeader, h - colHeader);
    ctx.clip();
    ctx.fillStyle = theme.bg;
    ctx.fillRect(0, colHeader, rowHeader, h - colHeader);
    ctx.textAlign = 'right';
    for (let r = r0; r <= r1; r++) {
      const y = colHeader + r * cell - sy;
      if (r === this.at.row) {
        ctx.fillStyle = theme.headerHi;
        ctx.fillRect(0, y, rowHeader - 4, cell - 1);
      }
      ctx.fillStyle = theme.fg;
      ctx.fillText(this.labels[this.rows[r]!]!, rowHeader - 8, y + cell / 2);
    }
    ctx.restore();
    // Column headers (clients), top, written upwards.
    ctx.save();
    ctx.beginPath();
    ctx.rect(rowHeader, 0, w - rowHeader, colHeader);
    ctx.clip();
    ctx.fillStyle = theme.bg;
    ctx.fillRect(rowHeader, 0, w - rowHeader, colHeader);
    for (let c = c0; c <= c1; c++) {
      const x = rowHeader + c * cell - sx;
      if (c === this.at.col) {
        ctx.fillStyle = theme.headerHi;
        ctx.fillRect(x, 0, cell - 1, colHeader - 4);
      }
      ctx.save();
      ctx.translate(x + cell / 2, colHeader - 8);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'left';
      ctx.fillStyle = theme.fg;
      ctx.fillText(this.labels[this.cols[c]!]!, 0, 0);
      ctx.restore();
    }
    ctx.restore();
    // The corner says which axis is which.
    ctx.fillStyle = theme.bg;
    ctx.fillRect(0, 0, rowHeader, colHeader);
    ctx.fillStyle = theme.muted;
    ctx.font = '12px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.fillText('clients →', 8, colHeader - 36);
    ctx.fillText('providers ↓', 8, colHeader - 16);
  }

  private onKey(event: KeyboardEvent): void {
    const pageRows = Math.max(1, Math.floor((this.canvas.clientHeight - this.colHeader) / this.cell));
    const next = moveFocus(event.key, event.ctrlKey || event.metaKey, this.at, { rows: this.rows.length, cols: this.cols.length, pageRows });
    if (!next) return;
    event.preventDefault();
    this.moveTo(next);
  }

  private onClick(event: MouseEvent): void {
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    if (x < this.rowHeader || y < this.colHeader) return;
    const col = Math.floor((x - this.rowHeader + this.scroller.scrollLeft) / this.cell);
    const row = Math.floor((y - this.colHeader + this.scroller.scrollTop) / this.cell);
    if (row >= this.rows.length || col >= this.cols.length) return;
    this.moveTo({ row, col });
    this.canvas.focus({ preventScroll: true });
  }

  private moveTo(next: GridPosition): void {
    this.at = next;
    this.ensureVisible();
    this.draw();
    this.notify(true);
  }

  // Scrolls so that the focused cell is clear of the headers and the edges.
  private ensureVisible(): void {
    const { cell } = this;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const left = this.at.col * cell;
    const top = this.at.row * cell;
    let sx = this.scroller.scrollLeft;
    let sy = this.scroller.scrollTop;
    if (left < sx) sx = left;
    else if (this.rowHeader + left + cell > sx + w) sx = this.rowHeader + left + cell - w;
    if (top < sy) sy = top;
    else if (this.colHeader + top + cell > sy + h) sy = this.colHeader + top + cell - h;
    if (sx !== this.scroller.scrollLeft || sy !== this.scroller.scrollTop) {
      this.scroller.scrollLeft = sx;
      this.scroller.scrollTop = sy;
    }
  }

  private notify(byUser: boolean): void {
    this.onFocusChange(this.rows[this.at.row], this.cols[this.at.col], this.at, byUser);
  }

  /** The focused cell's place, and the axes' lengths. */
  get position(): { readonly at: GridPosition; readonly rows: number; readonly cols: number } {
    return { at: this.at, rows: this.rows.length, cols: this.cols.length };
  }
}

function readTheme(): Theme {
  const style = getComputedStyle(document.documentElement);
  const get = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    bg: get('--bg', '#ffffff'),
    fg: get('--fg', '#000000'),
    muted: get('--muted', '#555555'),
    focus: get('--focus', '#000000'),
    focusInner: get('--focus-inner', '#ffffff'),
    headerHi: get('--header-hi', '#dddddd'),
  };
}
