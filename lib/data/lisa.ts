/**
 * LISA-style reasoning-grounding data → grounding samples. A LISA folder holds `name.jpg` next to
 * `name.json` (LabelMe style): `text` (one or more questions), `shapes` [{label: 'target' | 'ignore',
 * points: [[x, y], …]}], and `imageWidth`/`imageHeight` (else pass `imageSize`). The ground-truth box
 * is the bounding box of all `target` points, converted to 0–1000 (Qwen2-VL) or resized pixels
 * (Qwen2.5-VL, `resize` callback); one sample per question with the grounding prompt and the solution
 * `<answer>(x1,y1),(x2,y2)</answer>`. Files are listed on open; each JSON is read when its samples
 * are built. Errors: ERR_DATA_LISA naming the file (skip-and-count allowed), ERR_DATA_IMAGE.
 */
import { promises as fsp } from 'node:fs'
import { join, resolve } from 'node:path'
import { VrftError, describeValue } from '../errors.js'
import { groundingPrompt, groundingSolution, type ModelFamily } from '../prompts/index.js'
import { imageToModel, type CoordSpace } from '../rewards/boxes.js'
import type { ResizeFn } from './coco.js'
import { ErrorPolicy, checkImage } from './records.js'
import type { OnDataError, Sample, SkippedRecord } from './types.js'

/** Options of `readLisa`. */
export interface LisaOptions {
  dir: string
  family?: ModelFamily
  resize?: ResizeFn
  /** Image size when the JSON has no imageWidth/imageHeight. */
  imageSize?: (imagePath: string) => Promise<{ width: number; height: number }>
  /** Image extensions tried next to each JSON (default .jpg, .jpeg, .png). */
  imageExtensions?: string[]
  onError?: OnDataError
}

/** Read a LISA folder (async iterator: one JSON at a time). */
export async function* readLisa(opts: LisaOptions, skipped: SkippedRecord[] = []): AsyncGenerator<Sample> {
  const dir = resolve(opts.dir)
  let names: string[]
  try {
    names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.json')).sort()
  } catch (e) {
    throw new VrftError('ERR_DATA_LISA', `Could not list ${dir}: ${(e as Error).message}`, { dir })
  }
  const policy = new ErrorPolicy(opts.onError)
  const family = opts.family ?? 'qwen2-vl'
  for (const name of names) {
    const file = join(dir, name)
    const before = policy.skipped.length
    let out: Sample[] = []
    try {
      out = await lisaSamples(file, opts, family)
    } catch (e) {
      if (!(e instanceof VrftError)) throw e
      policy.fail(e, file, '1')
    }
    skipped.push(...policy.skipped.slice(before))
    yield* out
  }
}

async function lisaSamples(file: string, opts: LisaOptions, family: ModelFamily): Promise<Sample[]> {
  const bad = (what: string, got: unknown): VrftError => new VrftError('ERR_DATA_LISA', `${file}: expected ${what} but received ${describeValue(got)}`, { file })
  let j: Record<string, unknown>
  try {
    j = JSON.parse(await fsp.readFile(file, 'utf8'))
  } catch (e) {
    throw new VrftError('ERR_DATA_LISA', `${file}: not readable JSON (${(e as Error).message})`, { file })
  }
  const texts = typeof j.text === 'string' ? [j.text] : j.text
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) throw bad('"text": a question or a list of questions', j.text)
  if (!Array.isArray(j.shapes)) throw bad('"shapes": a list', j.shapes)
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity
  for (const s of j.shapes as Array<{ label?: unknown; points?: unknown }>) {
    if (s?.label !== 'target') continue
    if (!Array.isArray(s.points)) throw bad('points on a target shape', s.points)
    for (const p of s.points as unknown[]) {
      if (!Array.isArray(p) || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) throw bad('[x, y] points', p)
      x1 = Math.min(x1, p[0]); y1 = Math.min(y1, p[1]); x2 = Math.max(x2, p[0]); y2 = Math.max(y2, p[1])
    }
  }
  if (!(x2 > x1 && y2 > y1)) throw bad('at least one target shape with a non-empty box', j.shapes.length)
  const stem = file.slice(0, -'.json'.length)
  let image: string | undefined
  for (const ext of opts.imageExtensions ?? ['.jpg', '.jpeg', '.png']) {
    if (await fsp.access(stem + ext).then(() => true, () => false)) { image = stem + ext; break }
  }
  if (!image) throw new VrftError('ERR_DATA_IMAGE', `${file}: no image ${stem}.jpg/.jpeg/.png next to it`, { file })
  await checkImage(image, file, '1')
  let W = j.imageWidth as number | undefined
  let H = j.imageHeight as number | undefined
  if (!(Number.isFinite(W) && Number.isFinite(H))) {
    if (!opts.imageSize) throw bad('imageWidth/imageHeight (or an imageSize callback)', W)
    ;({ width: W, height: H } = await opts.imageSize(image))
  }
  let space: CoordSpace = { kind: 'grid1000' }
  const meta: Sample['meta'] = { width: W!, height: H! }
  if (family === 'qwen2.5-vl') {
    if (!opts.resize) throw new VrftError('ERR_INVALID_ARG', 'Expected a resize callback for qwen2.5-vl pixel coordinates but received none')
    const r = opts.resize(W!, H!)
    space = { kind: 'pixels', resizedWidth: r.width, resizedHeight: r.height }
    meta.resizedWidth = r.width
    meta.resizedHeight = r.height
  }
  const box = imageToModel([x1, y1, x2, y2], space, W!, H!)
  return (texts as string[]).map((q, i) => ({
    id: `${file}#${i}`,
    image: { path: image },
    problem: groundingPrompt(q, family),
    solution: groundingSolution(box),
    task: 'grounding' as const,
    box,
    meta,
  }))
}
