// The kernels module: every export is a pure function over the imported shared memory.
// No allocation, no data segments, no mutable state: each worker instantiates this same
// module over the same memory.
export { copy } from "./copy";
export { checkSg, checkList, copySg, copySgLists } from "./sg";
export { fill, compare } from "./fill";
export { crc32cInitTable, crc32c, copyCrc32c } from "./crc32c";
export { serveRing, ringAbi } from "./ring";
