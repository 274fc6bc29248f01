#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [--size tiny|small|2b|3b|7b] [--arch qwen2-vl|qwen3-vl] [--only a,b] [--device cpu|cuda]
 * [--dtype float32|bfloat16] [--model DIR]`: runs the
 * benchmark suite, prints a readable table, then one JSON line, and writes the result to bench/results/.
 * --quick runs everything at `tiny` size in well under two minutes (CI uses it; no thresholds there).
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatTable, machineInfo, measureLimits, peakRss, type Context, type Row, type Suite } from './harness.js'
import { suites } from './suites/index.js'
import { native } from '../lib/native/binding.js'

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      size: { type: 'string' },
      only: { type: 'string' },
      device: { type: 'string' },
      out: { type: 'string' },
      arch: { type: 'string' },
      dtype: { type: 'string' },
      model: { type: 'string' },
    },
  })
  const quick = values.quick!
  const size = (values.size ?? (quick ? 'tiny' : 'small')) as Context['size']
  if (!['tiny', 'small', '2b', '3b', '7b'].includes(size)) throw new Error(`Expected --size tiny|small|2b|3b|7b but received ${size}`)
  const arch = (values.arch ?? 'qwen2-vl') as Context['arch']
  if (!['qwen2-vl', 'qwen3-vl'].includes(arch)) throw new Error(`Expected --arch qwen2-vl|qwen3-vl but received ${arch}`)
  const info = native().runtimeInfo()
  const device = values.device ?? (info.cudaAvailable ? 'cuda' : 'cpu')
  const dtype = (values.dtype ?? (device.startsWith('cuda') ? 'bfloat16' : 'float32')) as Context['dtype']
  if (dtype !== 'float32' && dtype !== 'bfloat16') throw new Error(`Expected --dtype float32|bfloat16 but received ${dtype}`)
  const limits = await measureLimits(device, dtype, quick)
  const ctx: Context = { size, arch, quick, device, dtype, limits, workdir: mkdtempSync(join(tmpdir(), 'vrft-bench-')), ...(values.model ? { modelDir: resolve(values.model) } : {}) }
  const only = values.only?.split(',')
  const chosen: Suite[] = only ? suites.filter((s) => only.includes(s.name)) : suites
  const rows: Row[] = []
  const errors: Record<string, string> = {}
  // The suites write checkpoints and images here (hundreds of MB at `small`); removed at the end.
  process.on('exit', () => rmSync(ctx.workdir, { recursive: true, force: true }))
  for (const s of chosen) {
    const t0 = performance.now()
    try {
      const r = await s.run(ctx)
      rows.push(...r)
      console.error(`[bench] ${s.name}: ${r.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    } catch (e) {
      errors[s.name] = (e as Error).message
      console.error(`[bench] ${s.name} FAILED: ${(e as Error).stack}`)
    }
  }
  const result = { machine: machineInfo(), command: process.argv.slice(1).join(' '), size, arch, device, dtype, limits, peakRssBytes: peakRss(), rows, errors }
  console.log(formatTable(rows))
  console.log(JSON.stringify(result))
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
  const outDir = values.out ?? join(root, 'bench', 'results')
  mkdirSync(outDir, { recursive: true })
  const file = join(outDir, `${quick ? 'quick' : 'run'}-${size}${arch === 'qwen2-vl' ? '' : `-${arch}`}-${device}-${dtype}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file + '.tmp', JSON.stringify(result, null, 2))
  renameSync(file + '.tmp', file)
  console.error(`[bench] wrote ${file}`)
  if (Object.keys(errors).length) process.exitCode = 1
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
