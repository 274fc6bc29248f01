/**
 * Qwen2-VL / Qwen2.5-VL image preprocessing, as transformers' slow `Qwen2VLImageProcessor` does it:
 * decode (sharp) → upright RGB on white → smart_resize → bicubic resize → ×rescale → (x − mean)/std →
 * patchify into (N, C·T·P·P) float32 rows plus `image_grid_thw`.
 *
 * The resize is Pillow's resampler re-implemented exactly (separable, 22-bit fixed-point coefficients,
 * horizontal pass then vertical, uint8 between the passes), so results equal PIL's byte for byte; sharp's
 * own cubic resize differs from PIL by up to ~200 levels on noise when upscaling. Images above
 * `exactResizeMaxPixels` are shrunk by sharp while decoding instead (bounded memory; approximate).
 *
 * Normalisation follows numpy's float32 arithmetic: x = f32(u8 · rescale) (float64 product), then
 * f32(f32(x − mean) / std), via a 256-entry table per channel, so `pixel_values` match bit for bit.
 *
 * Run the checks: npx tap test/preprocess.test.ts
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { VrftError, expectArg } from '../errors.js'
import { type ImageSource, type OpenImageOptions, type RgbImage, openImage, toRgb } from './images.js'

/** Resampling filters of PIL, by PIL's enum number (`resample` in preprocessor_config.json). */
export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos'
const PIL_RESAMPLE: Record<number, ResampleFilter> = { 0: 'nearest', 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box', 5: 'hamming' }

/** Validated image-processor settings (names as in transformers, camelCased). */
export interface PreprocessorConfig {
  minPixels: number
  maxPixels: number
  patchSize: number
  temporalPatchSize: number
  mergeSize: number
  imageMean: [number, number, number]
  imageStd: [number, number, number]
  rescaleFactor: number
  doResize: boolean
  doRescale: boolean
  doNormalize: boolean
  resample: ResampleFilter
}

/**
 * The class defaults of transformers' Qwen2VLImageProcessor (4.57). A model's preprocessor_config.json
 * overrides them (hub Qwen2-VL files say max_pixels 12845056).
 */
export const DEFAULT_PREPROCESSOR_CONFIG: Readonly<PreprocessorConfig> = Object.freeze({
  minPixels: 56 * 56,
  maxPixels: 28 * 28 * 1280,
  patchSize: 14,
  temporalPatchSize: 2,
  mergeSize: 2,
  imageMean: [0.48145466, 0.4578275, 0.40821073] as [number, number, number],
  imageStd: [0.26862954, 0.26130258, 0.27577711] as [number, number, number],
  rescaleFactor: 1 / 255,
  doResize: true,
  doRescale: true,
  doNormalize: true,
  resample: 'bicubic' as ResampleFilter,
})

function cfgError(where: string, msg: string): VrftError {
  return new VrftError('ERR_CONFIG', `Invalid image preprocessor config (${where}): ${msg}`, { source: where })
}

/**
 * Build a config from a parsed preprocessor_config.json object (snake_case keys; `min_pixels`/`max_pixels`
 * win over `size.shortest_edge`/`size.longest_edge`, as in transformers), then apply `overrides`.
 * Missing keys keep the class defaults. Throws ERR_CONFIG on wrong types or values.
 */
export function resolvePreprocessorConfig(raw: Record<string, unknown> = {}, overrides: Partial<PreprocessorConfig> = {}, where = 'preprocessor_config'): PreprocessorConfig {
  const c: PreprocessorConfig = { ...DEFAULT_PREPROCESSOR_CONFIG, imageMean: [...DEFAULT_PREPROCESSOR_CONFIG.imageMean], imageStd: [...DEFAULT_PREPROCESSOR_CONFIG.imageStd] }
  const int = (key: string, min: number): number | undefined => {
    const v = raw[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw cfgError(where, `expected an integer >= ${min} for ${key} but found ${JSON.stringify(v)}`)
    return v
  }
  const size = raw.size as Record<string, unknown> | undefined
  if (size !== undefined && (typeof size !== 'object' || size === null)) throw cfgError(where, `expected an object for size but found ${JSON.stringify(size)}`)
  const sizeInt = (key: string): number | undefined => {
    const v = size?.[key]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw cfgError(where, `expected an integer for size.${key} but found ${JSON.stringify(v)}`)
    return v
  }
  c.minPixels = int('min_pixels', 0) ?? sizeInt('shortest_edge') ?? sizeInt('min_pixels') ?? c.minPixels
  c.maxPixels = int('max_pixels', 1) ?? sizeInt('longest_edge') ?? sizeInt('max_pixels') ?? c.maxPixels
  c.patchSize = int('patch_size', 1) ?? c.patchSize
  c.temporalPatchSize = int('temporal_patch_size', 1) ?? c.temporalPatchSize
  c.mergeSize = int('merge_size', 1) ?? c.mergeSize
  for (const [key, field] of [['image_mean', 'imageMean'], ['image_std', 'imageStd']] as const) {
    const v = raw[key]
    if (v === undefined || v === null) continue
    const arr = typeof v === 'number' ? [v, v, v] : v
    if (!Array.isArray(arr) || arr.length !== 3 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw cfgError(where, `expected 3 numbers for ${key} but found ${JSON.stringify(v)}`)
    }
    c[field] = arr as [number, number, number]
  }
  if (c.imageStd.some((s) => s === 0)) throw cfgError(where, `image_std must not contain 0 but found ${JSON.stringify(c.imageStd)}`)
  if (raw.rescale_factor !== undefined) {
    if (typeof raw.rescale_factor !== 'number' || !(raw.rescale_factor > 0)) throw cfgError(where, `expected a positive number for rescale_factor but found ${JSON.stringify(raw.rescale_factor)}`)
    c.rescaleFactor = raw.rescale_factor
  }
  for (const [key, field] of [['do_resize', 'doResize'], ['do_rescale', 'doRescale'], ['do_normalize', 'doNormalize']] as const) {
    const v = raw[key]
    if (v === undefined || v === null) continue
    if (typeof v !== 'boolean') throw cfgError(where, `expected true or false for ${key} but found ${JSON.stringify(v)}`)
    c[field] = v
  }
  if (raw.resample !== undefined) {
    const f = typeof raw.resample === 'number' ? PIL_RESAMPLE[raw.resample] : undefined
    if (!f || f === 'nearest') throw cfgError(where, `expected resample 1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming) but found ${JSON.stringify(raw.resample)}`)
    c.resample = f
  }
  Object.assign(c, overrides)
  if (c.minPixels > c.maxPixels) throw cfgError(where, `min_pixels (${c.minPixels}) is larger than max_pixels (${c.maxPixels})`)
  return c
}

/**
 * Read `<modelDir>/preprocessor_config.json` when present (class defaults otherwise) and resolve it.
 * Throws ERR_CONFIG when the file is not valid JSON or has wrong values.
 */
export async function loadPreprocessorConfig(modelDir: string, overrides: Partial<PreprocessorConfig> = {}): Promise<PreprocessorConfig> {
  const file = join(modelDir, 'preprocessor_config.json')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return resolvePreprocessorConfig({}, overrides, file)
    throw cfgError(file, (e as Error).message)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw cfgError(file, `not valid JSON: ${(e as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw cfgError(file, 'expected a JSON object')
  return resolvePreprocessorConfig(raw as Record<string, unknown>, overrides, file)
}

/** Python's round(): nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x)
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r
}

/** Limits of {@link smartResize}. */
export interface SmartResizeOptions {
  /** patch_size · merge_size (28 for Qwen2-VL). */
  factor?: number
  minPixels?: number
  maxPixels?: number
}

/**
 * transformers' `smart_resize` (4.57): the (height, width) both multiples of `factor`, area within
 * [minPixels, maxPixels], aspect ratio kept as well as possible. Tiny images are scaled up (1×1 → 56×56
 * with the defaults). Throws ERR_IMAGE_ASPECT when max/min side > 200 and ERR_IMAGE_SIZE when the limits
 * leave a zero-sized side (only possible with minPixels 0).
 */
export function smartResize(height: number, width: number, opts: SmartResizeOptions = {}): [number, number] {
  const factor = opts.factor ?? DEFAULT_PREPROCESSOR_CONFIG.patchSize * DEFAULT_PREPROCESSOR_CONFIG.mergeSize
  const minPixels = opts.minPixels ?? DEFAULT_PREPROCESSOR_CONFIG.minPixels
  const maxPixels = opts.maxPixels ?? DEFAULT_PREPROCESSOR_CONFIG.maxPixels
  expectArg(Number.isInteger(height) && height > 0, 'a positive integer', 'height', height)
  expectArg(Number.isInteger(width) && width > 0, 'a positive integer', 'width', width)
  expectArg(Number.isInteger(factor) && factor > 0, 'a positive integer', 'factor', factor)
  if (Math.max(height, width) / Math.min(height, width) > 200) {
    throw new VrftError('ERR_IMAGE_ASPECT', `Expected an image aspect ratio of at most 200 but received ${height}x${width} (H×W, ratio ${(Math.max(height, width) / Math.min(height, width)).toFixed(1)})`, { height, width })
  }
  let h = roundHalfEven(height / factor) * factor
  let w = roundHalfEven(width / factor) * factor
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels)
    h = Math.max(factor, Math.floor(height / beta / factor) * factor)
    w = Math.max(factor, Math.floor(width / beta / factor) * factor)
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width))
    h = Math.ceil((height * beta) / factor) * factor
    w = Math.ceil((width * beta) / factor) * factor
  }
  if (h <= 0 || w <= 0) {
    throw new VrftError('ERR_IMAGE_SIZE', `Image of ${height}x${width} (H×W) resizes to ${h}x${w}: min_pixels ${minPixels} is too small to keep both sides at least ${factor}`, { height, width })
  }
  return [h, w]
}

// ---------------------------------------------------------------- Pillow's resampler (exact)

const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, { support: number; f: (x: number) => number }> = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0 } },
  hamming: { support: 1, f: (x) => { x = Math.abs(x); if (x === 0) return 1; if (x >= 1) return 0; x *= Math.PI; return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x)) } },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5
      x = Math.abs(x)
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a
      return 0
    },
  },
  lanczos: {
    support: 3,
    f: (x) => {
      const sinc = (v: number): number => (v === 0 ? 1 : Math.sin(Math.PI * v) / (Math.PI * v))
      return x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0
    },
  },
}
const PRECISION_BITS = 32 - 8 - 2

/** Per output index: first input index, tap count, and fixed-point weights (ksize per output). */
function precomputeCoeffs(inSize: number, outSize: number, filter: ResampleFilter): { bounds: Int32Array; kk: Int32Array; ksize: number } {
  const flt = FILTERS[filter as Exclude<ResampleFilter, 'nearest'>]
  const scale = inSize / outSize
  const filterscale = Math.max(scale, 1)
  const support = flt.support * filterscale
  const ksize = Math.ceil(support) * 2 + 1
  const bounds = new Int32Array(outSize * 2)
  const kk = new Int32Array(outSize * ksize)
  const w = new Float64Array(ksize)
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale
    const ss = 1 / filterscale
    const xmin = Math.max(0, Math.trunc(center - support + 0.5))
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin
    let ww = 0
    for (let x = 0; x < xmax; x++) {
      w[x] = flt.f((x + xmin - center + 0.5) * ss)
      ww += w[x]!
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x]! / ww : w[x]!
      kk[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS))
    }
    bounds[xx * 2] = xmin
    bounds[xx * 2 + 1] = xmax
  }
  return { bounds, kk, ksize }
}

function clip8(v: number): number {
  if (v >= 1 << (PRECISION_BITS + 8)) return 255
  if (v <= 0) return 0
  return v >> PRECISION_BITS
}

/**
 * Resize an 8-bit RGB raster exactly as Pillow's `Image.resize((outW, outH), resample)` does for RGB
 * images (no reducing_gap). Pure function; `nearest` is not supported.
 */
export function resizeRgbPil(img: RgbImage, outW: number, outH: number, filter: ResampleFilter = 'bicubic'): RgbImage {
  expectArg(Number.isInteger(outW) && outW > 0 && Number.isInteger(outH) && outH > 0, 'positive integer output sizes', 'resize', [outW, outH])
  expectArg(filter !== 'nearest' && filter in FILTERS, 'box, bilinear, hamming, bicubic or lanczos', 'filter', filter)
  const { width: inW, height: inH } = img
  expectArg(img.data.length === inW * inH * 3, `${inW * inH * 3} bytes (H·W·3)`, 'image data', img.data)
  const needH = outW !== inW
  const needV = outH !== inH
  const horiz = precomputeCoeffs(inW, outW, filter)
  const vert = precomputeCoeffs(inH, outH, filter)
  let src = img.data
  let srcW = inW
  let srcH = inH
  let rowOffset = 0 // first source row the vertical pass reads
  if (needH) {
    // Only rows the vertical pass will read: [yFirst, yLast).
    const yFirst = needV ? vert.bounds[0]! : 0
    const yLast = needV ? vert.bounds[(outH - 1) * 2]! + vert.bounds[(outH - 1) * 2 + 1]! : inH
    const rows = yLast - yFirst
    const tmp = new Uint8Array(rows * outW * 3) // (rows, outW, 3)
    const { bounds, kk, ksize } = horiz
    const half = 1 << (PRECISION_BITS - 1)
    for (let y = 0; y < rows; y++) {
      const rowIn = (y + yFirst) * inW * 3
      const rowOut = y * outW * 3
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2]!
        const xmax = bounds[xx * 2 + 1]!
        const kb = xx * ksize
        let s0 = half, s1 = half, s2 = half
        let p = rowIn + xmin * 3
        for (let x = 0; x < xmax; x++, p += 3) {
          const k = kk[kb + x]!
          s0 += src[p]! * k
          s1 += src[p + 1]! * k
          s2 += src[p + 2]! * k
        }
        tmp[rowOut + xx * 3] = clip8(s0)
        tmp[rowOut + xx * 3 + 1] = clip8(s1)
        tmp[rowOut + xx * 3 + 2] = clip8(s2)
      }
    }
    src = tmp
    srcW = outW
    srcH = rows
    rowOffset = yFirst
  }
  if (!needV) return { data: needH ? src : new Uint8Array(src), width: srcW, height: srcH }
  const out = new Uint8Array(outH * srcW * 3) // (outH, outW, 3)
  const { bounds, kk, ksize } = vert
  const half = 1 << (PRECISION_BITS - 1)
  const stride = srcW * 3
  const acc = new Float64Array(stride) // one output row of sums; exact integers, as PIL's int32 sums
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2]! - rowOffset
    const ymax = bounds[yy * 2 + 1]!
    const kb = yy * ksize
    const rowOut = yy * stride
    acc.fill(half)
    for (let y = 0; y < ymax; y++) {
      const k = kk[kb + y]!
      const p = (ymin + y) * stride
      for (let i = 0; i < stride; i++) acc[i] += src[p + i]! * k
    }
    for (let i = 0; i < stride; i++) out[rowOut + i] = clip8(acc[i]!)
  }
  return { data: out, width: srcW, height: outH }
}

// ---------------------------------------------------------------- normalise + patchify

/** Per channel, the 256 float32 values numpy computes for u8 → rescale → normalise. (3·256) */
export function normalizationTable(cfg: Pick<PreprocessorConfig, 'rescaleFactor' | 'doRescale' | 'doNormalize' | 'imageMean' | 'imageStd'>): Float32Array {
  const f = Math.fround
  const lut = new Float32Array(3 * 256)
  for (let c = 0; c < 3; c++) {
    const mean = f(cfg.imageMean[c]!)
    const std = f(cfg.imageStd[c]!)
    for (let u = 0; u < 256; u++) {
      let x = cfg.doRescale ? f(u * cfg.rescaleFactor) : u
      if (cfg.doNormalize) x = f(f(x - mean) / std)
      lut[c * 256 + u] = x
    }
  }
  return lut
}

/** Geometry of the patch layout: grid (t, h, w) in patches, and the row length C·T·P·P. */
export interface PatchGeometry {
  gridThw: [number, number, number]
  patchDim: number
}

function geometry(height: number, width: number, cfg: Pick<PreprocessorConfig, 'patchSize' | 'temporalPatchSize' | 'mergeSize'>): PatchGeometry {
  const { patchSize: P, mergeSize: M, temporalPatchSize: T } = cfg
  if (height % (P * M) !== 0 || width % (P * M) !== 0) {
    throw new VrftError('ERR_INVALID_ARG', `Expected image sides that are multiples of patch_size·merge_size = ${P * M} but received ${height}x${width} (H×W)`)
  }
  return { gridThw: [1, height / P, width / P], patchDim: 3 * T * P * P }
}

/**
 * Patchify one image (a single frame, repeated temporal_patch_size times as transformers does) into
 * rows of (N = gh·gw, 3·T·P·P): row ((gy·(gw/M) + gx)·M + my)·M + mx for merge block (gy, gx) and
 * sub-patch (my, mx); column ((c·T + t)·P + py)·P + px. `value(c, y, x)` gives the pixel value.
 */
function patchifyWith(height: number, width: number, cfg: Pick<PreprocessorConfig, 'patchSize' | 'temporalPatchSize' | 'mergeSize'>, value: (c: number, y: number, x: number) => number): { pixelValues: Float32Array; gridThw: [number, number, number] } {
  const { patchSize: P, mergeSize: M, temporalPatchSize: T } = cfg
  const { gridThw, patchDim } = geometry(height, width, cfg)
  const gh = gridThw[1]
  const gw = gridThw[2]
  const out = new Float32Array(gh * gw * patchDim) // (N, 3·T·P·P)
  let row = 0
  for (let by = 0; by < gh / M; by++) {
    for (let bx = 0; bx < gw / M; bx++) {
      for (let my = 0; my < M; my++) {
        for (let mx = 0; mx < M; mx++, row++) {
          const y0 = (by * M + my) * P
          const x0 = (bx * M + mx) * P
          const base = row * patchDim
          for (let c = 0; c < 3; c++) {
            for (let py = 0; py < P; py++) {
              for (let px = 0; px < P; px++) {
                const v = value(c, y0 + py, x0 + px)
                for (let t = 0; t < T; t++) out[base + ((c * T + t) * P + py) * P + px] = v
              }
            }
          }
        }
      }
    }
  }
  return { pixelValues: out, gridThw }
}

/**
 * Patchify an already normalised image given channel-first (3, H, W) float32 values. Pure.
 * Returns the (N, 3·T·P·P) rows and image_grid_thw = [1, H/P, W/P].
 */
export function patchify(chw: Float32Array, height: number, width: number, cfg: Pick<PreprocessorConfig, 'patchSize' | 'temporalPatchSize' | 'mergeSize'> = DEFAULT_PREPROCESSOR_CONFIG): { pixelValues: Float32Array; gridThw: [number, number, number] } {
  expectArg(chw.length === 3 * height * width, `${3 * height * width} values (3·H·W)`, 'chw', chw)
  const plane = height * width
  return patchifyWith(height, width, cfg, (c, y, x) => chw[c * plane + y * width + x]!)
}

/**
 * Rescale, normalise and patchify an already-resized 8-bit RGB raster (HWC). Pure; equals transformers'
 * float32 numbers exactly.
 */
export function normalizeAndPatchify(img: RgbImage, cfg: PreprocessorConfig = DEFAULT_PREPROCESSOR_CONFIG): { pixelValues: Float32Array; gridThw: [number, number, number] } {
  expectArg(img.data.length === img.width * img.height * 3, `${img.width * img.height * 3} bytes (H·W·3)`, 'image data', img.data)
  const lut = normalizationTable(cfg)
  const { data, width } = img
  const { patchSize: P, mergeSize: M, temporalPatchSize: T } = cfg
  const { gridThw, patchDim } = geometry(img.height, width, cfg)
  const gh = gridThw[1]
  const gw = gridThw[2]
  const out = new Float32Array(gh * gw * patchDim) // (N, 3·T·P·P); same layout as patchifyWith, inlined for speed
  let row = 0
  for (let by = 0; by < gh / M; by++) {
    for (let bx = 0; bx < gw / M; bx++) {
      for (let my = 0; my < M; my++) {
        for (let mx = 0; mx < M; mx++, row++) {
          const y0 = (by * M + my) * P
          const x0 = (bx * M + mx) * P
          for (let c = 0; c < 3; c++) {
            for (let t = 0; t < T; t++) {
              let o = row * patchDim + (c * T + t) * P * P
              for (let py = 0; py < P; py++) {
                let q = ((y0 + py) * width + x0) * 3 + c
                for (let px = 0; px < P; px++, q += 3) out[o++] = lut[c * 256 + data[q]!]!
              }
            }
          }
        }
      }
    }
  }
  return { pixelValues: out, gridThw }
}

// ---------------------------------------------------------------- the whole pipeline

/** One preprocessed image. */
export interface PreprocessedImage {
  /** (N, 3·T·P·P) float32, row-major; N = t·h·w. */
  pixelValues: Float32Array
  /** [t, h, w] in patches. */
  imageGridThw: [number, number, number]
  /** Number of `<|image_pad|>` tokens = t·h·w / merge². */
  numImageTokens: number
  /** Upright size before and after the resize (H, W). */
  originalSize: [number, number]
  resizedSize: [number, number]
  /** True when the image was larger than `exactResizeMaxPixels` and sharp resized it (not PIL-exact). */
  approximateResize: boolean
}

/** Options of {@link preprocessImage}. */
export interface PreprocessOptions extends OpenImageOptions {
  /**
   * Largest upright input (pixels) resized exactly like PIL in JS after a full decode. Bigger images are
   * shrunk by sharp while decoding (libvips cubic, streaming, bounded memory). Default 40,000,000.
   */
  exactResizeMaxPixels?: number
}

/**
 * Preprocess one image: decode, orient, flatten, smart_resize, resize, normalise, patchify.
 * Errors: ERR_IMAGE_DECODE, ERR_IMAGE_NOT_FOUND, ERR_IMAGE_TOO_LARGE, ERR_IMAGE_ASPECT, ERR_IMAGE_SIZE.
 */
export async function preprocessImage(src: ImageSource, cfg: PreprocessorConfig = DEFAULT_PREPROCESSOR_CONFIG, opts: PreprocessOptions = {}): Promise<PreprocessedImage> {
  const exactMax = opts.exactResizeMaxPixels ?? 40_000_000
  const { pipeline, header, name } = await openImage(src, opts)
  const factor = cfg.patchSize * cfg.mergeSize
  let target: [number, number]
  try {
    target = cfg.doResize ? smartResize(header.height, header.width, { factor, minPixels: cfg.minPixels, maxPixels: cfg.maxPixels }) : [header.height, header.width]
  } catch (e) {
    if (e instanceof VrftError) throw new VrftError(e.code, `Image ${name}: ${e.message}`, { ...e.details, source: name }, { cause: e })
    throw e
  }
  const [th, tw] = target
  const big = header.width * header.height > exactMax
  const rgb = await toRgb(pipeline, name, big ? { width: tw, height: th } : undefined)
  const out = preprocessRgb(rgb, cfg, target)
  return { ...out, originalSize: [header.height, header.width], approximateResize: big }
}

/**
 * The synchronous, CPU-only part of the pipeline on an already decoded upright RGB raster: smart_resize
 * (unless `target` is given), PIL-exact resize, normalise, patchify. Pure; what a benchmark times apart
 * from decoding.
 */
export function preprocessRgb(rgb: RgbImage, cfg: PreprocessorConfig = DEFAULT_PREPROCESSOR_CONFIG, target?: [number, number]): Omit<PreprocessedImage, 'approximateResize'> {
  const [th, tw] = target ?? (cfg.doResize
    ? smartResize(rgb.height, rgb.width, { factor: cfg.patchSize * cfg.mergeSize, minPixels: cfg.minPixels, maxPixels: cfg.maxPixels })
    : [rgb.height, rgb.width])
  const resized = rgb.width !== tw || rgb.height !== th ? resizeRgbPil(rgb, tw, th, cfg.resample) : rgb
  const { pixelValues, gridThw } = normalizeAndPatchify(resized, cfg)
  return {
    pixelValues,
    imageGridThw: gridThw,
    numImageTokens: (gridThw[0] * gridThw[1] * gridThw[2]) / (cfg.mergeSize * cfg.mergeSize),
    originalSize: [rgb.height, rgb.width],
    resizedSize: [th, tw],
  }
}

/** Image-token count for an upright H×W image under `cfg`, without decoding anything. */
export function imageTokenCount(height: number, width: number, cfg: PreprocessorConfig = DEFAULT_PREPROCESSOR_CONFIG): number {
  const [h, w] = cfg.doResize ? smartResize(height, width, { factor: cfg.patchSize * cfg.mergeSize, minPixels: cfg.minPixels, maxPixels: cfg.maxPixels }) : [height, width]
  return (h / cfg.patchSize) * (w / cfg.patchSize) / (cfg.mergeSize * cfg.mergeSize)
}
