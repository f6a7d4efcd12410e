// Configuration space from lspci's hex dumps (-x: 64 bytes, -xxx: 256, -xxxx: 4096): the few registers the model
// needs when the text does not show them (header type and multi-function bit, bus numbers, IDs, the PCI Express
// port type, ACS), read as the kernel reads them.
import type { AcsState } from './acs.js';
import type { PortType } from './topology.js';

/** What a hex dump says about a function. */
export interface ConfigFacts {
  vendor?: number;
  device?: number;
  multifunction?: boolean;
  headerType?: number;
  bus?: { primary: number; secondary: number; subordinate: number };
  portType?: PortType;
  slotImplemented?: boolean;
  acs?: AcsState;
}

const EXPRESS_TYPES: Readonly<Record<number, PortType>> = {
  0: 'endpoint',
  1: 'legacy-endpoint',
  4: 'root-port',
  5: 'upstream-port',
  6: 'downstream-port',
  7: 'pcie-to-pci-bridge',
  8: 'pci-to-pcie-bridge',
  9: 'rc-integrated-endpoint',
  10: 'rc-event-collector',
};

/** The PortType of a PCI Express capability's type field (PCI_EXP_FLAGS_TYPE >> 4), undefined for reserved values. */
export function expressType(code: number): PortType | undefined {
  return EXPRESS_TYPES[code];
}

/** Decodes `length` bytes of configuration space. Pure; never throws (a chain that loops or leaves the dump just ends). */
export function decodeConfig(bytes: Uint8Array, length: number): ConfigFacts {
  const byte = (at: number) => (at < length ? bytes[at]! : undefined);
  const word = (at: number) => (at + 1 < length ? bytes[at]! | (bytes[at + 1]! << 8) : undefined);
  const facts: ConfigFacts = {};
  if (length < 64) return facts;
  facts.vendor = word(0);
  facts.device = word(2);
  const header = byte(0x0e)!;
  facts.multifunction = (header & 0x80) !== 0;
  facts.headerType = header & 0x7f;
  if (facts.headerType === 1 || facts.headerType === 2) facts.bus = { primary: byte(0x18)!, secondary: byte(0x19)!, subordinate: byte(0x1a)! };
  const status = word(0x06)!;
  if (status & 0x10) {
    let at = byte(facts.headerType === 2 ? 0x14 : 0x34)! & ~3;
    const seen = new Set<number>();
    while (at >= 0x40 && at + 3 < length && !seen.has(at)) {
      seen.add(at);
      const capId = byte(at)!;
      if (capId === 0x10) {
        const flags = word(at + 2)!;
        facts.portType = expressType((flags >> 4) & 0xf);
        facts.slotImplemented = (flags & 0x100) !== 0;
      }
      at = byte(at + 1)! & ~3;
    }
  }
  let at = 0x100;
  const seen = new Set<number>();
  while (at >= 0x100 && at + 7 < length && !seen.has(at)) {
    seen.add(at);
    const lo = word(at)!;
    const hi = word(at + 2)!;
    if ((lo === 0 && hi === 0) || (lo === 0xffff && hi === 0xffff)) break;
    if (lo === 0x000d) facts.acs = { capability: word(at + 4)! & 0x7f, control: word(at + 6)! & 0x7f };
    at = (hi >> 4) & ~3;
  }
  return facts;
}
