// A piscina worker that is not dma-bounce/worker: it answers every task with its own kind of result.
export default function notDmaBounce(task) {
  return { doubled: typeof task?.count === 'number' ? task.count * 2 : null };
}
