// The report page: one self-contained HTML document (styles, script, data and charts inline). A Content
// Security Policy that allows nothing but the page's own script (by hash) and inline styles makes the
// browser itself refuse any network request the page might attempt.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { BenchReport } from '../../bench/report.js';
import type { PolicyReport } from '../../bench/policies/run.js';
import type { Topology } from '../pci/topology.js';
import { DEVICE_CLASSES } from './device-class.js';
import { escapeHtml, scriptJson } from './html.js';
import type { ReplayReport } from './inputs.js';
import { benchSectionHtml, policiesSectionHtml, replaySectionHtml } from './measurements-html.js';
import { pageData } from './page-data.js';
import { PAGE_STYLE } from './page-style.js';
import { CELL_KINDS, CELL_STYLES } from './palette.js';
import { treeCounts, treeHtml } from './tree-html.js';

/** What a report is made of. Only the topology is required. */
export interface ReportInputs {
  readonly topology: Topology;
  /** Where the topology came from (a file name, or words such as "the default machine"). */
  readonly source: string;
  readonly bench?: BenchReport;
  readonly policies?: PolicyReport;
  readonly replay?: ReplayReport;
  /** When the report was made (default: now). */
  readonly generatedAt?: Date;
}

/** The page script, bundled at build time next to this module. */
const SCRIPT_URL = new URL('./page-script.js', import.meta.url);
let script: string | undefined;

function pageScript(): string {
  script ??= readFileSync(SCRIPT_URL, 'utf8');
  // The bundle is ours; a "</script" in it would end the element early.
  if (/<\/script/i.test(script)) throw new Error('page-script.js contains "</script"');
  return script;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64');

function countsHtml(counts: ReturnType<typeof treeCounts>): string {
  const item = (key: keyof typeof counts, label: string) => `<div><dt>${label}</dt><dd data-count="${key}">${counts[key]}</dd></div>`;
  return `<dl class="counts">${item('hostBridges', 'host bridges')}${item('functions', 'functions')}${item('endpoints', 'endpoints')}${item('bridges', 'bridges')}${item('bars', 'BARs')}${item('p2pmemBars', 'p2pmem BARs')}</dl>`;
}

function matrixSectionHtml(data: ReturnType<typeof pageData>): string {
  const n = data.endpoints.length;
  const legend = CELL_KINDS.map(
    (kind) => `<li><span class="swatch swatch-${kind}" aria-hidden="true">${CELL_STYLES[kind].letter}</span><span><strong>${CELL_STYLES[kind].label}</strong>: ${CELL_STYLES[kind].meaning}${kind === 'SELF' ? '' : ` (<span data-pair-count="${kind}">${data.pairCounts[kind]}</span> pairs)`}</span></li>`,
  ).join('');
  const present = DEVICE_CLASSES.filter((cls) => data.endpoints.some((e) => e.deviceClass === cls));
  const classOptions = `<option value="">every class</option>${present.map((cls) => `<option value="${cls}">${cls}</option>`).join('')}`;
  return `<section id="matrix" aria-labelledby="matrix-title">
<h2 id="matrix-title">P2P matrix</h2>
<p>Rows are providers (the function whose memory is used), columns are clients (the function doing DMA): ${n} endpoints, ${n * (n - 1)} ordered pairs. Each cell shows the map type's letter and, when there is room, the distance.</p>
<ul class="legend">${legend}</ul>
<div class="toolbar" role="group" aria-label="Matrix view">
<label>Sort <select id="matrix-sort"><option value="tree">tree order</option><option value="bdf">BDF</option><option value="class">device class</option><option value="name">name</option><option value="reach">most peers by bus address</option></select></label>
<label>Providers <select id="matrix-filter-provider">${classOptions}</select></label>
<label>Clients <select id="matrix-filter-client">${classOptions}</select></label>
<label>Cell size <select id="matrix-cell-size"><option value="16">small</option><option value="24">medium</option><option value="32" selected>large</option></select></label>
</div>
<div class="matrix-layout">
<div><div class="matrix-scroller" id="matrix-scroller"><div class="matrix-spacer" id="matrix-spacer"><canvas id="matrix-canvas" tabindex="0" role="application" aria-roledescription="P2P matrix" aria-label="P2P matrix, providers by clients" aria-describedby="matrix-help"></canvas></div></div>
<p id="matrix-status" role="status" aria-live="polite" aria-atomic="true"></p>
<p id="matrix-help" class="help">Click a cell, or focus the matrix and move with the arrow keys; Home and End go to the row's ends, Page Up and Page Down by a screenful, Ctrl+Home and Ctrl+End to the corners.</p>
<noscript><p>The matrix needs JavaScript; <code>dma-bounce p2p</code> prints the same verdicts as text.</p></noscript></div>
<aside class="pair-panel" aria-labelledby="pair-title"><h3 id="pair-title">Pair</h3><p id="pair-headline">Choose a cell.</p><div id="pair-text"></div></aside>
</div>
</section>`;
}

/**
 * The report as one HTML document. Returns the text. Throws only what rendering a chart may throw for data
 * the input checks let through (none known); nothing is written anywhere.
 */
export async function renderReportHtml(inputs: ReportInputs): Promise<string> {
  const { topology } = inputs;
  const data = pageData(topology);
  const code = pageScript();
  const counts = treeCounts(topology);
  const sections = [
    inputs.bench ? await benchSectionHtml(inputs.bench) : '',
    inputs.policies ? await policiesSectionHtml(inputs.policies) : '',
    inputs.replay ? await replaySectionHtml(inputs.replay) : '',
  ];
  const nav = [
    ['machine', 'Machine'],
    ['matrix', 'P2P matrix'],
    ...(inputs.bench ? [['bench', 'Bench']] : []),
    ...(inputs.policies ? [['policies', 'Policies']] : []),
    ...(inputs.replay ? [['replay', 'Replay']] : []),
  ]
    .map(([id, label]) => `<li><a href="#${id}">${label}</a></li>`)
    .join('');
  const csp = `default-src 'none'; script-src 'sha256-${sha256(code)}'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
  const generated = (inputs.generatedAt ?? new Date()).toISOString();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>dma-bounce report: ${escapeHtml(inputs.source)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header>
<h1>dma-bounce report: ${escapeHtml(inputs.source)}</h1>
<p class="meta">Generated ${generated}. ${counts.endpoints} endpoints under ${counts.hostBridges} host bridge${counts.hostBridges === 1 ? '' : 's'}.</p>
<nav aria-label="Sections"><ul>${nav}</ul></nav>
</header>
<main>
<section id="machine" aria-labelledby="machine-title">
<h2 id="machine-title">Machine</h2>
${countsHtml(counts)}
<div class="toolbar"><button type="button" id="tree-expand">Expand all</button><button type="button" id="tree-collapse">Collapse all</button></div>
${treeHtml(topology)}
</section>
${matrixSectionHtml(data)}
${sections.join('\n')}
</main>
<footer><p>Made by <code>dma-bounce report</code>. The verdicts follow the kernel's P2PDMA rules (drivers/pci/p2pdma.c); the page explains each pair with the same code as <code>dma-bounce p2p</code>.</p></footer>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${code}</script>
</body>
</html>
`;
}
