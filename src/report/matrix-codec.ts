// The P2P matrix as the page carries it: one byte per cell (kind and ACS redirect) and one or two bytes per
// cell of distance, row-major (row = provider, column = client), base64 in the page's data. Shared by the
// page builder (encode) and the page script (decode); linear in the number of cells both ways.
import type { CellKind } from './palette.js';
import type { PairVerdict } from './pair-detail.js';

/** Kind codes, by value: a cell byte's low two bits. */
export const KIND_BY_CODE: readonly CellKind[] = ['SELF', 'BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED'];
const ACS_BIT = 4;

/** The matrix in the page's data. */
export interface EncodedMatrix {
  /** Endpoints per side: n * n cells. */
  readonly n: number;
  /** base64 of n * n bytes: kind code | 4 when ACS redirect is in the way. */
  readonly cells: string;
  /** base64 of n * n distances, `distanceBytes` each (little-endian). */
  readonly distances: string;
  readonly distanceBytes: 1 | 2;
}

/** Decoded cells, read by (provider index, client index). */
export class MatrixCells {
  constructor(
    readonly n: number,
    private readonly codes: Uint8Array,
    private readonly dist: Uint8Array | Uint16Array,
  ) {}

  kind(provider: number, client: number): CellKind {
    return KIND_BY_CODE[this.codes[provider * this.n + client]! & 3]!;
  }

  distance(provider: number, client: number): number {
    return this.dist[provider * this.n + client]!;
  }

  acsRedirect(provider: number, client: number): boolean {
    return (this.codes[provider * this.n + client]! & ACS_BIT) !== 0;
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const CHUNK = 0x8000; // String.fromCharCode takes its arguments on the stack: bounded chunks.
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Encodes an n x n matrix; `verdict(p, c)` is asked for every p != c (the diagonal is SELF). Returns the
 * encoded form. Throws RangeError only for distances above 65535, which no PCI topology has.
 */
export function encodeMatrix(n: number, verdict: (provider: number, client: number) => PairVerdict): EncodedMatrix {
  const codes = new Uint8Array(n * n);
  const distances = new Uint16Array(n * n);
  let widest = 0;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < n; c++) {
      if (p === c) continue; // code 0 = SELF, distance 0
      const v = verdict(p, c);
      const i = p * n + c;
      codes[i] = KIND_BY_CODE.indexOf(v.type) | (v.acsRedirect ? ACS_BIT : 0);
      if (v.distance > 0xffff) throw new RangeError(`distance ${v.distance} does not fit the matrix encoding`);
      distances[i] = v.distance;
      if (v.distance > widest) widest = v.distance;
    }
  }
  const distanceBytes = widest > 0xff ? 2 : 1;
  const distanceData = distanceBytes === 1 ? Uint8Array.from(distances) : new Uint8Array(littleEndian(distances));
  return { n, cells: toBase64(codes), distances: toBase64(distanceData), distanceBytes };
}

function littleEndian(values: Uint16Array): ArrayBuffer {
  const view = new DataView(new ArrayBuffer(values.length * 2));
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, values[i]!, true);
  return view.buffer;
}

/** Decodes what encodeMatrix() produced. Throws RangeError when the lengths do not match n. */
export function decodeMatrix(encoded: EncodedMatrix): MatrixCells {
  const { n } = encoded;
  const codes = fromBase64(encoded.cells);
  const raw = fromBase64(encoded.distances);
  if (codes.length !== n * n || raw.length !== n * n * encoded.distanceBytes) throw new RangeError('matrix data does not match its size');
  let dist: Uint8Array | Uint16Array = raw;
  if (encoded.distanceBytes === 2) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    dist = new Uint16Array(n * n);
    for (let i = 0; i < n * n; i++) dist[i] = view.getUint16(i * 2, true);
  }
  return new MatrixCells(n, codes, dist);
}
