// A piscina worker that never answers a serve task (and answers batch tasks as dma-bounce/worker would
// not): the worst case for a channel, which cannot tell it from a busy pool.
export default function silent(task) {
  if (task?.kind === 'serve') return new Promise(() => {});
  return 42;
}
