/**
 * A tiny NumPy .npy (v1/v2/v3, little-endian, C order) reader for tests and tools; `.gz` files are
 * gunzipped first. Supports float32, float64, int32, int64 (BigInt64Array), uint8, bool.
 */
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { VrftError } from '../errors.js'

/** A parsed array: typed data, shape and the NumPy dtype string. */
export interface NpyArray {
  dtype: string
  shape: number[]
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array
}

/** Parse .npy bytes. */
export function parseNpy(buf: Uint8Array, where = '<buffer>'): NpyArray {
  const bad = (m: string): never => { throw new VrftError('ERR_NPY', `Expected a NumPy .npy file in ${where} but ${m}`) }
  if (buf.length < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY') bad('the magic is missing')
  const major = buf[6]!
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true)
  const hstart = major === 1 ? 10 : 12
  const header = new TextDecoder().decode(buf.subarray(hstart, hstart + hlen))
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? bad('the header has no descr')
  if (/'fortran_order':\s*True/.test(header)) bad('it is in Fortran order')
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? bad('the header has no shape')
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  const count = shape.reduce((a, b) => a * b, 1)
  const off = hstart + hlen
  const bytes = Uint8Array.prototype.slice.call(buf, off)  // a copy (Buffer#slice would be a view), aligned at 0
  const need = (n: number) => { if (bytes.byteLength < count * n) bad(`the data holds ${bytes.byteLength} bytes, fewer than ${count * n}`) }
  switch (descr) {
    case '<f4': need(4); return { dtype: descr, shape, data: new Float32Array(bytes.buffer, 0, count) }
    case '<f8': need(8); return { dtype: descr, shape, data: new Float64Array(bytes.buffer, 0, count) }
    case '<i4': need(4); return { dtype: descr, shape, data: new Int32Array(bytes.buffer, 0, count) }
    case '<i8': need(8); return { dtype: descr, shape, data: new BigInt64Array(bytes.buffer, 0, count) }
    case '|u1': case '|b1': need(1); return { dtype: descr, shape, data: new Uint8Array(bytes.buffer, 0, count) }
    default: return bad(`its dtype ${descr} is not supported`)
  }
}

/** Read a .npy or .npy.gz file. */
export function readNpy(path: string): NpyArray {
  let buf: Uint8Array = readFileSync(path)
  if (path.endsWith('.gz')) buf = gunzipSync(buf)
  return parseNpy(buf, path)
}

/** Read as numbers (int64 converted with Number()). */
export function npyToNumbers(a: NpyArray): number[] {
  return a.data instanceof BigInt64Array ? Array.from(a.data, Number) : Array.from(a.data as ArrayLike<number>)
}
