/**
 * The local Hugging Face hub cache, offline: where it is (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
 * `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`) and which snapshot of a repository
 * an id like `Org/Name[@revision]` names (layout `<kind>s--Org--Name/snapshots/<commit>/`, honouring
 * `refs/<revision>`, default `refs/main`). Models (lib/train/hub.ts) and data sets (lib/data/sources.ts)
 * both resolve through `findSnapshot`; nothing is downloaded, and the caller turns `looked` into its
 * not-found error.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

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

/** `Org/Name` with an optional `@revision`. */
export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(@[\w./-]+)?$/

/** True when `s` looks like `org/name[@revision]` (and is not a relative path that exists). */
export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.startsWith('.') && !existsSync(s)
}

/** True when `p` is a directory. */
export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** A snapshot found in the cache. */
export interface HubSnapshot {
  /** The snapshot directory. */
  dir: string
  /** The repository folder (`<kind>s--Org--Name`); snapshot files are symlinks into its `blobs/`. */
  repo: string
  /** `Org/Name` without the revision. */
  hubId: string
  commit: string
}

/**
 * The snapshot of hub id `spec` (`Org/Name[@revision]`) of a `model` or `dataset` repository in the local
 * cache, accepted by `accept` (e.g. "has config.json"), or undefined. Every folder tried is appended to
 * `looked`. Without `refs/main` (a copied cache) the newest accepted snapshot is taken.
 */
export function findSnapshot(kind: 'model' | 'dataset', spec: string, accept: (dir: string) => boolean, looked: string[], env: NodeJS.ProcessEnv = process.env): HubSnapshot | undefined {
  if (!HUB_ID.test(spec) || spec.startsWith('.')) return undefined
  const [id, revision = 'main'] = spec.split('@') as [string, string?]
  const folder = `${kind}s--${id.replace('/', '--')}`
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
      const cands = readdirSync(snaps)
        .map((c) => join(snaps, c))
        .filter(accept)
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
      if (cands[0]) commit = cands[0].slice(snaps.length + 1)
    }
    if (!commit) continue
    const dir = join(snaps, commit)
    looked.push(dir)
    if (accept(dir)) return { dir, repo, hubId: id, commit }
  }
  return undefined
}
