import { execFile } from 'node:child_process';
import type { ComputeBackend } from '../models/runtime.js';
import type { TrainingBackendName, TrainingCompute } from '../../preload/contract.js';
import { describeError } from '../errors.js';
import { trainerBinary } from './trainer-binary.js';
import { TrainerEvent } from './trainer-process.js';

/**
 * What the trainer's llama.cpp fork (@qvac/fabric) ships per OS, preferred first. It has no CUDA
 * build anywhere: NVIDIA GPUs train through Vulkan (sampling, in node-llama-cpp, can use CUDA).
 */
export const TRAINER_BACKENDS: Readonly<Record<string, readonly TrainingBackendName[]>> = {
  'linux-x64': ['vulkan', 'rocm', 'cpu'],
  'linux-arm64': ['vulkan', 'cpu'],
  'win32-x64': ['vulkan', 'cpu'],
  'darwin-arm64': ['metal', 'cpu'],
  'darwin-x64': ['metal', 'cpu'],
};

const NAMES: Record<TrainingBackendName, string> = { vulkan: 'Vulkan', metal: 'Metal', rocm: 'ROCm', cpu: 'the CPU' };

export type TrainerDevice = Extract<TrainerEvent, { phase: 'devices' }>['devices'][number];

/** ggml's backend registry names (Vulkan, Metal/MTL, ROCm/HIP, CPU) as the app names them. */
export function trainingBackendOf(registry: string): TrainingBackendName | null {
  const name = registry.toLowerCase();
  if (name.startsWith('vulkan')) return 'vulkan';
  if (name.startsWith('metal') || name.startsWith('mtl')) return 'metal';
  if (name.startsWith('rocm') || name.startsWith('hip')) return 'rocm';
  if (name.startsWith('cpu')) return 'cpu';
  return null;
}

/** The devices the trainer's build can use on this machine (`ilf-trainer --list-devices`, about a second). */
export function trainerDevices(binary: string = trainerBinary(), timeoutMs = 30_000): Promise<TrainerDevice[]> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--list-devices'], { timeout: timeoutMs, encoding: 'utf8', windowsHide: true }, (error, stdout) => {
      let explained: string | undefined;
      for (const line of stdout.split('\n')) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue;
        }
        const event = TrainerEvent.safeParse(parsed);
        if (event.success && event.data.phase === 'devices') return resolve(event.data.devices);
        // e.g. Windows without vulkan-1.dll: the trainer names what it could not load.
        if (event.success && event.data.phase === 'error') explained = event.data.message;
      }
      reject(explained !== undefined ? new Error(explained) : error ?? new Error('the trainer printed no device list'));
    });
  });
}

/**
 * Where training will run, for the hardware screen and `ilf hardware`: the trainer puts every layer
 * on its first GPU device (Vulkan, Metal or ROCm) when there is one, else trains on the CPU. The
 * warnings say so before a run starts when that differs from sampling (CUDA samples, Vulkan trains).
 */
export async function trainingCompute(inference: ComputeBackend, devices?: () => Promise<TrainerDevice[]>): Promise<{ compute: TrainingCompute; warnings: string[] }> {
  const platform = `${process.platform}-${process.arch}`;
  const shipped = [...(TRAINER_BACKENDS[platform] ?? ['cpu'])];
  const offer = shipped.map((b) => NAMES[b]).join(', ');
  let found: TrainerDevice[];
  try {
    found = await (devices ?? (() => trainerDevices()))();
  } catch (e) {
    return {
      compute: { backend: null, devices: [], shipped, summary: `training: unknown — the trainer could not be asked (${describeError(e)}); on ${platform} it can use ${offer}` },
      warnings: [],
    };
  }
  const gpus = found.filter((d) => d.type !== 'cpu' && trainingBackendOf(d.backend) !== null && trainingBackendOf(d.backend) !== 'cpu');
  const backend: TrainingBackendName = gpus.length > 0 ? trainingBackendOf(gpus[0]?.backend ?? '') ?? 'cpu' : 'cpu';
  const used = backend === 'cpu' ? found.filter((d) => d.type === 'cpu') : gpus.filter((d) => trainingBackendOf(d.backend) === backend);
  const names = used.map((d) => `${d.name}: ${d.description}`);
  const warnings: string[] = [];
  if (backend === 'cpu' && shipped.some((b) => b !== 'cpu')) {
    warnings.push(`training will run on the CPU: the trainer found no ${shipped.filter((b) => b !== 'cpu').map((b) => NAMES[b]).join(' or ')} device ` +
      `(${platform === 'win32-x64' || platform.startsWith('linux') ? 'install the GPU driver with its Vulkan runtime' : 'no usable Apple GPU'}); it will be much slower`);
  } else if (inference !== 'cpu' && inference !== 'auto' && inference !== backend) {
    warnings.push(`sampling runs on ${inference === 'cuda' ? 'CUDA' : inference}, but training runs on ${NAMES[backend]} ` +
      `(the trainer's llama.cpp fork ${inference === 'cuda' ? 'has no CUDA build' : `has no ${inference} build`}), on the same GPU`);
  }
  return {
    compute: { backend, devices: names, shipped, summary: `training: ${NAMES[backend]}${names.length > 0 ? ` (${names.join(', ')})` : ''}; on ${platform} the trainer can use ${offer}` },
    warnings,
  };
}
