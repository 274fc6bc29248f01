/**
 * Image folder per class → classification samples: `root/<class>/<image>` (jpg, jpeg, png, webp, bmp,
 * gif). The label is the folder name (or `label(folder)`), the prompt the classification template of
 * the data set, the solution `<answer>{label}</answer>`. `shots` images per class are drawn with a
 * seeded shuffle (all images, in name order, when `shots` is omitted: an evaluation set). Files with
 * other extensions are not samples and are counted in `ignored`. Errors: ERR_DATA_FOLDER (missing
 * root, empty class, too few images — skip-and-count allowed for the last two).
 */
import { promises as fsp } from 'node:fs'
import { extname, join, resolve } from 'node:path'
import { VrftError, expectArg } from '../errors.js'
import { classificationPrompt, classificationSolution, type ClassificationSubject } from '../prompts/index.js'
import { shuffled } from './random.js'
import { ErrorPolicy } from './records.js'
import type { OnDataError, Sample, SkippedRecord } from './types.js'

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif'])

/** Options of `buildClassificationSet`. */
export interface FolderOptions {
  root: string
  /** Data set (prompt noun/attribute): built-in name or {noun, attribute}. */
  subject: ClassificationSubject | { noun: string; attribute: string }
  /** Images per class (k-shot); omit for all. */
  shots?: number
  seed?: number
  /** Folder name → label (default: unchanged). */
  label?: (folder: string) => string
  onError?: OnDataError
}

/** Build a classification set from class folders. */
export async function buildClassificationSet(opts: FolderOptions): Promise<{ samples: Sample[]; classes: string[]; skipped: SkippedRecord[]; ignored: number }> {
  if (opts.shots !== undefined) expectArg(Number.isInteger(opts.shots) && opts.shots >= 1, 'a positive integer', 'shots', opts.shots)
  const root = resolve(opts.root)
  let entries: import('node:fs').Dirent[]
  try {
    entries = await fsp.readdir(root, { withFileTypes: true })
  } catch (e) {
    throw new VrftError('ERR_DATA_FOLDER', `Could not list class folders in ${root}: ${(e as Error).message}`, { root })
  }
  const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  if (folders.length === 0) throw new VrftError('ERR_DATA_FOLDER', `Expected one sub-folder per class in ${root} but found none`, { root })
  const policy = new ErrorPolicy(opts.onError)
  const classes = folders.map((f) => (opts.label ? opts.label(f) : f))
  const prompt = classificationPrompt(opts.subject)
  const samples: Sample[] = []
  let ignored = 0
  for (const [ci, folder] of folders.entries()) {
    const dir = join(root, folder)
    const files = (await fsp.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort()
    const images = files.filter((f) => IMAGE_EXT.has(extname(f).toLowerCase()))
    ignored += files.length - images.length
    const want = opts.shots ?? images.length
    if (images.length === 0 || images.length < want) {
      policy.fail(new VrftError('ERR_DATA_FOLDER', `${dir}: expected ${opts.shots ?? 'at least 1'} image(s) for class '${classes[ci]}' but found ${images.length}`, { dir }), dir, `class ${folder}`)
      if (images.length === 0) continue
    }
    const chosen = opts.shots === undefined ? images : shuffled(images, ((opts.seed ?? 0) * 1000003 + ci * 7919) >>> 0).slice(0, want)
    for (const f of chosen) {
      samples.push({
        id: `${folder}/${f}`,
        image: { path: join(dir, f) },
        problem: prompt,
        solution: classificationSolution(classes[ci]!),
        task: 'classification',
        label: classes[ci]!,
        classes,
      })
    }
  }
  return { samples, classes, skipped: policy.skipped, ignored }
}
