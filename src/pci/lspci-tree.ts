// The tree that `lspci -tv` / `lspci -tvnn` prints (pciutils ls-tree.c), read into a topology description.
//
// The format, as ls-tree.c writes it: the forest starts with "-"; a host bridge group with one root bus
// prints "[SSSS:BB]-", with several "+-[SSSS:BB]-" ... "\-[SSSS:BB]-" on successive lines. A bus with one
// device prints "--" before it, with several "+-" ... "\-"; an empty bus prints nothing. A function is
// "DD.F"; a bridge adds "-[SS]-" or "-[SS-UU]-" (secondary, subordinate) and then "-" and its secondary bus;
// an endpoint adds "  name" with -v. Lines that continue a branch carry "|" in its column.
// The reader scans each line by position (no slicing per device, no backtracking patterns), and walks the
// nesting with an explicit stack, so a long line or a deep chain of bridges costs time in proportion to its size.
import { LspciParseError } from '../errors.js';
import { formatBdf } from './bdf.js';
import type { InputLine } from './lspci-text.js';
import type { DeviceSpec, HostBridgeSpec, TopologySpec } from './topology.js';

/** A parsed tree and the input line of each device and host bridge (for error messages). */
export interface ParsedTree {
  readonly spec: TopologySpec;
  readonly lineOf: WeakMap<object, number>;
  /** Input line numbers of the first and last tree lines. */
  readonly first: number;
  readonly last: number;
}

interface BridgeRange {
  secondary: number;
  subordinate: number;
}

const isHex = (c: string | undefined): boolean => c !== undefined && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));

function hexRun(text: string, at: number, max: number): number {
  let n = 0;
  while (n < max && isHex(text[at + n])) n++;
  return n;
}

// Drops a trailing "(rev xx)" and reads a trailing "[vvvv:dddd]" (or "vvvv:dddd" alone, -tn), by hand.
export function describeName(spec: { name?: string; vendor?: string; device?: string }, text: string): void {
  let name = text.trim();
  if (name.endsWith(')')) {
    const open = name.lastIndexOf(' (rev ');
    if (open >= 0 && name.length - open === 9 && hexRun(name, open + 6, 2) === 2) name = name.slice(0, open).trimEnd();
  }
  if (name.length === 9 && hexRun(name, 0, 4) === 4 && name[4] === ':' && hexRun(name, 5, 4) === 4) {
    spec.vendor = name.slice(0, 4);
    spec.device = name.slice(5);
    return;
  }
  if (name.endsWith(']') && name.length >= 11) {
    const open = name.length - 11;
    if (name[open] === '[' && hexRun(name, open + 1, 4) === 4 && name[open + 5] === ':' && hexRun(name, open + 6, 4) === 4) {
      spec.vendor = name.slice(open + 1, open + 5);
      spec.device = name.slice(open + 6, open + 10);
      name = name.slice(0, open).trimEnd();
    }
  }
  if (name !== '') spec.name = name;
}

class TreeParser {
  readonly lines: string[];
  readonly numbers: number[];
  readonly lineOf = new WeakMap<object, number>();
  readonly seen = new Map<string, number>();

  constructor(input: readonly InputLine[]) {
    this.lines = input.map((l) => l.text);
    this.numbers = input.map((l) => l.number);
  }

  fail(index: number, message: string): never {
    const line = this.numbers[Math.min(index, this.numbers.length - 1)] ?? 1;
    throw new LspciParseError(`line ${line}: ${message}`, { line });
  }

  // Entries at column `col` of a bus or of the root list, each parsed by `entry`; returns them and the last line used.
  parseAll(): { spec: TopologySpec; last: number } {
    const start = this.lines.findIndex((line) => line !== '');
    if (start < 0) this.fail(0, 'no lspci tree (empty input)');
    const first = this.lines[start]!;
    if (first[0] !== '-') this.fail(start, `expected the tree to start with "-" (output of lspci -tv or lspci -tvnn), got "${first.slice(0, 20)}"`);
    const hostBridges: HostBridgeSpec[] = [];
    let last: number;
    if (first.startsWith('+-', 1)) {
      last = this.siblings(start, 1, (li, col) => {
        const parsed = this.rootBus(li, col);
        hostBridges.push(parsed.value);
        return parsed.last;
      });
    } else {
      const parsed = this.rootBus(start, 1);
      hostBridges.push(parsed.value);
      last = parsed.last;
    }
    return { spec: { hostBridges }, last };
  }

