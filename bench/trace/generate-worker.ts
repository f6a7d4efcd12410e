// Writes the generated capture (workerData: { file, events }) on its own thread for `npm run
// bench:trace`: formatting a million lines in the process that then parses and replays them made
// every parse after the first replay run at half speed (a V8 effect the CLI never meets: it only
// reads), so the measured process only reads, as `dma-bounce replay` does.
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { generateCapture } from './capture.js';

const { file, events } = workerData as { file: string; events: number };
const fd = openSync(file, 'w');
try {
  parentPort!.postMessage(generateCapture(events, (text) => writeSync(fd, text)));
} finally {
  closeSync(fd);
}
