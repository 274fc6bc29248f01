/**
 * Model lookup by path or by Hugging Face hub id, offline: a directory is used as it is; an id like
 * `Qwen/Qwen2-VL-2B-Instruct` (optionally `@revision`) is resolved in the local Hugging Face cache
 * (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
 * `~/.cache/huggingface/hub`), layout `models--Org--Name/snapshots/<commit>/`, honouring
 * `refs/<revision>` (default `refs/main`). Nothing is downloaded; a missing model is ERR_MODEL_NOT_FOUND
 * and says every place it looked.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { VrftError } from '../errors.js'

/** Hugging Face hub cache directories to search, in order (deduplicated). */
export function hubCacheDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = []
  if (env.HF_HUB_CACHE) dirs.push(env.HF_HUB_CACHE)
  if (env.HUGGINGFACE_HUB_CACHE) dirs.push(env.HUGGINGFACE_HUB_CACHE)
  if (env.HF_HOME) dirs.push(join(env.HF_HOME, 'hub'))
  if (env.XDG_CACHE_HOME) dirs.push(join(env.XDG_CACHE_HOME, 'huggingface', 'hub'))
  dirs.push(join(env.HOME || homedir(), '.cache', 'huggingface', 'hub'))
  return [...new Set(dirs.map((d) => resolve(d)))]
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(@[\w./-]+)?$/

/** True when `s` looks like `org/name[@revision]` (and is not a relative path that exists). */
export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.startsWith('.') && !existsSync(s)
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** Result of {@link resolveModel}. */
export interface ResolvedModel {
  /** Directory with config.json and weights. */
  dir: string
  /** The hub id when resolved from the cache. */
  hubId?: string
  /** Snapshot commit when resolved from the cache. */
  commit?: string
}

/**
 * Resolve `--model`: an existing directory, or a hub id found in the local cache.
 * Throws ERR_MODEL_NOT_FOUND with every path it tried.
 */
export function resolveModel(spec: string, env: NodeJS.ProcessEnv = process.env): ResolvedModel {
  if (isDir(spec)) {
    const dir = resolve(spec)
    if (!existsSync(join(dir, 'config.json'))) {
      throw new VrftError('ERR_MODEL_NOT_FOUND', `Expected a model directory with config.json for --model but ${dir} has none`, { looked: [dir] })
    }
    return { dir }
  }
  const looked: string[] = []
  if (HUB_ID.test(spec) && !spec.startsWith('.')) {
    const [id, revision = 'main'] = spec.split('@') as [string, string?]
    const folder = `models--${id.replace('/', '--')}`
    for (const cache of hubCacheDirs(env)) {
      const repo = join(cache, folder)
      looked.push(repo)
      if (!isDir(repo)) continue
      const snaps = join(repo, 'snapshots')
      let commit: string | undefined
      const ref = join(repo, 'refs', revision)
      if (existsSync(ref)) commit = readFileSync(ref, 'utf8').trim()
      else if (/^[0-9a-f]{40}$/.test(revision) && isDir(join(snaps, revision))) commit = revision
      else if (revision === 'main' && isDir(snaps)) {
        // No refs/main (e.g. copied caches): take the newest snapshot that has a config.json.
        const cands = readdirSync(snaps)
          .map((c) => join(snaps, c))
          .filter((p) => existsSync(join(p, 'config.json')))
          .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
        if (cands[0]) commit = cands[0].slice(snaps.length + 1)
      }
      if (!commit) continue
      const dir = join(snaps, commit)
      looked.push(dir)
      if (existsSync(join(dir, 'config.json'))) return { dir, hubId: id, commit }
    }
  } else {
    looked.push(resolve(spec))
  }
  throw new VrftError(
    'ERR_MODEL_NOT_FOUND',
    `Model ${JSON.stringify(spec)} not found (nothing is downloaded). Looked in: ${looked.join(', ')}. ` +
      'Pass a model directory, or download it first (e.g. `huggingface-cli download ' + (HUB_ID.test(spec) ? spec.split('@')[0] : 'Org/Name') + '`).',
    { looked },
  )
}
