/** The machine a figure was measured on: without it a benchmark number means little. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';

/** The CPU features that decide which ONNX Runtime kernels run (INT8 dot products above all). */
const INTERESTING_FLAGS = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8', 'amx_bf16'];

export interface MachineInfo {
  cpu: string;
  cores: number;
  flags: string[];
  memory_gb: number;
  kernel: string;
  node: string;
  onnxruntime: string;
  /** 1, 5 and 15 minute load averages (the machine may be shared). */
  load: number[];
}

function cpuFlags(): string[] {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    const have = new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
    return INTERESTING_FLAGS.filter((f) => have.has(f));
  } catch {
    return [];
  }
}

export function loadAverage(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  const versions = (ort.env as { versions?: Record<string, string> }).versions ?? {};
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    flags: cpuFlags(),
    memory_gb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    onnxruntime: versions.node ?? versions.common ?? 'unknown',
    load: loadAverage(),
  };
}

export function machineMarkdown(m: MachineInfo): string {
  return [
    `- CPU: ${m.cpu}, ${m.cores} cores; flags: ${m.flags.join(' ') || 'none of interest'}`,
    `- memory ${m.memory_gb} GB, Linux ${m.kernel}, Node ${m.node}, onnxruntime-node ${m.onnxruntime}`,
    `- load average at start (1/5/15 min): ${m.load.join(' / ')}`,
  ].join('\n');
}
