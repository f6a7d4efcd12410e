// A FIFO of callers waiting for swiotlb space. Beyond the kernel: modelled on QEMU's
// address_space_map() / cpu_register_map_client(), where a caller that finds the bounce budget
// used up registers a one-shot retry instead of failing.
// A doubly linked list, so a waiter that times out or aborts leaves from the middle in O(1).

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
