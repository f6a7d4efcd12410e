// The page's stylesheet: light and dark schemes (prefers-color-scheme), readable type, visible keyboard
// focus, and the legend's swatches in the matrix palette.
import { CELL_KINDS, CELL_STYLES } from './palette.js';

const swatches = CELL_KINDS.map((kind) => `.swatch-${kind} { background: ${CELL_STYLES[kind].fill}; color: ${CELL_STYLES[kind].ink}; }`).join('\n');

/** The stylesheet, as text for one <style> element. */
export const PAGE_STYLE = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1b1f; --muted: #55585f; --panel: #f4f5f7; --line: #d3d6dc;
  --accent: #0b57d0; --focus: #1b1b1f; --focus-inner: #ffffff; --grid: #ffffff; --header-hi: #dfe7f7;
  --warn-bg: #fde7d9; --warn-fg: #7a2e00;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #121317; --fg: #e8e9ed; --muted: #a9adb7; --panel: #1d1f25; --line: #3a3d46;
    --accent: #8ab4f8; --focus: #ffffff; --focus-inner: #121317; --grid: #121317; --header-hi: #2b3550;
    --warn-bg: #4a2414; --warn-fg: #ffcfb3;
  }
}
* { box-sizing: border-box; }
html { background: var(--bg); color: var(--fg); }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
header, main, footer { max-width: 1440px; margin: 0 auto; padding: 0 1.25rem; }
header { padding-top: 1rem; }
h1 { font-size: 1.5rem; margin: 0.5rem 0; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid var(--line); padding-bottom: 0.25rem; }
h3 { font-size: 1rem; margin: 0 0 0.5rem; }
a { color: var(--accent); }
code, .bdf, .ids { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.92em; }
.meta { color: var(--muted); margin: 0; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; padding: 0; margin: 0.5rem 0 0; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.counts { display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; margin: 0.5rem 0; }
.counts div { display: flex; gap: 0.4rem; align-items: baseline; }
.counts dt { color: var(--muted); }
.counts dd { margin: 0; font-weight: 600; }
button, select { font: inherit; color: var(--fg); background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.2rem 0.6rem; }
button:hover, select:hover { border-color: var(--accent); }
.toolbar { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center; margin: 0.5rem 0; }
.toolbar label { display: flex; gap: 0.4rem; align-items: center; }
.tree, .tree ul { list-style: none; margin: 0; padding-left: 1.25rem; }
.tree { padding-left: 0; }
.tree summary { cursor: pointer; }
.tree .leaf { padding-left: 1.1rem; }
.tree .kind { color: var(--muted); }
.tree .bus, .tree .bar-count { color: var(--muted); font-size: 0.9em; }
.tag { display: inline-block; font-size: 0.8em; padding: 0 0.45em; border-radius: 0.6em; background: var(--panel); border: 1px solid var(--line); }
.tag-acs, .tag-warn { background: var(--warn-bg); color: var(--warn-fg); border-color: transparent; }
.acs { margin: 0.2rem 0 0.2rem 1.1rem; color: var(--muted); }
table { border-collapse: collapse; }
table.bars { margin: 0.25rem 0 0.5rem 1.1rem; font-size: 0.9em; }
table.data { margin: 0.5rem 0; font-size: 0.92em; }
th, td { text-align: left; padding: 0.15rem 0.6rem; border-bottom: 1px solid var(--line); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4rem 1.25rem; margin: 0.5rem 0; }
.legend li { display: flex; gap: 0.45rem; align-items: center; }
.swatch { display: inline-grid; place-items: center; width: 1.6em; height: 1.6em; border-radius: 3px; font-weight: 700; }
${swatches}
.matrix-layout { display: grid; grid-template-columns: minmax(min(28rem, 100%), max-content) minmax(16rem, 24rem); gap: 1rem; align-items: start; }
@media (max-width: 900px) { .matrix-layout { grid-template-columns: 1fr; } }
.matrix-scroller { width: fit-content; max-width: 100%; overflow: auto; max-height: 78vh; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); }
.matrix-spacer { position: relative; }
#matrix-canvas { position: sticky; top: 0; left: 0; display: block; cursor: pointer; }
#matrix-canvas:focus { outline: none; }
#matrix-canvas:focus-visible { outline: none; }
.matrix-scroller:focus-within { border-color: var(--accent); box-shadow: 0 0 0 2px var(--accent); }
.pair-panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem 1rem; position: sticky; top: 0.5rem; }
.pair-panel p { margin: 0.35rem 0; }
#pair-headline { font-weight: 600; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em; overflow-wrap: anywhere; }
#pair-text p { overflow-wrap: anywhere; }
/* The notes under the matrix wrap to its width instead of widening the column. */
#matrix-status, #matrix-help { contain: inline-size; }
#matrix-status { min-height: 1.5em; color: var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em; }
.help { color: var(--muted); font-size: 0.9em; }
.chart { margin: 0.75rem 0; }
.chart-card { display: inline-block; max-width: 100%; overflow-x: auto; background: #ffffff; border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem; }
.chart-card svg { display: block; max-width: none; }
figcaption { color: var(--muted); font-size: 0.9em; margin-top: 0.25rem; }
footer { color: var(--muted); font-size: 0.85em; padding-bottom: 2rem; margin-top: 2rem; }
`;
