/**
 * Deterministic data order and seeds. The order of a data set of n records is a fresh Fisher–Yates
 * permutation per epoch, seeded by (seed, epoch), so position p always maps to the same record: resuming
 * needs only the position. Per-step sampling seeds derive from (seed, step) the same way.
 */

import { permutation, seededRandom } from '../data/random.js'

/** A small, fast, seedable PRNG (mulberry32): the data module's generator, one implementation for both. */
export const mulberry32 = seededRandom
export { permutation }

/** Mix two integers into one 32-bit seed (splitmix-style). */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0x85ebca6b)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad) >>> 0
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97) >>> 0
  return (h ^ (h >>> 15)) >>> 0
}

/** Epoch-wise shuffled order over n records: `at(position)` → record index. */
export class DataOrder {
  readonly n: number
  readonly seed: number
  readonly shuffle: boolean
  private epoch = -1
  private perm: Uint32Array = new Uint32Array(0)
  constructor(n: number, seed: number, shuffle = true) {
    if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`Expected a non-empty data set but it has ${n} records`)
    this.n = n
    this.seed = seed
    this.shuffle = shuffle
  }
  /** Record index at global position `pos` (≥ 0). */
  at(pos: number): number {
    if (!this.shuffle) return pos % this.n
    const e = Math.floor(pos / this.n)
    if (e !== this.epoch) {
      this.perm = permutation(this.n, mixSeed(this.seed, e))
      this.epoch = e
    }
    return this.perm[pos % this.n]!
  }
  /** Indices at positions [from, from + count). */
  slice(from: number, count: number): number[] {
    const out: number[] = []
    for (let i = 0; i < count; i++) out.push(this.at(from + i))
    return out
  }
}
