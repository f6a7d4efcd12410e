// The machine `npm start` and DmaSystem.create() use when given no topology: one host bridge
// (whitelisted Skylake-E) with a switch holding a GPU (64 MiB p2pmem BAR) and an NVMe drive,
// a NIC on a second root port, and a second, non-whitelisted host bridge with another NVMe
// drive. From the GPU: NVMe 04:00.0 is BUS_ADDR, the NIC THRU_HOST_BRIDGE, NVMe 81:00.0
// NOT_SUPPORTED: the seed thread's case.
import type { TopologySpec } from '../pci/index.js';

export const DEFAULT_TOPOLOGY: TopologySpec = {
  cpu: { vendor: 'GenuineIntel', family: 6 },
  hostBridges: [
    {
      segment: 0,
      bus: 0,
      devices: [
        { bdf: '0000:00:00.0', vendor: '8086', device: '2020', name: 'Sky Lake-E DMI3 Registers' },
        {
          bdf: '0000:00:01.0', kind: 'root-port', children: [
            {
              bdf: '0000:01:00.0', kind: 'upstream-port', children: [
                {
                  bdf: '0000:02:00.0', kind: 'downstream-port', children: [
                    { bdf: '0000:03:00.0', vendor: '10de', device: '20b0', name: 'GA100 [A100 PCIe 40GB]',
                      bars: [{ index: 0, size: '16MiB' }, { index: 1, size: '64MiB', p2pmem: true }] },
                  ],
                },
                {
                  bdf: '0000:02:01.0', kind: 'downstream-port', children: [
                    { bdf: '0000:04:00.0', vendor: '144d', device: 'a808', name: 'NVMe SSD Controller SM981/PM981/PM983',
                      bars: [{ index: 0, size: '16KiB' }] },
                  ],
                },
              ],
            },
          ],
        },
        {
          bdf: '0000:00:02.0', kind: 'root-port', children: [
            { bdf: '0000:05:00.0', vendor: '15b3', device: '1017', name: 'MT27800 Family [ConnectX-5]', bars: [{ index: 0, size: '32MiB' }] },
          ],
        },
      ],
    },
    {
      segment: 0,
      bus: 0x80,
      devices: [
        { bdf: '0000:80:00.0', vendor: '8086', device: '6f00', name: 'Xeon E7 v4/Xeon E5 v4 DMI2' },
        {
          bdf: '0000:80:01.0', kind: 'root-port', children: [
            { bdf: '0000:81:00.0', vendor: '144d', device: 'a808', name: 'NVMe SSD Controller SM981/PM981/PM983', bars: [{ index: 0, size: '16KiB' }] },
          ],
        },
      ],
    },
  ],
};
