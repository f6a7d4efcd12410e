// Time for the IOMMU layer's deferred work (the flush queue's 10 ms timer, the rcache depot's
// 100 ms trim): real timers that never keep the process alive, or a manual clock that tests
// advance, so that a lazy-mode window can be shown without sleeping.
/** What the IOMMU layer schedules its deferred work on. */
export interface IommuClock {
  /** Runs `fn` once after `ms`; returns a handle for cancel(). */
  schedule(ms: number, fn: () => void): unknown;
  /** Cancels what schedule() returned; a handle already run or cancelled is ignored. */
  cancel(handle: unknown): void;
  /** Manual clocks only: runs what falls due within `ms` (in due order); real clocks refuse. */
  readonly manual: boolean;
  /** Moves a manual clock on by `ms`, running what falls due; a real clock throws. */
  advance(ms: number): void;
}

/** setTimeout() timers, unref'd: a pending flush never holds the process open. */
export function realClock(): IommuClock {
  return {
    manual: false,
    schedule(ms, fn) {
      const t = setTimeout(fn, ms);
      t.unref();
      return t;
    },
    cancel(handle) {
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
    advance() {
      throw new Error('a real clock cannot be advanced');
    },
  };
}

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

/** A clock that moves only when advance() is called. */
export function manualClock(): IommuClock {
  let now = 0;
  let seq = 0;
  const timers: ManualTimer[] = [];
  return {
    manual: true,
    schedule(ms, fn) {
      const timer: ManualTimer = { at: now + ms, seq: seq++, fn, live: true };
      timers.push(timer);
      return timer;
    },
    cancel(handle) {
      const timer = handle as ManualTimer;
      timer.live = false;
      const i = timers.indexOf(timer);
      if (i >= 0) timers.splice(i, 1);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let next: ManualTimer | undefined;
        for (const t of timers) if (t.at <= until && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
        if (!next) break;
        timers.splice(timers.indexOf(next), 1);
        now = next.at;
        if (next.live) next.fn();
      }
      now = until;
    },
  };
}
