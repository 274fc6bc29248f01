/**
 * Turning an OpenAI `image_url` into image bytes, safely.
 *
 * - `data:image/...;base64,...` URLs are decoded in memory.
 * - Local files (a plain path, relative to the allowed root, or a `file://` URL) are read only when the
 *   server has an allowed root, and only when the file's real path (every symlink resolved) lies inside
 *   the root's real path. A path that leaves the root lexically is refused without touching the file
 *   system; the final open uses O_NOFOLLOW on the resolved path, and only regular files are read.
 * - http(s) URLs are refused: the server never fetches anything.
 * Every image's header is then read (sharp, no full decode) and refused when it is not an image or has
 * more pixels than the limit. SVG (and any other vector format that libvips would rasterize by running
 * its filters: svg, pdf) is refused with ERR_IMAGE_FORMAT before sharp sees it. Errors are HttpErrors
 * (400 bad image / 403 forbidden path).
 */
import { constants, promises as fsp } from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VrftError } from '../errors.js'
import { describeImageSource, openImage, readImageSource } from '../model/images.js'
import { HttpError } from './errors.js'

/** What {@link resolveImageUrl} needs to know. */
export interface ImagePolicy {
  /** Real path of the folder local images may come from; undefined refuses every local path. */
  allowedRoot: string | undefined
  /** Largest width × height. */
  maxImagePixels: number
  /** Largest file read from disk, bytes. */
  maxFileBytes: number
}

/** True when `child` (a real path) is `root` or inside it. */
export function isInside(root: string, child: string): boolean {
  const rel = relative(root, child)
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`))
}

/** Read a local image under the allowed root (see the file header for the rules). */
export async function readLocalImage(pathOrUrl: string, policy: ImagePolicy, where: string): Promise<Buffer> {
  const root = policy.allowedRoot
  if (!root) {
    throw new HttpError(403, 'ERR_PATH_FORBIDDEN', `Local image paths are disabled on this server (it was started without an allowed root); send the image as a data URL (${where})`)
  }
  let p: string
  if (pathOrUrl.startsWith('file:')) {
    try {
      p = fileURLToPath(pathOrUrl)
    } catch (e) {
      throw new HttpError(400, 'ERR_IMAGE_URL', `Expected a valid file:// URL but received ${JSON.stringify(pathOrUrl.slice(0, 200))}: ${(e as Error).message} (${where})`)
    }
  } else p = pathOrUrl
  if (p.includes('\0')) throw new HttpError(400, 'ERR_IMAGE_URL', `Expected an image path without NUL characters (${where})`)
  const lexical = resolve(root, p)
  const forbidden = () => new HttpError(403, 'ERR_PATH_FORBIDDEN', `Image path ${JSON.stringify(pathOrUrl.slice(0, 200))} is outside the allowed root of this server (${where})`)
  if (!isInside(root, lexical)) throw forbidden()
  let real: string
  try {
    real = await fsp.realpath(lexical)
  } catch {
    throw new HttpError(400, 'ERR_IMAGE_NOT_FOUND', `Image file ${JSON.stringify(pathOrUrl.slice(0, 200))} does not exist under the allowed root (${where})`)
  }
  if (!isInside(root, real)) throw forbidden()
  const notFile = () => new HttpError(400, 'ERR_IMAGE_NOT_FOUND', `Expected an image file but ${JSON.stringify(pathOrUrl.slice(0, 200))} is not a regular file (${where})`)
  // Before opening: opening a FIFO blocks a libuv thread until a writer comes; a device may never end.
  try {
    if (!(await fsp.stat(real)).isFile()) throw notFile()
  } catch (e) {
    if (e instanceof HttpError) throw e
    throw new HttpError(400, 'ERR_IMAGE_NOT_FOUND', `Image file ${JSON.stringify(pathOrUrl.slice(0, 200))} could not be read: ${(e as { code?: string }).code ?? 'error'} (${where})`)
  }
  let fh: fsp.FileHandle
  try {
    // O_NONBLOCK: should the path be swapped for a FIFO after the check, the open still returns at once.
    fh = await fsp.open(real, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0))
  } catch (e) {
    throw new HttpError(400, 'ERR_IMAGE_NOT_FOUND', `Image file ${JSON.stringify(pathOrUrl.slice(0, 200))} could not be opened: ${(e as { code?: string }).code ?? 'error'} (${where})`)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw notFile()
    if (st.size > policy.maxFileBytes) {
      throw new HttpError(400, 'ERR_IMAGE_TOO_LARGE', `Image file ${JSON.stringify(pathOrUrl.slice(0, 200))} has ${st.size} bytes; this server reads at most ${policy.maxFileBytes} (${where})`)
    }
    return await fh.readFile()
  } finally {
    await fh.close()
  }
}

/**
 * 'SVG', 'PDF' or SVGZ when the bytes are a vector document libvips would render (SVG is XML: text that starts,
 * after an optional BOM, spaces and comments or declarations, with `<svg` or `<?xml`), else undefined.
 */
export function vectorFormat(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 4096).toString('latin1')
  if (head.startsWith('%PDF')) return 'PDF'
  const t = head.replace(/^\ufeff|^\xef\xbb\xbf/, '').trimStart().toLowerCase()
  if (t.startsWith('<svg') || t.startsWith('<?xml') || (t.startsWith('<') && /<svg[\s>]/.test(t))) return 'SVG'
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip-compressed data (SVGZ)'
  return undefined
}

/** Bytes of an `image_url`, checked to be an image within the pixel limit. */
export async function resolveImageUrl(url: string, policy: ImagePolicy, where: string): Promise<Buffer> {
  let bytes: Buffer
  if (/^data:/i.test(url)) {
    if (!/^data:image\/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,/i.test(url)) {
      throw new HttpError(400, 'ERR_IMAGE_URL', `Expected a base64 image data URL (data:image/<type>;base64,...) but received ${describeImageSource(url)} (${where})`)
    }
    bytes = (await readImageSource(url)).bytes
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^file:/i.test(url)) {
    throw new HttpError(400, 'ERR_IMAGE_URL', `This server does not fetch remote images; send the image as a data URL instead of ${JSON.stringify(url.slice(0, 100))} (${where})`)
  } else {
    bytes = await readLocalImage(url, policy, where)
  }
  if (bytes.length === 0) throw new HttpError(400, 'ERR_IMAGE_DECODE', `The image is empty (0 bytes) (${where})`)
  const vector = vectorFormat(bytes)
  if (vector) {
    throw new HttpError(400, 'ERR_IMAGE_FORMAT', `Expected a raster image (PNG, JPEG, WebP, GIF, TIFF ...) but received ${vector}; this server does not rasterize vector images (${where})`)
  }
  try {
    const { header } = await openImage(bytes, { limitInputPixels: policy.maxImagePixels })
    if (header.width * header.height > policy.maxImagePixels) {
      throw new VrftError('ERR_IMAGE_TOO_LARGE', `Image of ${header.width}×${header.height} pixels is over this server's limit of ${policy.maxImagePixels} pixels`)
    }
  } catch (e) {
    if (e instanceof VrftError) {
      const msg = e.code === 'ERR_IMAGE_TOO_LARGE' && !e.message.includes('server') ? `Image is over this server's limit of ${policy.maxImagePixels} pixels` : e.message
      throw new HttpError(400, e.code, `${msg} (${where})`)
    }
    throw e
  }
  return bytes
}
