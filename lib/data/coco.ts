/**
 * COCO- and LVIS-format annotations → detection samples, one per (image, class), in the reference
 * format: the detection prompt for the class and the solution `<answer>[{'Position': …}]</answer>` (or
 * `No Objects`) with boxes in model coordinates — Qwen2-VL: the 0–1000 grid (round(x·1000/W));
 * Qwen2.5-VL: absolute pixels of the resized image (round(x·W'/W), W' from the `resize` callback,
 * e.g. the image helper's smart_resize). Crowd boxes are never training targets.
 * - `buildDetectionKShot`: k images per class containing it (seeded), plus optional negatives
 *   (COCO: any image without the class; LVIS: only images that list it in `neg_category_ids`).
 * - `openCocoDetection`: every evaluated (image, class) pair as a lazy Dataset (random access).
 *   For LVIS (images carry `neg_category_ids`) `pairs: 'all'` keeps only verified pairs.
 * Image files are `imageRoot/file_name` (LVIS: the basename of `coco_url`). Errors: ERR_DATA_COCO
 * (bad file, unknown class, too few images), ERR_DATA_IMAGE (missing image; skip-and-count allowed).
 */
import { basename, join, resolve } from 'node:path'
import { VrftError, describeValue, expectArg } from '../errors.js'
import { detectionPrompt, detectionSolution, type ModelFamily } from '../prompts/index.js'
import { imageToModel, xywhToCorners, type Box, type CoordSpace } from '../rewards/boxes.js'
import type { CocoAnnotation, CocoCategory, CocoDataset, CocoImage } from '../eval/cocoeval.js'
import { readCocoAnnotations } from '../eval/evaluate.js'
import { displayClassName } from '../classes.js'
import { shuffled } from './random.js'
import { ErrorPolicy, checkImage } from './records.js'
import type { Dataset, OnDataError, Sample, SkippedRecord } from './types.js'

/** Resized size the model sees for an image of width × height (Qwen2.5-VL coordinates). */
export type ResizeFn = (width: number, height: number) => { width: number; height: number }

/** Common options of the COCO/LVIS readers. */
export interface CocoDetectionOptions {
  /** Annotation file path or an already parsed file. */
  annotations: string | CocoDataset
  /** Folder holding the image files. */
  imageRoot: string
  /** Class names to use (LVIS underscores and case do not matter); default all categories. */
  classes?: readonly string[]
  /** Coordinate convention (default qwen2-vl). */
  family?: ModelFamily
  /** Required for qwen2.5-vl: the resized size of an image. */
  resize?: ResizeFn
  onError?: OnDataError
  /** Check image files exist (default true). */
  checkImages?: boolean
}

interface Index {
  gt: CocoDataset
  file: string
  cats: CocoCategory[]
  images: Map<number, CocoImage>
  /** image id → category id → annotations */
  byImage: Map<number, Map<number, CocoAnnotation[]>>
}

/**
 * Check the fields the readers use (ids, sizes, file names, boxes, class names) before any is used, so a
 * damaged file is ERR_DATA_COCO naming the array, the index, the field and what it holds.
 */
function checkCoco(gt: CocoDataset, file: string): void {
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v)
  const check = (ok: boolean, where: string, field: string, what: string, got: unknown): void => {
    if (!ok) throw new VrftError('ERR_DATA_COCO', `${file}: ${where}: expected ${what} for ${field} but received ${describeValue(got)}`, { file, where, field })
  }
  const obj = (v: unknown, where: string): Record<string, unknown> => {
    check(v !== null && typeof v === 'object' && !Array.isArray(v), where, 'the entry', 'an object', v)
    return v as Record<string, unknown>
  }
  for (const [i, v] of gt.images.entries()) {
    const im = obj(v, `images[${i}]`)
    check(num(im.id), `images[${i}]`, 'id', 'a number', im.id)
    for (const k of ['width', 'height']) check(im[k] === undefined || (num(im[k]) && (im[k] as number) > 0), `images[${i}]`, k, 'a positive number', im[k])
    for (const k of ['file_name', 'coco_url']) check(im[k] === undefined || typeof im[k] === 'string', `images[${i}]`, k, 'a string', im[k])
    check(im.neg_category_ids === undefined || (Array.isArray(im.neg_category_ids) && im.neg_category_ids.every(num)), `images[${i}]`, 'neg_category_ids', 'an array of category ids', im.neg_category_ids)
  }
  for (const [i, v] of gt.annotations.entries()) {
    const a = obj(v, `annotations[${i}]`)
    for (const k of ['image_id', 'category_id']) check(num(a[k]), `annotations[${i}]`, k, 'a number', a[k])
    check(Array.isArray(a.bbox) && a.bbox.length === 4 && a.bbox.every(num), `annotations[${i}]`, 'bbox', 'an array [x, y, w, h] of 4 numbers', a.bbox)
  }
  for (const [i, v] of gt.categories.entries()) {
    const c = obj(v, `categories[${i}]`)
    check(num(c.id), `categories[${i}]`, 'id', 'a number', c.id)
    check(typeof c.name === 'string', `categories[${i}]`, 'name', 'a string', c.name)
  }
}