  rootBus(li: number, col: number): { value: HostBridgeSpec; last: number } {
    const text = this.lines[li]!;
    if (text[col] !== '[') this.fail(li, `expected a root bus "[SSSS:BB]-" at column ${col + 1}`);
    let at = col + 1;
    let segment = 0;
    const firstRun = hexRun(text, at, 9);
    let bus: number;
    if (text[at + firstRun] === ':' && firstRun >= 4 && firstRun <= 8) {
      segment = Number.parseInt(text.slice(at, at + firstRun), 16);
      at += firstRun + 1;
      if (hexRun(text, at, 3) !== 2) this.fail(li, `expected a root bus "[SSSS:BB]-" at column ${col + 1}`);
      bus = Number.parseInt(text.slice(at, at + 2), 16);
      at += 2;
    } else if (firstRun === 2) {
      bus = Number.parseInt(text.slice(at, at + 2), 16);
      at += 2;
    } else {
      this.fail(li, `expected a root bus "[SSSS:BB]-" at column ${col + 1}`);
    }
    if (text[at] !== ']' || text[at + 1] !== '-') this.fail(li, `expected a root bus "[SSSS:BB]-" at column ${col + 1}`);
    const hb: HostBridgeSpec = { segment, bus, devices: [] };
    this.lineOf.set(hb, this.numbers[li]!);
    const last = this.busContent(li, at + 2, segment, bus, undefined, hb.devices);
    return { value: hb, last };
  }

  // The devices of one bus, starting at (li, col): nothing, "--" one device, or "+-" ... "\-" several.
  busContent(li: number, col: number, segment: number, bus: number, range: BridgeRange | undefined, into: DeviceSpec[]): number {
    const text = this.lines[li]!;
    if (col >= text.length) return li;
    const c0 = text[col];
    const c1 = text[col + 1];
    if (c0 === '-' && c1 === '-') return this.device(li, col + 2, segment, bus, range, into);
    if (c0 === '+' && c1 === '-' && text[col + 2] === '[') this.fail(li, 'a bridge whose range holds several buses is not supported by the model');
    if (c0 === '+' && c1 === '-') return this.siblings(li, col, (line, at) => this.device(line, at, segment, bus, range, into));
    return this.fail(li, `malformed connector "${text.slice(col, col + 2)}" at column ${col + 1} (expected "--", "+-" or the end of the line)`);
  }

  // Entries at column `col`: "+-" entries continue on later lines until the "\-" entry.
  siblings(li: number, col: number, entry: (li: number, col: number) => number): number {
    let line = li;
    for (;;) {
      const text = this.lines[line]!;
      const isLast = text[col] === '\\' && text[col + 1] === '-';
      if (!isLast && !(text[col] === '+' && text[col + 1] === '-')) this.fail(line, `malformed connector "${text.slice(col, col + 2)}" at column ${col + 1} (expected "+-" or "\\-")`);
      const last = entry(line, col + 2);
      if (isLast) return last;
      for (let k = line + 1; k <= last; k++) {
        if (this.lines[k]![col] !== '|') this.fail(k, `expected "|" at column ${col + 1} continuing the branch opened on line ${this.numbers[line]}`);
      }
      const next = last + 1;
      const nextText = this.lines[next];
      if (nextText === undefined || nextText === '') {
        this.fail(line, `the branch at column ${col + 1} never closes: no "\\-" entry follows (output cut short?)`);
      }
      if (nextText.length < col + 2) this.fail(next, `expected "+-" or "\\-" at column ${col + 1} continuing the branch opened on line ${this.numbers[line]}`);
      for (let k = 0; k < col; k++) {
        const c = nextText[k];
        if (c !== ' ' && c !== '|') this.fail(next, `expected "+-" or "\\-" at column ${col + 1} continuing the branch opened on line ${this.numbers[line]}`);
      }
      line = next;
    }
  }

