/**
 * Image preprocessing throughput (images/s) of lib/model/preprocess.ts at two model input sizes, 448² and
 * 1344² (256 and 2304 image tokens). Inputs: synthetic photos-like JPEGs (gradients + noise, quality 90)
 * at twice the target side, with max_pixels = target² so smart_resize lands exactly on the target.
 *
 * Rows per size:
 *   1. end to end `preprocessImage` (decode + PIL-exact bicubic resize in JS + normalise + patchify) vs the
 *      same call with `exactResizeMaxPixels: 0`, which makes sharp (libvips, multi-threaded, approximate)
 *      shrink while decoding: the ratio is the price of byte-for-byte PIL parity (< 1 expected);
 *   2. `preprocessRgb` alone on the decoded raster (the single-threaded JS part, timed in CPU seconds so a
 *      loaded machine does not skew it): bytes moved per second (read the u8 raster, write the resized u8
 *      raster and the float32 pixel_values) as a fraction of the measured memory bandwidth.
 *
 * Run alone: node dist/bench/run.js --only preprocess
 */
import sharp from 'sharp'
import { decodeImage } from '../../lib/model/images.js'
import { preprocessImage, preprocessRgb, resolvePreprocessorConfig, smartResize } from '../../lib/model/preprocess.js'
import { type Context, type Row, type Suite, spreadOf, time } from '../harness.js'
import { loadNote, timeCpu } from './cputime.js'
import { rng } from './rewards.js'

/** A JPEG of `w`×`h`: smooth colour gradients plus ±24 levels of noise (so it neither compresses to nothing nor is pure noise). */
export async function syntheticJpeg(w: number, h: number, seed = 5): Promise<Buffer> {
  const r = rng(seed)
  const raw = Buffer.alloc(w * h * 3)
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const n = (r() - 0.5) * 48
      raw[i++] = Math.max(0, Math.min(255, 128 + 100 * Math.sin(x / 37) + n))
      raw[i++] = Math.max(0, Math.min(255, 128 + 100 * Math.cos(y / 53) + n))
      raw[i++] = Math.max(0, Math.min(255, ((x + y) * 255) / (w + h) + n))
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer()
}

export const preprocessSuite: Suite = {
  name: 'preprocess',
  async run(ctx: Context): Promise<Row[]> {
    const rows: Row[] = []
    for (const side of [448, 1344]) {
      const cfg = resolvePreprocessorConfig({}, { maxPixels: side * side })
      const inSide = side * 2
      const [th, tw] = smartResize(inSide, inSide, { factor: 28, minPixels: cfg.minPixels, maxPixels: cfg.maxPixels })
      if (th !== side || tw !== side) throw new Error(`preprocess: smart_resize gave ${th}x${tw} instead of ${side}x${side}`)
      const jpeg = await syntheticJpeg(inSide, inSide)
      const big = side > 448
      const reps = { warmup: 1, reps: ctx.quick ? (big ? 2 : 3) : big ? 5 : 10 }

      let tokens = 0
      const tExact = await time(async () => { tokens = (await preprocessImage(jpeg, cfg)).numImageTokens }, reps)
      let approx = false
      const tSharp = await time(async () => { approx = (await preprocessImage(jpeg, cfg, { exactResizeMaxPixels: 0 })).approximateResize }, reps)
      if (!approx) throw new Error('preprocess: exactResizeMaxPixels: 0 did not take the sharp resize path')
      rows.push({
        bench: `preprocess ${side}x${side} (${tokens} tokens) from a ${inSide}x${inSide} JPEG: end to end, PIL-exact resize`,
        metric: 'images/s', value: 1 / tExact.median, spread: spreadOf(tExact),
        baseline: { name: 'sharp resize while decoding (approximate)', value: 1 / tSharp.median }, ratio: tSharp.median / tExact.median,
        notes: `JPEG ${(jpeg.length / 1024).toFixed(0)} KiB; sharp/libvips uses its own threads, the exact resize is one JS thread`,
      })

      const rgb = await decodeImage(jpeg)
      let outBytes = 0
      const tRgb = await timeCpu(() => { outBytes = preprocessRgb(rgb, cfg).pixelValues.byteLength }, reps)
      const tCpu = tRgb.cpu
      const bytes = rgb.data.byteLength + side * side * 3 + outBytes // read input, the u8 resized raster, write float32 patches
      const bps = bytes / tCpu.median
      rows.push({
        bench: `preprocess ${side}x${side}: preprocessRgb only (resize + normalise + patchify, 1 JS thread, CPU time)`,
        metric: 'images/s', value: 1 / tCpu.median, spread: spreadOf(tCpu),
        utilization: { of: 'memory bandwidth', fraction: bps / ctx.limits.bandwidth },
        notes: `per CPU-second (wall clock ${(1 / tRgb.wall.median).toFixed(2)} images/s, ${loadNote()}); ${(bps / 1e9).toFixed(2)} GB/s of ${(bytes / 2 ** 20).toFixed(1)} MiB moved per image (u8 in + resized u8 + f32 out); compute-bound in JS, the roofline is a ceiling, not a goal`,
      })
    }
    return rows
  },
}
