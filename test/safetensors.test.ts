// safetensors I/O in native code: bit-exact round trips, sharded directories, dtype conversion, and a clear
// coded error for every kind of corrupt file; random/mutated headers never crash the process.
import { tempDir } from './tmp.js'
import t from 'tap'
import fc from 'fast-check'
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { native, type RawTensor } from '../lib/native/binding.js'
import { inspect } from '../lib/cli/commands/inspect.js'

const n = native()
const dir = tempDir('vrft-st-')

function randomBytes(count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count)
  let x = seed >>> 0 || 1
  for (let i = 0; i < count; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

const esize: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }
function tensor(name: string, dtype: RawTensor['dtype'], shape: number[], seed: number): RawTensor & { name: string } {
  const count = shape.reduce((a, b) => a * b, 1)
  const data = randomBytes(count * esize[dtype]!, seed)
  if (dtype === 'BOOL') for (let i = 0; i < data.length; i++) data[i] = data[i]! & 1
  return { name, dtype, shape, data }
}

/** Builds a safetensors file by hand (to make broken ones). */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Buffer {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header))
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length))
  return Buffer.concat([len, h, Buffer.from(data)])
}

t.test('round trip is bit-exact for every dtype (F32, BF16, F16 and the integer types)', async (t) => {
  const ts = [
    tensor('a.f32', 'F32', [3, 5], 1), tensor('b.bf16', 'BF16', [7], 2), tensor('c.f16', 'F16', [2, 2, 3], 3),
    tensor('d.i64', 'I64', [4], 4), tensor('e.i32', 'I32', [1, 3], 5), tensor('f.u8', 'U8', [9], 6),
    tensor('g.i8', 'I8', [2], 7), tensor('h.bool', 'BOOL', [5], 8), tensor('empty', 'F32', [0, 4], 9),
  ]
  const p = join(dir, 'all.safetensors')
  await n.safetensorsWrite(p, ts, { format: 'pt' })
  const h = await n.safetensorsHeader(p)
  t.same(h.metadata, { format: 'pt' })
  t.equal(h.tensors.length, ts.length)
  for (const x of ts) {
    const back = await n.safetensorsReadTensor(p, x.name)
    t.equal(back.dtype, x.dtype, `${x.name} dtype`)
    t.same(back.shape, x.shape, `${x.name} shape`)
    t.ok(Buffer.from(back.data).equals(Buffer.from(x.data)), `${x.name} bytes identical`)
  }
  // data section is 8-byte aligned and no temp file is left behind
  const len = Number(readFileSync(p).readBigUInt64LE(0))
  t.equal((8 + len) % 8, 0)
  t.same(readdirSync(dir).filter((f) => f.includes('.tmp')), [])
})

t.test('dtype conversion on load', async (t) => {
  const p = join(dir, 'conv.safetensors')
  const f = new Float32Array([1.5, -2.25, 3.0, 65504])
  await n.safetensorsWrite(p, [{ name: 'x', dtype: 'F32', shape: [4], data: new Uint8Array(f.buffer) }])
  const bf = await n.safetensorsReadTensor(p, 'x', 'BF16')
  t.equal(bf.dtype, 'BF16')
  const u16 = new Uint16Array(bf.data.buffer, bf.data.byteOffset, 4)
  // bf16 of 1.5 is 0x3fc0, of -2.25 is 0xc010
  t.equal(u16[0], 0x3fc0)
  t.equal(u16[1], 0xc010)
  const back = await n.safetensorsReadTensor(p, 'x', 'F64')
  t.same(Array.from(new Float64Array(back.data.buffer, back.data.byteOffset, 4)), [1.5, -2.25, 3, 65504])
})

t.test('a sharded directory loads through model.safetensors.index.json', async (t) => {
  const d = join(dir, 'sharded')
  const ts = Array.from({ length: 6 }, (_, i) => tensor(`layer.${i}.w`, 'F32', [16, 16], 10 + i))
  await n.safetensorsWriteSharded(d, ts, 2500)
  t.ok(existsSync(join(d, 'model.safetensors.index.json')))
  const ck = await n.checkpointInfo(d)
  t.ok(ck.files.length >= 3, `${ck.files.length} shards`)
  t.equal(ck.tensors.length, 6)
  for (const x of ts) {
    const where = ck.tensors.find((e) => e.name === x.name)!
    const back = await n.safetensorsReadTensor(where.file, x.name)
    t.ok(Buffer.from(back.data).equals(Buffer.from(x.data)), `${x.name} from ${where.file}`)
  }
  const r = await inspect(d)
  t.equal(r.parameters, 6 * 256)
  t.same(r.dtypes, { F32: 1536 })
})