  device(li: number, col: number, segment: number, bus: number, range: BridgeRange | undefined, into: DeviceSpec[]): number {
    // A chain of single-child bridges continues on the same line; walk it with a loop, not recursion.
    let text = this.lines[li]!;
    let at = col;
    let currentBus = bus;
    let currentRange = range;
    let target = into;
    for (;;) {
      if (hexRun(text, at, 2) !== 2 || text[at + 2] !== '.' || !(text[at + 3]! >= '0' && text[at + 3]! <= '7')) {
        this.fail(li, `expected a function "DD.F" at column ${at + 1}, got "${text.slice(at, at + 12)}"`);
      }
      const slot = Number.parseInt(text.slice(at, at + 2), 16);
      if (slot > 0x1f) this.fail(li, `device number ${text.slice(at, at + 2)} is above 1f`);
      const bdf = formatBdf(segment, currentBus, slot, Number(text[at + 3]));
      const earlier = this.seen.get(bdf);
      if (earlier !== undefined) this.fail(li, `${bdf} appears twice (first on line ${earlier})`);
      this.seen.set(bdf, this.numbers[li]!);
      const spec: DeviceSpec = { bdf };
      this.lineOf.set(spec, this.numbers[li]!);
      target.push(spec);
      at += 4;
      if (text[at] === '-' && text[at + 1] === '[') {
        // -[SS]- or -[SS-UU]-
        let p = at + 2;
        if (hexRun(text, p, 3) !== 2) this.fail(li, `malformed bridge "${text.slice(at, at + 10)}" (expected -[SS]- or -[SS-UU]-)`);
        const secondary = Number.parseInt(text.slice(p, p + 2), 16);
        p += 2;
        let subordinate = secondary;
        if (text[p] === '-') {
          if (hexRun(text, p + 1, 3) !== 2) this.fail(li, `malformed bridge "${text.slice(at, at + 10)}" (expected -[SS]- or -[SS-UU]-)`);
          subordinate = Number.parseInt(text.slice(p + 1, p + 3), 16);
          p += 3;
        }
        if (text[p] !== ']' || text[p + 1] !== '-') this.fail(li, `malformed bridge "${text.slice(at, at + 10)}" (expected -[SS]- or -[SS-UU]-)`);
        const label = text.slice(at + 2, p);
        if (subordinate < secondary) this.fail(li, `bus range [${label}] is reversed`);
        if (secondary <= currentBus) this.fail(li, `bridge ${bdf}'s secondary bus ${label.slice(0, 2)} is not above its own bus`);
        if (currentRange && (secondary < currentRange.secondary || subordinate > currentRange.subordinate)) {
          this.fail(li, `bridge ${bdf}'s buses [${label}] are outside its parent's range`);
        }
        spec.secondaryBus = secondary;
        spec.kind = 'bridge';
        p += 2;
        if (text[p] !== '-') this.fail(li, `malformed bridge "${text.slice(at, p + 3)}" (expected "-" after the bus range)`);
        p++;
        currentBus = secondary;
        currentRange = { secondary, subordinate };
        if (p >= text.length) return li;
        const c0 = text[p];
        const c1 = text[p + 1];
        const children: DeviceSpec[] = [];
        spec.children = children;
        if (c0 === '-' && c1 === '-') {
          // exactly one device on the secondary bus: continue the chain on this line
          target = children;
          at = p + 2;
          continue;
        }
        if (c0 === '+' && c1 === '-' && text[p + 2] === '[') this.fail(li, 'a bridge whose range holds several buses is not supported by the model');
        if (c0 === '+' && c1 === '-') {
          const segmentNow = segment;
          const busNow = currentBus;
          const rangeNow = currentRange;
          return this.siblings(li, p, (line, pos) => this.device(line, pos, segmentNow, busNow, rangeNow, children));
        }
        return this.fail(li, `malformed connector "${text.slice(p, p + 2)}" at column ${p + 1} (expected "--", "+-" or the end of the line)`);
      }
      if (at < text.length) {
        if (text[at] !== ' ' || text[at + 1] !== ' ' || text.slice(at).trim() === '') this.fail(li, `unexpected text after ${text.slice(at - 4, at)}: "${text.slice(at, at + 20)}"`);
        describeName(spec, text.slice(at));
      }
      text = '';
      return li;
    }
  }
}

// Kinds: lspci -t does not print them. A bridge on a root bus is a root port; a bridge below a root port or
// downstream port whose children include bridges is a switch upstream port, and those children are
// downstream ports; every other bridge stays 'bridge'. Only devices without a known port type are changed.
export function inferKinds(spec: TopologySpec): void {
  const stack: { devices: DeviceSpec[]; parentKind: string | undefined }[] = spec.hostBridges.map((hb) => ({ devices: hb.devices, parentKind: undefined }));
  while (stack.length > 0) {
    const { devices, parentKind } = stack.pop()!;
    for (const device of devices) {
      if (device.kind === 'bridge' && device.portType === undefined) {
        const hasBridgeChild = (device.children ?? []).some((child) => child.kind !== undefined && child.kind !== 'endpoint');
        if (parentKind === undefined) device.kind = 'root-port';
        else if (parentKind === 'upstream-port') device.kind = 'downstream-port';
        else if ((parentKind === 'root-port' || parentKind === 'downstream-port') && hasBridgeChild) device.kind = 'upstream-port';
      }
      if (device.children) stack.push({ devices: device.children, parentKind: device.kind });
    }
  }
}

/** Parses tree lines (from lspciLines()); `strict` refuses text after the tree. @internal */
export function parseTreeLines(input: readonly InputLine[], strict: boolean): ParsedTree {
  const parser = new TreeParser(input);
  const { spec, last } = parser.parseAll();
  if (strict) {
    const extra = parser.lines.findIndex((line, i) => i > last && line !== '');
    if (extra >= 0) parser.fail(extra, 'unexpected text after the end of the tree');
  }
  const firstIndex = parser.lines.findIndex((line) => line !== '');
  return { spec, lineOf: parser.lineOf, first: parser.numbers[firstIndex]!, last: parser.numbers[last]! };
}
