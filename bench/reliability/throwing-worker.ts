// Fault injection: the engine's worker module, wrapped so that serve and batch tasks throw while a shared
// counter is positive. Load it in a piscina pool with workerData { fabric: fabric.handle(), faults } where
// `faults` is an Int32Array over a SharedArrayBuffer: faults[0] is the number of tasks still to fail
// (decremented per failure; -1 or below: fail forever), faults[1] counts the failures injected.
import { workerData } from 'node:worker_threads';
import run, { type WorkerTask } from '../../src/engine/worker.js';

const faults = (workerData as { faults?: Int32Array } | undefined)?.faults;

export default function throwing(task: WorkerTask): unknown {
  if (faults) {
    const left = Atomics.load(faults, 0);
    if (left !== 0) {
      if (left > 0) Atomics.sub(faults, 0, 1);
      Atomics.add(faults, 1, 1);
      throw new Error('injected worker fault');
    }
  }
  return run(task);
}
