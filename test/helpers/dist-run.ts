// Shared by the loopback data-parallel tests (dist-train, dist-loss): a free port, spawning `world` ranks of a
// worker script with the c10d environment, and the workers' small image prompt.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import type { EncodedPrompt } from '../../lib/train/types.js'

/** A free TCP port on loopback. */
export const freePort = () => new Promise<number>((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)) }) })

/** Runs `world` ranks of `worker` with `args` on loopback; each rank's exit code, stdout and stderr. */
export async function spawnRanks(worker: string, args: string[], world: number): Promise<Array<{ code: number | null; out: string; err: string }>> {
  const masterPort = await freePort()
  return Promise.all(Array.from({ length: world }, (_, rank) => new Promise<{ code: number | null; out: string; err: string }>((res) => {
    const p = spawn(process.execPath, [...process.execArgv, worker, ...args], {
      env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(masterPort), VRFT_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = '', err = ''
    p.stdout.on('data', (d) => { out += d })
    p.stderr.on('data', (d) => { err += d })
    p.on('exit', (code) => res({ code, out, err }))
  })))
}

/** Prompt k of the workers: a 4×4-patch image (4 image tokens) and two text tokens that depend on k. */
export function imagePrompt(k: number): EncodedPrompt {
  const ids = [151644, 8948, 198, 151652, 151655, 151655, 151655, 151655, 151653, 100 + k, 200 + k, 151645, 198, 151644, 77091, 198]
  const px = new Float32Array(16 * 1176)
  for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37 + k)
  return { inputIds: Int32Array.from(ids), pixelValues: [px], imageGridThw: [[1, 4, 4]] }
}
