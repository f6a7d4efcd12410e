// A generated capture for the speed runs: a mix like a storage and a network device's day, in the
// kernel's mainline format. An NVMe drive (64-bit) maps and unmaps 4-128 KiB buffers directly,
// sometimes as 4-entry SG lists with a sync; a 32-bit NIC bounces its 1500-byte frames from RAM
// above 4 GiB (swiotlb_bounced, then the map); other events are mixed in.
import { formatEvent, formatLine, type TraceEvent } from '../../src/trace/index.js';

const NVME = '0000:04:00.0';
const NIC = '0000:81:00.0';
const TASK = { comm: 'fio', pid: 4242 };

/** Calls `write` with lines of about `events` dma/swiotlb events (and 1 other line per 50). */
export function generateCapture(events: number, write: (text: string) => void): number {
  let seed = 0x9e3779b9;
  const rand = () => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  let ts = 1000;
  let emitted = 0;
  let batch: string[] = [];
  const emit = (event: TraceEvent) => {
    const f = formatEvent(event, 'latest')!;
    batch.push(formatLine('ftrace', TASK, event.cpu, event.ts, f));
    emitted++;
    if (emitted % 50 === 0) batch.push(`          <idle>-0       [001] d.h1. ${ts.toFixed(6).padStart(12)}: irq_handler_entry: irq=30 name=nvme0q1`);
    if (batch.length >= 4096) {
      write(batch.join('\n') + '\n');
      batch = [];
    }
  };
  const common = (device: string) => ({ ts: (ts += 0.000001 + rand() * 0.00001), cpu: Math.floor(rand() * 4), device });
  const nicLive: number[] = [];
  while (emitted < events) {
    const r = rand();
    if (r < 0.45) {
      const phys = 0x1_0000_0000 + Math.floor(rand() * 4096) * 0x20000;
      const size = 4096 << Math.floor(rand() * 6);
      emit({ type: 'map', name: '', ...common(NVME), dir: 1 + Math.floor(rand() * 2), dmaAddr: phys, size, physAddr: phys, attrs: 0 });
      emit({ type: 'unmap', name: '', ...common(NVME), dir: 1, dmaAddr: phys, size, attrs: 0 });
    } else if (r < 0.55) {
      const phys = Array.from({ length: 4 }, () => 0x2_0000_0000 + Math.floor(rand() * 8192) * 0x1000);
      const sizes = phys.map(() => 4096);
      emit({ type: 'map_sg', ...common(NVME), dir: 2, nents: 4, ents: 4, truncated: false, dmaAddrs: phys, sizes, physAddrs: phys, attrs: 0 });
      emit({ type: 'sync_sg', target: 'cpu', ...common(NVME), dir: 2, dmaAddrs: phys, sizes });
      emit({ type: 'unmap_sg', ...common(NVME), dir: 2, physAddrs: phys, attrs: 0 });
    } else if (nicLive.length < 64 || r < 0.75) {
      const phys = 0x1_8000_0000 + Math.floor(rand() * 2048) * 0x800;
      emit({ type: 'bounced', ...common(NIC), dmaMask: 'ffffffff', devAddr: phys, size: 1500, force: 'NORMAL' });
      // The slot the kernel gave is what the capture shows; the replay does not need it to match.
      emit({ type: 'map', name: '', ...common(NIC), dir: 1, dmaAddr: 0x4000000 + (emitted % 30000) * 0x800, size: 1500, physAddr: phys, attrs: 0 });
      nicLive.push(0x4000000 + ((emitted - 1) % 30000) * 0x800);
    } else {
      const dma = nicLive.shift()!;
      emit({ type: 'unmap', name: '', ...common(NIC), dir: 1, dmaAddr: dma, size: 1500, attrs: 0 });
    }
  }
  if (batch.length > 0) write(batch.join('\n') + '\n');
  return emitted;
}
