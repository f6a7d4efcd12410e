// The matrix's colours and letters, shared by the page builder (legend, styles) and the page script (canvas).
// Okabe-Ito colours: told apart with every common colour-vision deficiency, and each map type also carries a
// letter, so that colour is never the only cue.
import type { P2pMapType } from '../pci/p2pdma.js';

/** What a matrix cell shows: a map type, or the function paired with itself (not a P2P pair). */
export type CellKind = P2pMapType | 'SELF';

/** One cell kind's look: fill colour, the letter drawn on it, the ink for that letter, and words for the legend. */
export interface CellStyle {
  readonly fill: string;
  readonly ink: string;
  readonly letter: string;
  readonly label: string;
  readonly meaning: string;
}

/** The look of every cell kind. Fills keep at least 4.5:1 contrast with their ink (WCAG AA for text). */
export const CELL_STYLES: Readonly<Record<CellKind, CellStyle>> = {
  BUS_ADDR: { fill: '#0072b2', ink: '#ffffff', letter: 'B', label: 'BUS_ADDR', meaning: 'peer to peer by bus address, below a common switch' },
  THRU_HOST_BRIDGE: { fill: '#e69f00', ink: '#000000', letter: 'H', label: 'THRU_HOST_BRIDGE', meaning: 'through the host bridge (a normal mapping)' },
  NOT_SUPPORTED: { fill: '#d55e00', ink: '#000000', letter: 'N', label: 'NOT_SUPPORTED', meaning: 'not supported: mainline fails with -EREMOTEIO' },
  SELF: { fill: '#8c8c8c', ink: '#000000', letter: '·', label: 'same function', meaning: 'a function paired with itself (not a P2P pair)' },
};

/** The cell kinds in legend order. */
export const CELL_KINDS: readonly CellKind[] = ['BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED', 'SELF'];

/** Colours for series in the charts (Okabe-Ito, without the yellow that vanishes on white). */
export const SERIES_COLOURS: readonly string[] = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#000000'];
