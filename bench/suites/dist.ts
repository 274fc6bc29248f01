/**
 * Data-parallel GRPO over c10d Gloo on loopback: step time and gradient all-reduce time per step with 2
 * ranks (each half the batch, 1 intra-op thread each) vs 1 rank with the whole batch (2 threads), same
 * global batch, same process tree. Scaling = completions/s with 2 ranks ÷ with 1 rank. The all-reduce
 * fraction of the step is the communication overhead.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initModel } from '../../lib/model/init-model.js'
import type { Row, Suite } from '../harness.js'

const worker = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'dist-worker.js')
const freePort = () => new Promise<number>((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)) }) })

async function ranks(world: number, args: string[], threads: number) {
  const port = await freePort()
  return Promise.all(Array.from({ length: world }, (_, rank) => new Promise<{ step: number; allreduce: number; completions: number }>((res, rej) => {
    const p = spawn(process.execPath, [worker, ...args], { env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), VRFT_NUM_THREADS: String(threads) }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => { out += d })
    p.on('exit', (code) => (code === 0 ? res(JSON.parse(out.trim().split('\n').pop()!)) : rej(new Error(`rank ${rank} exited with ${code}`))))
  })))
}

export const distSuite: Suite = {
  name: 'dist',
  async run(ctx) {
    const model = join(ctx.workdir, 'dist-tiny')
    await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 1 })
    const P = 4, steps = ctx.quick ? 3 : 6
    const one = (await ranks(1, [model, String(P), String(steps)], 2))[0]!
    const two = await ranks(2, [model, String(P), String(steps)], 1)
    const step2 = Math.max(...two.map((r) => r.step))
    const comm2 = Math.max(...two.map((r) => r.allreduce))
    const rate1 = (P * 4) / one.step, rate2 = (P * 4) / step2
    const rows: Row[] = [
      { bench: 'grpo step, 1 rank (tiny, 16 completions)', metric: 'completions/s', value: rate1 },
      { bench: 'grpo step, 2 ranks Gloo (tiny, 8+8)', metric: 'completions/s', value: rate2, baseline: { name: '1 rank', value: rate1 }, ratio: rate2 / rate1, notes: 'scaling from 1 to 2 ranks on this machine (2 cores: 2 threads vs 2×1 thread)' },
      { bench: 'gradient all-reduce per step (2 ranks)', metric: 's', value: comm2, notes: `${((comm2 / step2) * 100).toFixed(1)}% of the step` },
    ]
    return rows
  },
}
