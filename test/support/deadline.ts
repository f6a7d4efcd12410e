// Deadlines for promises that must settle: a test that would hang fails with a message instead.
import { readdirSync } from 'node:fs';

/** Resolves with what `promise` settles to ({ value } or { error }), or rejects after `ms` naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<{ value?: T; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (polling every millisecond) until `condition` holds, or throws after `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** OS threads of this process (Linux): a pool that started threads shows here. */
export function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}
