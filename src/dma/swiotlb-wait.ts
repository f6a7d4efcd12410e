// A FIFO of callers waiting for swiotlb space. Beyond the kernel: modelled on QEMU's
// address_space_map() / cpu_register_map_client(), where a caller that finds the bounce budget
// used up registers a one-shot retry instead of failing.
// A doubly linked list, so a waiter that times out or aborts leaves from the middle in O(1).
import { AbortError } from '../errors.js';

/** One queued entry. `queued` turns false once it has left the queue (served, timed out, aborted). */
export interface WaitNode<T> {
  readonly value: T;
  prev: WaitNode<T> | null;
  next: WaitNode<T> | null;
  queued: boolean;
}

/** First in, first out; removal from anywhere. */
export class WaitQueue<T> {
  private head: WaitNode<T> | null = null;
  private tail: WaitNode<T> | null = null;
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** Appends `value` at the back; returns its node (to remove it later). */
  push(value: T): WaitNode<T> {
    const node: WaitNode<T> = { value, prev: this.tail, next: null, queued: true };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.count++;
    return node;
  }

  /** The oldest entry, or undefined when empty. */
  peek(): WaitNode<T> | undefined {
    return this.head ?? undefined;
  }

  /** True when `node` is the oldest entry. */
  isHead(node: WaitNode<T>): boolean {
    return this.head === node;
  }

  /** Unlinks `node`; a node already out of the queue is ignored. */
  remove(node: WaitNode<T>): void {
    if (!node.queued) return;
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = null;
    node.queued = false;
    this.count--;
  }
}

/** What a pool (or an io_tlb_mem) lends the waiters: attempts, the full report, its errors. */
export interface SpaceWaitHost<R, M> {
  /** One allocation attempt for a checked request: the mapping, or undefined when there is no room. */
  attempt(request: R): M | undefined;
  /** True when no unmap (or pending pool growth) can ever make room: nothing is mapped. */
  cannotEverFit(): boolean;
  /** A waiter found no room on arrival: the moment the kernel would print its warning. */
  reportFull(request: R): void;
  /** The SwiotlbFullError for a waiter that gave up after `timeout` ms, or that can never fit (timeout undefined). */
  fullError(request: R, timeout: number | undefined): Error;
}

interface Waiter<R, M> {
  readonly request: R;
  resolve(mapping: M): void;
  reject(err: Error): void;
  /** Stops the timer and the abort listener. */
  cleanup(): void;
}

/**
 * Callers waiting for swiotlb space, served strictly first come, first served: while the oldest
 * does not fit nobody behind it is served, and a newcomer queues behind those already waiting.
 */
export class SpaceWaiters<R, M> {
  readonly #queue = new WaitQueue<Waiter<R, M>>();
  readonly #host: SpaceWaitHost<R, M>;
  #draining = false;

  constructor(host: SpaceWaitHost<R, M>) {
    this.#host = host;
  }

  get length(): number {
    return this.#queue.length;
  }

  /**
   * Queues a checked request and resolves when it is mapped. Register first, then retry: the
   * retry is the allocation attempt, so an unmap can never fall between a failed attempt and the
   * registration. Rejects with the host's fullError after `timeout` ms, AbortError when `signal` aborts.
   */
  wait(request: R, timeout: number | undefined, signal: AbortSignal | undefined): Promise<M> {
    return new Promise<M>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let onAbort: (() => void) | undefined;
      const waiter: Waiter<R, M> = {
        request,
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
        },
      };
      const node = this.#queue.push(waiter);
      this.drain();
      if (!node.queued) return;
      // Still queued: no room for this request, the moment the kernel would warn.
      this.#host.reportFull(request);
      if (!node.queued) return; // onFull freed space and the unmap served us
      if (timeout !== undefined) timer = setTimeout(() => this.#giveUp(node, this.#host.fullError(request, timeout)), timeout);
      if (signal !== undefined) {
        onAbort = () => this.#giveUp(node, waitAborted(signal));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** Serves waiters oldest first; stops at the first that does not fit (no overtaking). */
  drain(): void {
    if (this.#draining || this.#queue.length === 0) return;
    this.#draining = true;
    try {
      for (let node = this.#queue.peek(); node !== undefined; node = this.#queue.peek()) {
        const w = node.value;
        const mapping = this.#host.attempt(w.request);
        if (mapping === undefined) {
          if (!this.#host.cannotEverFit()) break;
          this.#queue.remove(node);
          w.cleanup();
          w.reject(this.#host.fullError(w.request, undefined));
          continue;
        }
        this.#queue.remove(node);
        w.cleanup();
        w.resolve(mapping);
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Rejects every waiter with `error()` (the owner is closing). */
  rejectAll(error: () => Error): void {
    for (let node = this.#queue.peek(); node !== undefined; node = this.#queue.peek()) {
      this.#queue.remove(node);
      node.value.cleanup();
      node.value.reject(error());
    }
  }

  /** Removes a waiter that timed out or aborted; those behind it may fit now. */
  #giveUp(node: WaitNode<Waiter<R, M>>, err: Error): void {
    if (!node.queued) return;
    const wasHead = this.#queue.isHead(node);
    this.#queue.remove(node);
    node.value.cleanup();
    node.value.reject(err);
    if (wasHead) this.drain();
  }
}

/** The AbortError of a wait given up through its signal; `cause` is the abort reason. */
export function waitAborted(signal: AbortSignal): AbortError {
  return new AbortError('swiotlb mapWait was aborted', { cause: signal.reason });
}
