/**
 * Run-directory files and checkpoints. Every write is atomic (temp file/dir + rename). A checkpoint is a
 * directory `checkpoint-<step>/` holding `model/` (TrainablePolicy.saveModel: Hugging Face format),
 * `state/` (TrainablePolicy.saveState: optimizer, schedule, RNG) and `trainer_state.json` (step, data
 * position, seeds); `latest` is a one-line pointer file naming the newest complete one. The previous
 * checkpoint is deleted only after the new one and the pointer are in place, so a kill -9 at any moment
 * leaves a loadable checkpoint.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { VrftError } from '../errors.js'
import type { TrainablePolicy } from './types.js'

let tmpCounter = 0
/** A unique temporary sibling path of `path`. */
function tmpPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${tmpCounter++}`)
}

/** Write a file atomically (temp + rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = tmpPath(path)
  writeFileSync(tmp, data)
  renameSync(tmp, path)
}

/** Write pretty JSON atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n')
}

/** What the loop needs to continue exactly where it stopped. */
export interface TrainerState {
  kind: 'grpo' | 'sft'
  /** Optimizer steps completed. */
  step: number
  /** Global data position (prompts consumed, including skipped ones). */
  position: number
  seed: number
  /** Seconds of training so far (for ETA and logs). */
  elapsedSeconds: number
  /** Free-form extras (e.g. built-in demo settings). */
  extra?: Record<string, unknown>
}

/** Name of the checkpoint directory of `step`. */
export function checkpointName(step: number): string {
  return `checkpoint-${step}`
}

/** Complete checkpoints in `runDir`, oldest first. */
export function listCheckpoints(runDir: string): Array<{ step: number; dir: string }> {
  if (!existsSync(runDir)) return []
  return readdirSync(runDir)
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(runDir, m[0], 'trainer_state.json')))
    .map((m) => ({ step: Number(m[1]), dir: join(runDir, m[0]) }))
    .sort((a, b) => a.step - b.step)
}

/**
 * The checkpoint to resume from: `true`/`'latest'` → the one `latest` names (else the highest step);
 * a path → that directory (or its `latest` when it is a run directory). undefined when there is none.
 */
export function findCheckpoint(runDir: string, which: boolean | string = true): string | undefined {
  if (which === false) return undefined
  if (typeof which === 'string' && which !== 'latest') {
    const p = resolve(which)
    if (existsSync(join(p, 'trainer_state.json'))) return p
    if (existsSync(join(p, 'latest'))) return findCheckpoint(p, true)
    throw new VrftError('ERR_CHECKPOINT', `Expected a checkpoint directory (with trainer_state.json) or a run directory for --resume but received ${which}`)
  }
  const ptr = join(runDir, 'latest')
  if (existsSync(ptr)) {
    const dir = join(runDir, readFileSync(ptr, 'utf8').trim())
    if (existsSync(join(dir, 'trainer_state.json'))) return dir
  }
  return listCheckpoints(runDir).at(-1)?.dir
}

/** Read a checkpoint's trainer_state.json. */
export function readTrainerState(dir: string): TrainerState {
  const file = join(dir, 'trainer_state.json')
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as TrainerState
    if (!Number.isInteger(s.step) || !Number.isInteger(s.position)) throw new Error('step/position missing')
    return s
  } catch (e) {
    throw new VrftError('ERR_CHECKPOINT', `Could not read trainer state ${file}: ${(e as Error).message}`, { file })
  }
}

/**
 * Save a checkpoint of `policy` and `state` under `runDir/checkpoint-<step>`, update `latest`, then prune
 * to the newest `keep` checkpoints. Returns the checkpoint directory.
 */
export async function saveCheckpoint(runDir: string, policy: TrainablePolicy, state: TrainerState, keep = 2): Promise<string> {
  const final = join(runDir, checkpointName(state.step))
  const tmp = tmpPath(final)
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  try {
    await policy.saveModel(join(tmp, 'model'))
    await policy.saveState(join(tmp, 'state'))
    writeJsonAtomic(join(tmp, 'trainer_state.json'), state)
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw e
  }
  if (existsSync(final)) {
    const old = tmpPath(final)
    renameSync(final, old)
    renameSync(tmp, final)
    rmSync(old, { recursive: true, force: true })
  } else {
    renameSync(tmp, final)
  }
  writeFileAtomic(join(runDir, 'latest'), checkpointName(state.step) + '\n')
  const all = listCheckpoints(runDir)
  for (const c of all.slice(0, Math.max(0, all.length - keep))) if (c.dir !== final) rmSync(c.dir, { recursive: true, force: true })
  // Leftovers of interrupted saves.
  for (const n of readdirSync(runDir)) {
    if (/^\.checkpoint-\d+\.tmp-/.test(n) && !n.includes(`.tmp-${process.pid}-`)) {
      try {
        if (statSync(join(runDir, n)).isDirectory()) rmSync(join(runDir, n), { recursive: true, force: true })
      } catch { /* raced with another cleaner */ }
    }
  }
  return final
}

/** Read every JSON line of a .jsonl file ([] when absent; a torn last line is ignored). */
export function readJsonl<T = Record<string, unknown>>(file: string): T[] {
  if (!existsSync(file)) return []
  const out: T[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as T)
    } catch { /* torn write after a kill -9 */ }
  }
  return out
}

/** Keep only the records of a .jsonl file for which `keep` is true (atomic rewrite); used on resume. */
export function truncateJsonl(file: string, keep: (rec: Record<string, unknown>) => boolean): void {
  if (!existsSync(file)) return
  const recs = readJsonl(file).filter(keep)
  writeFileAtomic(file, recs.map((r) => JSON.stringify(r) + '\n').join(''))
}
