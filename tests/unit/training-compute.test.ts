import { describe, expect, it } from 'vitest';
import { trainingBackendOf, trainingCompute, trainerDevices, type TrainerDevice } from '../../main/training/compute.js';

const cpu: TrainerDevice = { name: 'CPU', description: 'AMD Ryzen 9 7950X', backend: 'CPU', type: 'cpu', memory_total: 64e9, memory_free: 60e9 };
const nvidia: TrainerDevice = { name: 'Vulkan0', description: 'NVIDIA GeForce RTX 4090', backend: 'Vulkan', type: 'gpu', memory_total: 24e9, memory_free: 23e9 };
// A device list stands in for a GPU this machine does not have; the list itself is what `ilf-trainer --list-devices` prints.
const listed = (...devices: TrainerDevice[]) => (): Promise<TrainerDevice[]> => Promise.resolve(devices);

describe('where training runs, said before it starts', () => {
  it('an NVIDIA machine: sampling on CUDA, training on Vulkan on the same GPU, with a warning saying so', async () => {
    const { compute, warnings } = await trainingCompute('cuda', listed(nvidia, cpu));
    expect(compute).toMatchObject({ backend: 'vulkan', devices: ['Vulkan0: NVIDIA GeForce RTX 4090'] });
    expect(compute.summary).toMatch(/^training: Vulkan \(Vulkan0: NVIDIA GeForce RTX 4090\); on \S+ the trainer can use /);
    expect(warnings).toEqual(['sampling runs on CUDA, but training runs on Vulkan (the trainer\'s llama.cpp fork has no CUDA build), on the same GPU']);
  });

  it('the same backend for both: no warning; Metal and ROCm registry names are recognised', async () => {
    expect((await trainingCompute('vulkan', listed(nvidia, cpu))).warnings).toEqual([]);
    expect(trainingBackendOf('MTL')).toBe('metal');
    expect(trainingBackendOf('ROCm')).toBe('rocm');
    expect(trainingBackendOf('BLAS')).toBeNull();
  });

  it('no GPU device: training on the CPU, with a warning naming what it looked for', async () => {
    const { compute, warnings } = await trainingCompute('cpu', listed(cpu));
    expect(compute).toMatchObject({ backend: 'cpu', devices: ['CPU: AMD Ryzen 9 7950X'] });
    if (process.platform === 'linux') expect(warnings.join(' ')).toMatch(/training will run on the CPU: the trainer found no Vulkan or ROCm device/);
  });

  it('a trainer that cannot be asked: backend unknown, the reason in the summary, nothing invented', async () => {
    const { compute } = await trainingCompute('cuda', () => trainerDevices('/nonexistent/ilf-trainer'));
    expect(compute.backend).toBeNull();
    expect(compute.devices).toEqual([]);
    expect(compute.summary).toMatch(/^training: unknown — the trainer could not be asked \(.*ENOENT/);
  });
});
