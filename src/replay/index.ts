// Replaying a captured DMA trace through the model: re-exports only.
export { replayCapture, entryLengths, maskBits, type ReplayConfig, type ReplayOptions, type ReplayCapture, type ReplayResult, type CaptureOpener } from './replay.js';
export { AddressPlan, PageCollector, REPLAY_PAGE } from './address-map.js';
export type { ReplayFigures, ReplayDeviceReport, ReplayFullEvent, PoolOccupancySample, UnmatchedCall, ReplayRun, ReplayRunConfig } from './report.js';