t.test('each corrupt-file case has its own clear error, and the process stays alive', async (t) => {
  const good = rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8))
  const cases: Array<[string, Buffer, string, RegExp]> = [
    ['zero-byte', Buffer.alloc(0), 'ERR_SAFETENSORS_TRUNCATED', /at least 8 bytes/],
    ['truncated header', good.subarray(0, 20), 'ERR_SAFETENSORS_TRUNCATED', /file truncated/],
    ['truncated data', good.subarray(0, good.length - 3), 'ERR_SAFETENSORS_TRUNCATED', /need 8 bytes of data but the file holds 5/],
    ['bad JSON', rawFile('{"w": {', new Uint8Array(0)), 'ERR_SAFETENSORS_HEADER', /does not parse/],
    ['huge header length', rawFile('{}', new Uint8Array(0), 1n << 40n), 'ERR_SAFETENSORS_HEADER', /header length/],
    ['header not an object', rawFile('[1,2]', new Uint8Array(0)), 'ERR_SAFETENSORS_HEADER', /JSON object/],
    ['missing fields', rawFile({ w: { dtype: 'F32' } }, new Uint8Array(0)), 'ERR_SAFETENSORS_HEADER', /dtype, shape and data_offsets/],
    ['unknown dtype', rawFile({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'ERR_SAFETENSORS_DTYPE', /found 'F8'/],
    ['shape/byte mismatch', rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), 'ERR_SAFETENSORS_SHAPE', /needs 12 bytes .* hold 8/],
    ['offsets outside the file', rawFile({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [100, 104] } }, new Uint8Array(8)), 'ERR_SAFETENSORS_OFFSETS', /outside the 8-byte data section/],
    ['reversed offsets', rawFile({ w: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), 'ERR_SAFETENSORS_OFFSETS', /begin <= end/],
    ['overlapping tensors', rawFile({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, new Uint8Array(8)), 'ERR_SAFETENSORS_OFFSETS', /overlap/],
  ]
  for (const [name, bytes, code, msg] of cases) {
    const p = join(dir, `bad-${name.replace(/\W+/g, '-')}.safetensors`)
    writeFileSync(p, bytes)
    await t.rejects(n.safetensorsHeader(p), { code, message: msg }, name)
    await t.rejects(n.safetensorsReadTensor(p, 'w'), { code }, `${name} (read)`)
  }
  await t.rejects(n.safetensorsHeader(join(dir, 'missing.safetensors')), { code: 'ERR_IO_READ', message: /missing\.safetensors/ })
  const p = join(dir, 'good.safetensors')
  writeFileSync(p, good)
  await t.rejects(n.safetensorsReadTensor(p, 'nope'), { code: 'ERR_WEIGHTS_MISSING', message: /'nope'/ })
  t.equal((await n.safetensorsHeader(p)).tensors.length, 1, 'still working afterwards')
})

t.test('bad write arguments are typed errors', async (t) => {
  t.throws(() => n.safetensorsWrite(join(dir, 'x.safetensors'), [{ name: 'x', dtype: 'F32', shape: [3], data: new Uint8Array(8) }]),
    { code: 'ERR_INVALID_ARG', name: 'RangeError', message: /Expected 12 bytes .* received 8/ })
  t.throws(() => n.safetensorsWrite(join(dir, 'x.safetensors'), [{ name: 'x', dtype: 'Q4' as never, shape: [1], data: new Uint8Array(1) }]),
    { code: 'ERR_SAFETENSORS_DTYPE' })
  await t.rejects(n.safetensorsWrite('/proc/nope/x.safetensors', [tensor('x', 'U8', [1], 1)]), { code: 'ERR_IO_WRITE' })
})

t.test('random and mutated header bytes never crash the process (fuzz)', async (t) => {
  const good = rawFile({ __metadata__: { a: 'b' }, w: { dtype: 'F32', shape: [2, 1], data_offsets: [0, 8] }, v: { dtype: 'U8', shape: [3], data_offsets: [8, 11] } }, new Uint8Array(11))
  const allowed = /^ERR_SAFETENSORS_(TRUNCATED|HEADER|OFFSETS|SHAPE|DTYPE)$/
  let errors = 0
  const check = (bytes: Uint8Array) => {
    try {
      n.safetensorsParseHeader(bytes)
    } catch (e) {
      errors++
      if (!allowed.test((e as { code?: string }).code ?? '')) throw e
    }
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => { check(b) }), { numRuns: 500 })
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(good.length), (muts, cut) => {
    const b = new Uint8Array(good)
    for (const [i, v] of muts) b[i] = v
    check(b.subarray(0, Math.max(cut, 0)))
    check(b)
  }), { numRuns: 1000 })
  t.ok(errors > 0, `${errors} inputs rejected with a coded error, none crashed`)
  t.equal(n.safetensorsParseHeader(good).tensors.length, 2)
})
