/// <reference lib="dom" />
// The detail of the focused cell, as text a person can select and copy, and the one-line announcement the
// live region reads out. The explanation comes from pair-detail.ts, the same code the command line runs.
import type { Topology } from '../../pci/topology.js';
import type { PageEndpoint } from '../page-data.js';
import { pairDetail } from '../pair-detail.js';
import type { GridPosition } from './matrix-keys.js';

/** Writes a pair's detail into the panel and its announcement into the status line. */
export class PairPanel {
  constructor(
    private readonly headline: HTMLElement,
    private readonly text: HTMLElement,
    private readonly status: HTMLElement,
    private readonly topology: Topology,
    private readonly endpoints: readonly PageEndpoint[],
  ) {}

  private who(index: number): string {
    const e = this.endpoints[index]!;
    return `${e.bdf}${e.name ? ` ${e.name}` : ''} (${e.deviceClass})`;
  }

  /** Shows the pair (provider row, client column); `announce` also updates the live region. */
  show(provider: number | undefined, client: number | undefined, at: GridPosition, rows: number, cols: number, announce: boolean): void {
    if (provider === undefined || client === undefined) {
      this.headline.textContent = 'No pair: the filters leave an axis empty.';
      this.text.replaceChildren();
      if (announce) this.status.textContent = this.headline.textContent;
      return;
    }
    const place = `Row ${at.row + 1} of ${rows}, column ${at.col + 1} of ${cols}.`;
    const paragraphs = [`Provider: ${this.who(provider)}`, `Client: ${this.who(client)}`];
    let said: string;
    if (provider === client) {
      this.headline.textContent = `${this.endpoints[provider]!.bdf}: the same function`;
      paragraphs.push('A function paired with itself is not a P2P pair.');
      said = `Same function: ${this.who(provider)}. ${place}`;
    } else {
      const detail = pairDetail(this.topology.device(this.endpoints[provider]!.bdf), this.topology.device(this.endpoints[client]!.bdf));
      this.headline.textContent = detail.headline;
      paragraphs.push(...detail.lines);
      said = `${detail.letter}: ${detail.type}, distance ${detail.distance}${detail.acsRedirect ? ', ACS redirect' : ''}. Provider ${this.endpoints[provider]!.bdf} (${this.endpoints[provider]!.deviceClass}), client ${this.endpoints[client]!.bdf} (${this.endpoints[client]!.deviceClass}). ${place}`;
    }
    this.text.replaceChildren(...paragraphs.map((line) => Object.assign(document.createElement('p'), { textContent: line })));
    if (announce) this.status.textContent = said;
  }
}
