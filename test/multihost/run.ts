// Shared pieces of the multi-host tests: the torchrun command line (the one the README shows), the
// `vrft-native train` arguments of a tiny run, a small data set, and a parameter comparison of two
// checkpoints read straight from their safetensors files.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeSyntheticSet } from '../../lib/data/synthetic.js'

export const cli = join(import.meta.dirname, '..', '..', 'lib', 'cli', 'main.ts')
/** The real torchrun (Debian's python3-torch; 1.13 spells its flags with underscores, 2.x accepts both). */
export const TORCHRUN = process.env.VRFT_TORCHRUN ?? 'torchrun'

/**
 * `torchrun` arguments for one node of `nnodes`, launching `cmd` (no Python) with `args`. `--redirects 1
 * --tee 1` (workers' stdout to a log file and to the console, lines prefixed `[default<rank>]:`; stderr
 * as is) because torchrun 1.13 on Python 3.11 fails on its own default `--redirects 0` (and on 3: its
 * Std.from_str finds only single-bit flags there).
 */
export function torchrunArgs(o: { nnodes: number; nprocPerNode: number; endpoint: string; runId: string; maxRestarts?: number; rdzvConf?: string }, cmd: string, args: string[]): string[] {
  return ['--nnodes', String(o.nnodes), '--nproc_per_node', String(o.nprocPerNode), '--rdzv_backend', 'c10d', '--rdzv_endpoint', o.endpoint,
    '--rdzv_id', o.runId, '--max_restarts', String(o.maxRestarts ?? 0), '--monitor_interval', '1', ...(o.rdzvConf ? ['--rdzv_conf', o.rdzvConf] : []),
    '--redirects', '1', '--tee', '1', '--no_python', cmd, ...args]
}

/** `node [loader] lib/cli/main.ts train …`: the CLI as the test runner runs TypeScript. */
export function trainArgv(model: string, data: string, output: string, extra: string[]): string[] {
  return [...process.execArgv, cli, 'train', '--model', model, '--data', data, '--output', output,
    '--prompts-per-step', '2', '--num-generations', '2', '--max-completion-length', '4', '--micro-batch-size', '4', '--quiet', ...extra]
}

/** 8 synthetic classification samples as data.jsonl + PNGs under `dir`; returns the .jsonl path. */
export async function writeData(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true })
  const samples = await makeSyntheticSet({ task: 'classification', count: 8, seed: 1 })
  writeFileSync(join(dir, 'data.jsonl'), samples.map((s, i) => {
    writeFileSync(join(dir, `${i}.png`), (s.image as { bytes: Uint8Array }).bytes)
    return JSON.stringify({ image: `${i}.png`, problem: s.problem, solution: s.solution, task: s.task })
  }).join('\n') + '\n')
  return join(dir, 'data.jsonl')
}

/** Every tensor of the safetensors files in `dir` as float32 (F32 only; others compared as bytes). */
function tensors(dir: string): Map<string, Float32Array | Uint8Array> {
  const out = new Map<string, Float32Array | Uint8Array>()
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.safetensors'))) {
    const buf = readFileSync(join(dir, f))
    const n = Number(buf.readBigUInt64LE(0))
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') continue
      const bytes = buf.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1])
      out.set(name, v.dtype === 'F32' ? new Float32Array(Uint8Array.from(bytes).buffer) : Uint8Array.from(bytes))
    }
  }
  return out
}

/** Largest relative difference between the tensors of two model folders, and how many tensors. */
export function compareModels(a: string, b: string): { worst: number; count: number; missing: string[] } {
  const x = tensors(a), y = tensors(b)
  let worst = 0
  const missing: string[] = []
  for (const [name, u] of x) {
    const v = y.get(name)
    if (!v || v.length !== u.length) { missing.push(name); continue }
    for (let i = 0; i < u.length; i++) worst = Math.max(worst, Math.abs(u[i]! - v[i]!) / Math.max(1e-3, Math.abs(u[i]!)))
  }
  return { worst, count: x.size, missing }
}
