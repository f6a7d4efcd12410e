// The IOMMU gives one DMA domain per IOMMU group (iommu_group_alloc_default_domain()), and the groups are the
// pci model's (pci_device_group()): functions that share a group share a domain, isolated ones do not.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DmaSystem, iommuGroupOf, loadTopologyJson } from '../dist/src/index.js';

const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close())));

function domainsAgreeWithGroups(file: string, edit?: (spec: any) => void): { shared: number; separate: number } {
  const spec = JSON.parse(readFileSync(new URL(`../examples/${file}`, import.meta.url), 'utf8'));
  edit?.(spec);
  const system = DmaSystem.create({ topology: loadTopologyJson(JSON.stringify(spec)), iommu: { mode: 'strict' }, engine: { workers: 1 } });
  systems.push(system);
  const endpoints = system.topology.endpoints();
  const devices = endpoints.map((pci) => system.device(pci.bdf));
  let shared = 0;
  let separate = 0;
  for (let i = 0; i < endpoints.length; i++) {
    for (let j = i + 1; j < endpoints.length; j++) {
      const sameGroup = iommuGroupOf(endpoints[i]!) === iommuGroupOf(endpoints[j]!);
      expect(devices[i]!.iommuDomain === devices[j]!.iommuDomain, `${endpoints[i]!.bdf} / ${endpoints[j]!.bdf}`).toBe(sameGroup);
      if (sameGroup) shared++;
      else separate++;
    }
  }
  return { shared, separate };
}

describe('IOMMU domains follow the IOMMU groups', () => {
  it('a switch without ACS puts its endpoints in one group, hence one domain', () => {
    const { shared, separate } = domainsAgreeWithGroups('switch-gpu-nvme.json');
    expect(shared).toBeGreaterThan(0);
    expect(separate).toBeGreaterThan(0);
  });

  it('ACS on the root port and the downstream ports isolates them: a domain each', () => {
    const acs = { capability: ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'], control: ['SrcValid', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd'] };
    const { shared } = domainsAgreeWithGroups('switch-gpu-nvme.json', (spec) => {
      const stack = [...spec.hostBridges.flatMap((hb: any) => hb.devices)];
      while (stack.length > 0) {
        const d = stack.pop();
        if (d.kind === 'root-port' || d.kind === 'downstream-port') {
          delete d.acsRedirect;
          d.acs = acs;
        }
        stack.push(...(d.children ?? []));
      }
    });
    // Only the two functions of one multifunction device without ACS still share (05:00.0 and 05:00.1).
    expect(shared).toBe(1);
  });

  it('a function below an external-facing port is untrusted without the device option, and its group gets a strict domain under lazy', () => {
    const text = readFileSync(new URL('../examples/thunderbolt-untrusted.json', import.meta.url), 'utf8');
    const system = DmaSystem.create({ topology: loadTopologyJson(text), iommu: { mode: 'lazy' }, engine: { workers: 1 } });
    systems.push(system);
    const below = system.device('0000:03:00.0');
    const inside = system.device('0000:00:0e.0');
    expect([below.untrusted, inside.untrusted]).toEqual([true, false]);
    expect([below.iommuDomain?.type, inside.iommuDomain?.type]).toEqual(['strict', 'lazy']);
  });
});
