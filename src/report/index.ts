// The HTML report: data in, one self-contained page out. Re-exports only.
export { writeReport, writeDefaultMachineReport, REPORT_FILE } from './write.js';
export { renderReportHtml, type ReportInputs } from './page.js';
export { readReportInput, parseReportInput, loadInputChecks, INPUT_CHECK_PACKAGES, type ReplayReport, type OccupancySample, type ReportInputKind, type ReportInputKinds } from './inputs.js';
export { BENCH_SCHEMA, POLICIES_SCHEMA, REPLAY_SCHEMA } from './input-schemas.js';
export { pageData, type PageData, type PageEndpoint } from './page-data.js';
export { pairDetail, pairVerdict, formatPairDetail, type PairDetail, type PairVerdict } from './pair-detail.js';
export { deviceFacts, type DeviceFacts, type BarFacts, type AcsFacts } from './device-facts.js';
export { deviceClass, DEVICE_CLASSES, type DeviceClass } from './device-class.js';
export { treeCounts, type TreeCounts } from './tree-html.js';
export { encodeMatrix, decodeMatrix, MatrixCells, KIND_BY_CODE, type EncodedMatrix } from './matrix-codec.js';
export { CELL_STYLES, CELL_KINDS, SERIES_COLOURS, type CellKind, type CellStyle } from './palette.js';
export { occupancyPoints, occupancySummary, type OccupancyPoint, type OccupancySummary } from './occupancy.js';
