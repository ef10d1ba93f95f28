/** The machine a figure was measured on: without it a benchmark number means little. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { ROOT } from './paths.js';

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
  /** The code measured: HEAD, and the files changed in the working tree (uncommitted). */
  git: { commit: string; uncommitted: string[] } | null;
}

function gitState(): MachineInfo['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return { commit, uncommitted: status.split('\n').filter((l) => l.trim() !== '').map((l) => l.slice(3)) };
  } catch {
    return null;
  }
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
    git: gitState(),
  };
}

export function machineMarkdown(m: MachineInfo): string {
  return [
    `- CPU: ${m.cpu}, ${m.cores} cores; flags: ${m.flags.join(' ') || 'none of interest'}`,
    `- memory ${m.memory_gb} GB, Linux ${m.kernel}, Node ${m.node}, onnxruntime-node ${m.onnxruntime}`,
    `- load average at start (1/5/15 min): ${m.load.join(' / ')}`,
    m.git
      ? `- code: commit ${m.git.commit.slice(0, 12)}${m.git.uncommitted.length ? ` with uncommitted changes in ${m.git.uncommitted.join(', ')}` : ' (clean working tree)'}`
      : '- code: not a git checkout',
  ].join('\n');
}
