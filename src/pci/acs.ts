// PCIe Access Control Services: the capability and control bits as include/uapi/linux/pci_regs.h numbers them
// and lspci names them, and the masks the kernel tests them against.

/** One ACS bit, by the name lspci prints (ACSCap:/ACSCtl: lines). */
export type AcsFlagName = 'SrcValid' | 'TransBlk' | 'ReqRedir' | 'CmpltRedir' | 'UpstreamFwd' | 'EgressCtrl' | 'DirectTrans';

/** The ACS bits in register order: bit 0 SrcValid (PCI_ACS_SV) .. bit 6 DirectTrans (PCI_ACS_DT). */
export const ACS_FLAG_NAMES: readonly AcsFlagName[] = ['SrcValid', 'TransBlk', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd', 'EgressCtrl', 'DirectTrans'];

/** ACS Source Validation (lspci's SrcValid), as include/uapi/linux/pci_regs.h defines PCI_ACS_SV. */
export const PCI_ACS_SV = 0x01;
/** ACS Translation Blocking (lspci's TransBlk), as include/uapi/linux/pci_regs.h defines PCI_ACS_TB. */
export const PCI_ACS_TB = 0x02;
/** ACS P2P Request Redirect (lspci's ReqRedir), as include/uapi/linux/pci_regs.h defines PCI_ACS_RR. */
export const PCI_ACS_RR = 0x04;
/** ACS P2P Completion Redirect (lspci's CmpltRedir), as include/uapi/linux/pci_regs.h defines PCI_ACS_CR. */
export const PCI_ACS_CR = 0x08;
/** ACS Upstream Forwarding (lspci's UpstreamFwd), as include/uapi/linux/pci_regs.h defines PCI_ACS_UF. */
export const PCI_ACS_UF = 0x10;
/** ACS P2P Egress Control (lspci's EgressCtrl), as include/uapi/linux/pci_regs.h defines PCI_ACS_EC. */
export const PCI_ACS_EC = 0x20;
/** ACS Direct Translated P2P (lspci's DirectTrans), as include/uapi/linux/pci_regs.h defines PCI_ACS_DT. */
export const PCI_ACS_DT = 0x40;
/** Every bit the ACS control register defines (the only ones pci=config_acs= may name). */
export const PCI_ACS_ALL = 0x7f;

/** The bits pci_bridge_has_acs_redir() counts as redirecting P2P upstream (RR, CR, EC). */
export const ACS_REDIRECT_MASK = PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC;

/** The bits pci_device_group() requires for isolation: REQ_ACS_FLAGS in drivers/iommu/iommu.c (SV, RR, CR, UF). */
export const REQ_ACS_FLAGS = PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF;

/** A function's ACS capability structure: what it can do and what is switched on, as bitmasks. */
export interface AcsState {
  readonly capability: number;
  readonly control: number;
}

/** Bitmask of ACS flag names; undefined when a name is not one of ACS_FLAG_NAMES. Never throws. */
export function acsMaskOf(names: readonly unknown[]): number | undefined {
  let mask = 0;
  for (const name of names) {
    const bit = ACS_FLAG_NAMES.indexOf(name as AcsFlagName);
    if (bit < 0) return undefined;
    mask |= 1 << bit;
  }
  return mask;
}

/** The names of the bits set in `mask`, in register order. Never throws. */
export function acsNames(mask: number): AcsFlagName[] {
  return ACS_FLAG_NAMES.filter((_, bit) => (mask & (1 << bit)) !== 0);
}

/** Whether ACS control redirects P2P requests upstream (models pci_bridge_has_acs_redir()). Never throws. */
export function acsRedirects(acs: AcsState | undefined): boolean {
  return acs !== undefined && (acs.control & ACS_REDIRECT_MASK) !== 0;
}

/**
 * Whether the requested flags are enabled (models pci_acs_flags_enabled()): a flag the capability does not offer
 * counts as hard-wired on, except Egress Control. False without an ACS capability. Never throws.
 */
export function acsFlagsEnabled(acs: AcsState | undefined, flags: number): boolean {
  if (!acs) return false;
  const required = flags & (acs.capability | PCI_ACS_EC);
  return (acs.control & required) === required;
}
