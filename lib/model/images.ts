/**
 * Image inputs: turn a Buffer, a file path or a data URL into bytes, and decode them with sharp into one
 * upright (EXIF orientation applied), alpha-free (flattened onto white) 8-bit RGB raster — what
 * transformers' `load_image` + `convert_to_rgb` give. Decoding is bounded by `limitInputPixels` so a
 * hostile or huge file fails cleanly instead of exhausting memory.
 *
 * Errors: ERR_IMAGE_NOT_FOUND (path does not exist), ERR_IMAGE_DECODE (empty, truncated, corrupt or
 * unsupported bytes), ERR_IMAGE_TOO_LARGE (over the pixel limit), ERR_INVALID_ARG (not an image source).
 */
import { readFile } from 'node:fs/promises'
import sharp, { type Metadata, type Sharp } from 'sharp'
import { VrftError, describeValue, expectArg } from '../errors.js'

/** An image: encoded bytes, a file path, a `file://` URL, or a `data:` URL (base64 or percent-encoded). */
export type ImageSource = Buffer | Uint8Array | string

/** Encoded image bytes plus a human-readable name of where they came from (for error messages). */
export interface ImageBytes {
  bytes: Buffer
  name: string
}

/** An 8-bit RGB raster, row-major HWC: `data[(y * width + x) * 3 + c]`. */
export interface RgbImage {
  data: Uint8Array
  width: number
  height: number
}

/** sharp's own default: 0x3FFF × 0x3FFF pixels. */
export const DEFAULT_LIMIT_INPUT_PIXELS = 0x3fff * 0x3fff

/** Short name of an image source for messages: the path, `data:image/png (1234 chars)`, `Buffer(…)`. */
export function describeImageSource(src: unknown): string {
  if (typeof src === 'string') {
    if (src.startsWith('data:')) return `data URL ${JSON.stringify(src.slice(0, src.indexOf(',') > 0 ? Math.min(src.indexOf(','), 40) : 40))} (${src.length} chars)`
    return JSON.stringify(src)
  }
  if (src instanceof Uint8Array) return `a ${Buffer.isBuffer(src) ? 'Buffer' : 'Uint8Array'} of ${src.length} bytes`
  return describeValue(src)
}

function parseDataUrl(url: string): Buffer {
  const comma = url.indexOf(',')
  if (comma < 0) throw new VrftError('ERR_IMAGE_DECODE', `Expected a data URL of the form data:<mime>;base64,<data> for image but received ${describeImageSource(url)}`)
  const meta = url.slice(5, comma)
  const payload = url.slice(comma + 1)
  if (/;base64$/i.test(meta)) return Buffer.from(payload, 'base64')
  return Buffer.from(decodeURIComponent(payload), 'latin1')
}

/** Read the encoded bytes of an image source. Throws ERR_IMAGE_NOT_FOUND for a missing file. */
export async function readImageSource(src: ImageSource): Promise<ImageBytes> {
  if (src instanceof Uint8Array) {
    const bytes = Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength)
    return { bytes, name: describeImageSource(src) }
  }
  expectArg(typeof src === 'string' && src.length > 0, 'a Buffer, a file path or a data: URL', 'image', src)
  if (src.startsWith('data:')) return { bytes: parseDataUrl(src), name: describeImageSource(src) }
  if (/^https?:\/\//i.test(src)) {
    throw new VrftError('ERR_INVALID_ARG', `Expected a Buffer, a file path or a data: URL for image but received the remote URL ${JSON.stringify(src)}; download it first`)
  }
  const path = src.startsWith('file://') ? new URL(src) : src
  try {
    return { bytes: await readFile(path), name: JSON.stringify(src) }
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new VrftError('ERR_IMAGE_NOT_FOUND', `Image file ${JSON.stringify(src)} does not exist`, { path: src }, { cause: e })
    }
    throw new VrftError('ERR_IMAGE_DECODE', `Could not read image file ${JSON.stringify(src)}: ${(e as Error).message}`, { path: src }, { cause: e })
  }
}

