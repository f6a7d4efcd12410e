// Cuts a capture's chunks into pieces of whole lines, so that each piece can be parsed on its own
// thread and the pieces' results put back in order. A piece ends just after a newline (the last
// one may end without), and it starts where the stream's one UTF-8 decoder would hold no partial
// character, so a piece decoded on its own gives the text the whole stream gives there: a cut
// after a 0x0a byte always is such a place; a cut inside a string chunk is made only when the
// bytes before it ended on an ASCII byte (a source mixing strings and bytes).

/** One part of a chunk, in order: the chunk itself, or a slice of it cut at a newline. */
export interface PiecePart {
  readonly text: string | Uint8Array;
  /** The part begins a new piece. */
  readonly starts: boolean;
  /** Bytes were decoded before this piece (for its decoder: a byte-order mark is then text). */
  readonly continued: boolean;
  /** The part ends its piece (its last character is a newline). */
  readonly ends: boolean;
}

const NEWLINE = 0x0a;

export class PieceCutter {
  /** A piece ends at the first newline once it holds this many bytes (or characters, of strings). */
  readonly #size: number;
  #filled = 0;
  #open = false;
  #bytesSeen = false;
  // The stream's decoder holds no partial character after the bytes so far.
  #clean = true;

  constructor(pieceSize: number) {
    this.#size = pieceSize;
  }

  /** Whether a piece has begun and not ended (the reader must end it). */
  get open(): boolean {
    return this.#open;
  }

  /** Whether bytes have been decoded so far (what a piece begun now says as `continued`). */
  get continued(): boolean {
    return this.#bytesSeen;
  }

  /** Cuts `chunk` into parts (none for an empty chunk): whole or, where a piece is full, at newlines. */
  cut(chunk: string | Uint8Array): PiecePart[] {
    const parts: PiecePart[] = [];
    const length = typeof chunk === 'string' ? chunk.length : chunk.byteLength;
    if (length === 0) return parts;
    let from = 0;
    if (typeof chunk !== 'string' || this.#clean) {
      while (this.#filled + (length - from) >= this.#size) {
        const need = Math.max(0, this.#size - this.#filled);
        // Near the piece's size while the rest would still fill a piece; else at the chunk's last newline.
        const limit = length - from - need >= this.#size ? from + need : length;
        let newline = limit > from ? lastNewline(chunk, limit - 1) : -1;
        if (newline < from) newline = firstNewline(chunk, limit); // a line longer than the piece
        if (newline < 0) break;
        parts.push(this.#part(slice(chunk, from, newline + 1), true));
        from = newline + 1;
      }
    }
    if (from < length) parts.push(this.#part(from === 0 ? chunk : slice(chunk, from, length), false));
    if (typeof chunk !== 'string') this.#clean = chunk[length - 1]! < 0x80;
    return parts;
  }

  #part(text: string | Uint8Array, ends: boolean): PiecePart {
    const starts = !this.#open;
    const part = { text, starts, continued: this.#bytesSeen, ends };
    if (typeof text !== 'string') this.#bytesSeen = true;
    this.#open = !ends;
    this.#filled = ends ? 0 : this.#filled + (typeof text === 'string' ? text.length : text.byteLength);
    return part;
  }
}

function lastNewline(chunk: string | Uint8Array, at: number): number {
  return typeof chunk === 'string' ? chunk.lastIndexOf('\n', at) : chunk.lastIndexOf(NEWLINE, at);
}

function firstNewline(chunk: string | Uint8Array, at: number): number {
  return typeof chunk === 'string' ? chunk.indexOf('\n', at) : chunk.indexOf(NEWLINE, at);
}

function slice(chunk: string | Uint8Array, from: number, to: number): string | Uint8Array {
  return typeof chunk === 'string' ? chunk.slice(from, to) : chunk.subarray(from, to);
}
