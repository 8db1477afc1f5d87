import os from 'node:os';
import { getLlamaGpuTypes } from 'node-llama-cpp';
import type { ComputeBackend, LlamaRuntime } from './runtime.js';

export interface HardwareReport {
  /** `${process.platform}-${process.arch}`. */
  platform: string;
  /** What llama.cpp actually runs on. */
  backend: ComputeBackend;
  /** What was asked for. */
  requested: ComputeBackend;
  /** GPU backends whose binaries exist for this platform (not a promise that a device is there). */
  available: ComputeBackend[];
  devices: string[];
  vram: { totalBytes: number; freeBytes: number } | null;
  cpu: { model: string; logicalCores: number; physicalCores: number };
  threads: number;
  ramBytes: { total: number; free: number };
  warnings: string[];
}

/** What the machine offers for inference (sampling), with a plain warning when it all lands on the CPU. Training: see training/compute.ts. */
export async function detectHardware(runtime: LlamaRuntime): Promise<HardwareReport> {
  const llama = await runtime.get();
  const backend: ComputeBackend = llama.gpu === false ? 'cpu' : llama.gpu;
  const available: ComputeBackend[] = [...(await getLlamaGpuTypes('supported')).map((g): ComputeBackend => (g === false ? 'cpu' : g))];
  if (!available.includes('cpu')) available.push('cpu');
  const devices = backend === 'cpu' ? [] : await llama.getGpuDeviceNames();
  const vram = backend === 'cpu' ? null : await llama.getVramState().then((v) => ({ totalBytes: v.total, freeBytes: v.free }));
  const warnings: string[] = [];
  if (backend === 'cpu') {
    warnings.push(runtime.backend === 'cpu'
      ? 'running on the CPU as chosen: sampling and training will be much slower than on a GPU'
      : 'no usable GPU was found (CUDA, Vulkan or Metal): falling back to the CPU, which is much slower; check the GPU driver');
  }
  const cpus = os.cpus();
  return {
    platform: `${process.platform}-${process.arch}`,
    backend,
    requested: runtime.backend,
    available,
    devices,
    vram,
    cpu: { model: cpus[0]?.model.trim() ?? 'unknown', logicalCores: os.availableParallelism(), physicalCores: llama.cpuMathCores },
    threads: runtime.threads,
    ramBytes: { total: os.totalmem(), free: os.freemem() },
    warnings,
  };
}