async function indexCoco(opts: CocoDetectionOptions): Promise<Index> {
  const file = typeof opts.annotations === 'string' ? resolve(opts.annotations) : '<annotations>'
  const gt = typeof opts.annotations === 'string' ? await readCocoAnnotations(file) : opts.annotations
  checkCoco(gt, file)
  const byName = new Map(gt.categories.map((c) => [displayClassName(c.name), c]))
  const cats = opts.classes
    ? opts.classes.map((n) => {
        const c = byName.get(displayClassName(n))
        if (!c) throw new VrftError('ERR_DATA_COCO', `Expected a category of ${file} but received ${describeValue(n)}`, { file })
        return c
      })
    : gt.categories
  const byImage = new Map<number, Map<number, CocoAnnotation[]>>()
  for (const a of gt.annotations) {
    let m = byImage.get(a.image_id)
    if (!m) byImage.set(a.image_id, (m = new Map()))
    const l = m.get(a.category_id)
    if (l) l.push(a)
    else m.set(a.category_id, [a])
  }
  if ((opts.family ?? 'qwen2-vl') === 'qwen2.5-vl' && !opts.resize) {
    throw new VrftError('ERR_INVALID_ARG', 'Expected a resize callback (smart_resize) for qwen2.5-vl pixel coordinates but received none')
  }
  return { gt, file, cats, images: new Map(gt.images.map((i) => [i.id, i])), byImage }
}

function imagePath(img: CocoImage, root: string): string {
  const name = img.file_name ?? (typeof img.coco_url === 'string' ? basename(img.coco_url) : undefined)
  if (!name) throw new VrftError('ERR_DATA_COCO', `Expected file_name or coco_url on image ${img.id}`)
  return join(root, name)
}

function makeSample(ix: Index, img: CocoImage, cat: CocoCategory, opts: CocoDetectionOptions): Sample {
  const { width: W, height: H } = img
  if (!W || !H) throw new VrftError('ERR_DATA_COCO', `${ix.file}: image ${img.id}: expected width and height but received ${describeValue(W)} × ${describeValue(H)}`)
  const family = opts.family ?? 'qwen2-vl'
  let space: CoordSpace = { kind: 'grid1000' }
  const meta: Sample['meta'] = { imageId: img.id, categoryId: cat.id, width: W, height: H }
  if (family === 'qwen2.5-vl') {
    const r = opts.resize!(W, H)
    space = { kind: 'pixels', resizedWidth: r.width, resizedHeight: r.height }
    meta.resizedWidth = r.width
    meta.resizedHeight = r.height
  }
  const anns = (ix.byImage.get(img.id)?.get(cat.id) ?? []).filter((a) => !a.iscrowd)
  const boxes: Box[] = anns.map((a) => imageToModel(xywhToCorners(a.bbox), space, W, H))
  const name = displayClassName(cat.name)
  return {
    id: `coco:${img.id}:${cat.id}`,
    image: { path: imagePath(img, opts.imageRoot) },
    problem: detectionPrompt(name, family),
    solution: detectionSolution(boxes),
    task: 'detection',
    boxes,
    category: name,
    meta,
  }
}

function hasTarget(ix: Index, imageId: number, catId: number): boolean {
  return (ix.byImage.get(imageId)?.get(catId) ?? []).some((a) => !a.iscrowd)
}

/** Options of `buildDetectionKShot`. */
export interface KShotDetectionOptions extends CocoDetectionOptions {
  /** Images per class. */
  shots: number
  seed?: number
  /** Negative (No Objects) samples per class (default 0). */
  negatives?: number
}