/** Options of {@link openImage}. */
export interface OpenImageOptions {
  /** Refuse inputs with more pixels than this (sharp's `limitInputPixels`). Default 0x3FFF². */
  limitInputPixels?: number
  /**
   * sharp's `failOn`: how bad an input must be to be refused. Default 'warning' (truncated or damaged
   * files are refused, like PIL without LOAD_TRUNCATED_IMAGES); 'error' tolerates minor damage.
   */
  failOn?: 'none' | 'truncated' | 'error' | 'warning'
}

/** Upright size of an image, read from its header without decoding the pixels. */
export interface ImageHeader {
  width: number
  height: number
  /** EXIF orientation 1–8 (1 when absent). */
  orientation: number
}

function decodeError(name: string, e: unknown): VrftError {
  const msg = (e as Error)?.message ?? String(e)
  if (/pixel limit/i.test(msg)) {
    return new VrftError('ERR_IMAGE_TOO_LARGE', `Image ${name} has more pixels than the limit (limitInputPixels): ${msg}`, { source: name }, { cause: e })
  }
  return new VrftError('ERR_IMAGE_DECODE', `Could not decode image ${name}: expected a complete JPEG, PNG, WebP, GIF, TIFF or AVIF file but ${msg}`, { source: name }, { cause: e })
}

/**
 * Open an image with sharp and read its header. Returns the sharp pipeline (auto-oriented) and the upright
 * size. Empty and unreadable inputs throw ERR_IMAGE_DECODE naming the source.
 */
export async function openImage(src: ImageSource, opts: OpenImageOptions = {}): Promise<{ pipeline: Sharp; header: ImageHeader; name: string }> {
  const { bytes, name } = await readImageSource(src)
  if (bytes.length === 0) throw new VrftError('ERR_IMAGE_DECODE', `Could not decode image ${name}: it is empty (0 bytes)`, { source: name })
  const limit = opts.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS
  expectArg(Number.isInteger(limit) && limit > 0, 'a positive integer', 'limitInputPixels', limit)
  let pipeline: Sharp
  let meta: Metadata
  try {
    pipeline = sharp(bytes, { limitInputPixels: limit, failOn: opts.failOn ?? 'warning' })
    meta = await pipeline.metadata()
  } catch (e) {
    throw decodeError(name, e)
  }
  if (!meta.width || !meta.height) throw new VrftError('ERR_IMAGE_DECODE', `Could not decode image ${name}: no width/height in its header`, { source: name })
  const orientation = meta.orientation ?? 1
  const swap = orientation >= 5 && orientation <= 8
  const header = { width: swap ? meta.height : meta.width, height: swap ? meta.width : meta.height, orientation }
  return { pipeline: pipeline.autoOrient(), header, name }
}

/**
 * Finish a pipeline from {@link openImage} into 8-bit RGB: alpha flattened onto white, colour space sRGB.
 * `resize` (optional) lets sharp shrink the image while decoding (used for images too large to resample
 * exactly in JS).
 */
export async function toRgb(pipeline: Sharp, name: string, resize?: { width: number; height: number }): Promise<RgbImage> {
  try {
    let p = pipeline.flatten({ background: { r: 255, g: 255, b: 255 } }).toColourspace('srgb')
    if (resize) p = p.resize(resize.width, resize.height, { fit: 'fill', kernel: 'cubic' })
    const { data, info } = await p.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`)
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }
  } catch (e) {
    throw decodeError(name, e)
  }
}

/** Decode an image into upright, alpha-free 8-bit RGB (see {@link toRgb}). */
export async function decodeImage(src: ImageSource, opts: OpenImageOptions = {}): Promise<RgbImage> {
  const { pipeline, name } = await openImage(src, opts)
  return toRgb(pipeline, name)
}
