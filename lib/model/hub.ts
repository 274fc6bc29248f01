/**
 * Model lookup by path or by Hugging Face hub id, offline: a directory is used as it is; an id like
 * `Qwen/Qwen2-VL-2B-Instruct` (optionally `@revision`) is resolved in the local Hugging Face cache
 * (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
 * `~/.cache/huggingface/hub`), layout `models--Org--Name/snapshots/<commit>/`, honouring
 * `refs/<revision>` (default `refs/main`). Nothing is downloaded; a missing model is ERR_MODEL_NOT_FOUND
 * and says every place it looked.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { VrftError } from '../errors.js'
import { HUB_ID, findSnapshot, isDir } from '../hub.js'

export { hubCacheDirs, isHubId } from '../hub.js'

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
    const snap = findSnapshot('model', spec, (dir) => existsSync(join(dir, 'config.json')), looked, env)
    if (snap) return { dir: snap.dir, hubId: snap.hubId, commit: snap.commit }
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