/** A k-shot detection training set (small, returned whole). */
export async function buildDetectionKShot(opts: KShotDetectionOptions): Promise<{ samples: Sample[]; skipped: SkippedRecord[] }> {
  expectArg(Number.isInteger(opts.shots) && opts.shots >= 1, 'a positive integer', 'shots', opts.shots)
  const ix = await indexCoco(opts)
  const policy = new ErrorPolicy(opts.onError)
  const seed = opts.seed ?? 0
  const ids = [...ix.images.keys()].sort((a, b) => a - b)
  const samples: Sample[] = []
  for (const [ci, cat] of ix.cats.entries()) {
    const pick = async (cands: number[], want: number, what: string): Promise<void> => {
      let got = 0
      for (const id of shuffled(cands, (seed * 1000003 + ci * 7919 + (what === 'negative' ? 1 : 0)) >>> 0)) {
        if (got === want) break
        const img = ix.images.get(id)!
        const s = makeSample(ix, img, cat, opts)
        if (opts.checkImages ?? true) {
          try {
            await checkImage((s.image as { path: string }).path, ix.file, `image ${id}`)
          } catch (e) {
            policy.fail(e as VrftError, ix.file, `image ${id}`)
            continue
          }
        }
        samples.push(s)
        got++
      }
      if (got < want) {
        policy.fail(new VrftError('ERR_DATA_COCO', `${ix.file}: class '${cat.name}': expected ${want} ${what} images but only ${got} are usable`, { file: ix.file }), ix.file, `class ${cat.name}`)
      }
    }
    await pick(ids.filter((id) => hasTarget(ix, id, cat.id)), opts.shots, 'positive')
    const neg = opts.negatives ?? 0
    if (neg > 0) {
      const verified = (img: CocoImage): boolean => !Array.isArray(img.neg_category_ids) || (img.neg_category_ids as number[]).includes(cat.id)
      await pick(ids.filter((id) => !ix.byImage.get(id)?.has(cat.id) && verified(ix.images.get(id)!)), neg, 'negative')
    }
  }
  return { samples, skipped: policy.skipped }
}

/** Options of `openCocoDetection`. */
export interface CocoPairsOptions extends CocoDetectionOptions {
  /** `all` (default): every image × class (LVIS: verified pairs only); `present`: pairs with a non-crowd object. */
  pairs?: 'all' | 'present'
}

class PairsDataset implements Dataset<Sample> {
  constructor(
    private readonly ix: Index,
    private readonly imgs: CocoImage[],
    private readonly pairs: Uint32Array,
    private readonly opts: CocoPairsOptions,
    private readonly policy: ErrorPolicy,
  ) {}
  get source(): string { return this.ix.file }
  get length(): number { return this.pairs.length / 2 }
  get skipped(): readonly SkippedRecord[] { return this.policy.skipped }
  /** The parsed annotation file (ground truth for evaluation). */
  get groundTruth(): CocoDataset { return this.ix.gt }
  async get(i: number): Promise<Sample> {
    expectArg(Number.isInteger(i) && i >= 0 && i < this.length, `an index in [0, ${this.length})`, 'index', i)
    return makeSample(this.ix, this.imgs[this.pairs[2 * i]!]!, this.ix.cats[this.pairs[2 * i + 1]!]!, this.opts)
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Sample> {
    for (let i = 0; i < this.length; i++) {
      const s = await this.get(i)
      if (this.opts.checkImages ?? true) {
        try {
          await checkImage((s.image as { path: string }).path, this.ix.file, `image ${s.meta!.imageId}`)
        } catch (e) {
          this.policy.fail(e as VrftError, this.ix.file, `image ${s.meta!.imageId}`)
          continue
        }
      }
      yield s
    }
  }
}

/** Every evaluated (image, class) pair of a COCO/LVIS file as a lazy Dataset (images sorted by id). */
export async function openCocoDetection(opts: CocoPairsOptions): Promise<Dataset<Sample> & { groundTruth: CocoDataset }> {
  const ix = await indexCoco(opts)
  const imgs = [...ix.images.values()].sort((a, b) => a.id - b.id)
  const pairs: number[] = []
  imgs.forEach((img, ii) => {
    ix.cats.forEach((cat, ci) => {
      const present = hasTarget(ix, img.id, cat.id)
      const lvis = Array.isArray(img.neg_category_ids)
      const ok = opts.pairs === 'present' ? present : !lvis || ix.byImage.get(img.id)?.has(cat.id) || (img.neg_category_ids as number[]).includes(cat.id)
      if (ok) pairs.push(ii, ci)
    })
  })
  return new PairsDataset(ix, imgs, Uint32Array.from(pairs), opts, new ErrorPolicy(opts.onError))
}
