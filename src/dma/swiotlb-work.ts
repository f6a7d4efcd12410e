// A kernel work item as the model runs it (struct work_struct with schedule_work() and
// flush_work()): queued at most once until it runs, then run once, off the caller's path. The
// model has one thread, so "off the path" is the next turn of the event loop ('auto'), or only
// when the owner flushes it ('manual', for tests that must see the moment in between).

/** When a scheduled work item runs: on the next turn of the event loop ('auto'), or only when flushed ('manual'). */
export type WorkMode = 'auto' | 'manual';

interface Outcome<T> {
  readonly promise: Promise<T | undefined>;
  resolve(value: T | undefined): void;
  reject(error: unknown): void;
}

/** One work item: scheduled at most once until it runs (schedule_work), run early by flush(), dropped by cancel(). */
export class WorkItem<T> {
  readonly #run: () => T;
  readonly #mode: WorkMode;
  #outcome: Outcome<T> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;

  constructor(run: () => T, mode: WorkMode) {
    this.#run = run;
    this.#mode = mode;
  }

  /** True while the item is queued and has not run. */
  get pending(): boolean {
    return this.#outcome !== undefined;
  }

  /** Queues the item unless it is already queued; returns whether it queued it. */
  // models schedule_work()
  schedule(): boolean {
    if (this.#outcome !== undefined) return false;
    let resolve!: (value: T | undefined) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<T | undefined>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // an error nobody flushes for is the owner's to record, not unhandled
    this.#outcome = { promise, resolve, reject };
    if (this.#mode === 'auto') this.#immediate = setImmediate(() => this.#execute());
    return true;
  }

  /**
   * Runs a queued item now. Resolves with what that run returned, or undefined when nothing was
   * queued (or the item was cancelled); rejects with what the run threw.
   */
  // models flush_work()
  flush(): Promise<T | undefined> {
    const outcome = this.#outcome;
    if (outcome === undefined) return Promise.resolve(undefined);
    this.#execute();
    return outcome.promise;
  }

  /** Drops a queued run; its flushers get undefined. Returns whether one was queued. */
  // models cancel_work()
  cancel(): boolean {
    const outcome = this.#outcome;
    if (outcome === undefined) return false;
    this.#clear();
    outcome.resolve(undefined);
    return true;
  }

  #execute(): void {
    const outcome = this.#outcome;
    if (outcome === undefined) return;
    // Not pending any more while it runs: a schedule() from the run queues it again.
    this.#clear();
    try {
      outcome.resolve(this.#run());
    } catch (error) {
      outcome.reject(error);
    }
  }

  #clear(): void {
    this.#outcome = undefined;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }
}
