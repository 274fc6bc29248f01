// The real torchrun across two network namespaces ("hosts" vrft-h0 10.231.0.1 and vrft-h1 10.231.0.2, see
// test/multihost/hosts.ts), with the flags the README's multi-node section gives:
// - 3 GRPO steps on 2 hosts x 2 ranks give the parameters of 1 process with the same global batch (float32
//   tolerance), as test/dist-train.test.ts checks on loopback; Gloo binds to eth0, the interface that
//   reaches MASTER_ADDR (torchrun sets it to rank 0's host name), without GLOO_SOCKET_IFNAME;
// - `--max_restarts 1`: rank 1's process is SIGKILLed once checkpoint-2 exists (of 6 steps), torchrun restarts
//   both hosts' workers, `vrft-native train --resume` continues from the last checkpoint (2 or 4), and the
//   final parameters equal an uninterrupted 2-rank run that saved at the same steps.
// Needs root, iproute2 and torchrun (python3-torch); skipped, saying why, otherwise.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { initModel } from '../lib/model/init-model.js'
import { createTinyModel } from '../lib/app/tiny.js'
import { tempDir } from './tmp.js'
import { createHosts, skipReason } from './multihost/hosts.js'
import { compareModels, TORCHRUN, torchrunArgs, trainArgv, writeData } from './multihost/run.js'

const hasTorchrun = spawnSync(TORCHRUN, ['--help'], { encoding: 'utf8' }).status === 0
const why = skipReason() ?? (hasTorchrun ? undefined : `multi-host torchrun tests need ${TORCHRUN} (Debian: python3-torch)`)
const env: NodeJS.ProcessEnv = { ...process.env, VRFT_NUM_THREADS: '1', VRFT_DIST_TIMEOUT_MS: '10000' }
delete env.GLOO_SOCKET_IFNAME
const worker = join(import.meta.dirname, 'helpers', 'dist-train-worker.ts')

type Sums = { rank: number; sums: Record<string, [number, number]>; allreduce: number; host: string; gloo: string | null; master: string }
/** The JSON line of each rank in `out` (torchrun prefixes worker lines with `[default<local rank>]:`). */
const results = (out: string) => out.split('\n').filter((l) => l.includes('{"rank"')).map((l) => JSON.parse(l.replace(/^.*?(?=\{"rank")/, '')) as Sums)

if (why) t.plan(0, why)
else {
  t.test('torchrun, 2 hosts x 2 ranks: 3 steps equal 1 process with the same global batch', async (t) => {
    const dir = tempDir('vrft-mh-')
    const model = join(dir, 'tiny')
    await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 3 })
    const one = spawnSync(process.execPath, [...process.execArgv, worker, model], { encoding: 'utf8', env: { ...env, WORLD_SIZE: '1', RANK: '0' }, timeout: 120000 })
    t.equal(one.status, 0, '1 process, whole batch') || t.comment(one.stderr.slice(-2000))
    const h = createHosts(t, 2)
    const o = { nnodes: 2, nprocPerNode: 2, endpoint: `${h.addr(0)}:29400`, runId: 'parity' }
    const runs = [0, 1].map((i) => h.spawn(i, TORCHRUN, torchrunArgs(o, process.execPath, [...process.execArgv, worker, model]), env))
    const ends = await Promise.all(runs.map((r) => r.exited))
    ends.forEach((e, i) => t.equal(e.code, 0, `host ${i}: torchrun exits 0`) || t.comment(runs[i]!.output().slice(-3000)))
    const ref = results(one.stdout)[0]!
    const ranks = [...results(runs[0]!.output()), ...results(runs[1]!.output())].sort((a, b) => a.rank - b.rank)
    t.same(ranks.map((r) => [r.rank, r.host]), [[0, 'vrft-h0'], [1, 'vrft-h0'], [2, 'vrft-h1'], [3, 'vrft-h1']], 'two ranks per host')
    t.ok(ranks.every((r) => r.allreduce > 0), `all-reduce measured: ${ranks.map((r) => r.allreduce.toFixed(3)).join(', ')} s`)
    let worst = 0
    for (const [name, [s, q]] of Object.entries(ref.sums)) {
      for (const other of ranks) {
        const [s2, q2] = other.sums[name]!
        worst = Math.max(worst, Math.abs(q2 - q) / Math.max(1e-6, Math.abs(q)), Math.abs(s2 - s) / Math.max(1, Math.abs(s)))
      }
    }
    t.ok(Object.keys(ref.sums).length > 10, 'compared every trainable tensor')
    t.ok(worst < 1e-4, `max relative difference of parameter sums ${worst.toExponential(2)}`)
    for (const r of ranks.slice(1)) t.same(r.sums, ranks[0]!.sums, `rank ${r.rank} holds the parameters of rank 0 bit for bit`)
    t.same(ranks.map((r) => r.master), ['vrft-h0', 'vrft-h0', 'vrft-h0', 'vrft-h0'], 'torchrun set MASTER_ADDR to rank 0\'s host name')
    t.same(ranks.map((r) => r.gloo), ['eth0', 'eth0', 'eth0', 'eth0'], 'Gloo bound to eth0, the interface that reaches MASTER_ADDR (GLOO_SOCKET_IFNAME unset)')
    t.same([h.pids(0), h.pids(1)], [[], []], 'nothing left running on either host')
  })

  t.test('torchrun --max_restarts 1: a killed rank restarts the group, training resumes from the last checkpoint', async (t) => {
    const dir = tempDir('vrft-mh-restart-')
    const model = join(dir, 'tiny')
    await createTinyModel(model, 0)
    const data = await writeData(join(dir, 'data'))
    const extra = ['--max-steps', '6', '--save-every', '2', '--keep-checkpoints', '4', '--check-every', '1', '--resume']
    // reference: the same 2 ranks, uninterrupted, on loopback (--nproc 2); saves at steps 2, 4 and 6 as well
    const refDir = join(dir, 'ref')
    const ref = await new Promise<{ code: number | null; err: string }>((res) => {
      const p = spawn(process.execPath, [...trainArgv(model, data, refDir, extra), '--nproc', '2'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
      let err = ''
      p.stderr.on('data', (d) => { err += d })
      p.on('close', (code) => res({ code, err }))
    })
    t.equal(ref.code, 0, 'uninterrupted reference run') || t.comment(ref.err.slice(-2000))
    const h = createHosts(t, 2)
    const runDir = join(dir, 'run')
    const o = { nnodes: 2, nprocPerNode: 1, endpoint: `${h.addr(0)}:29400`, runId: 'restart', maxRestarts: 1, rdzvConf: 'read_timeout=20' }
    const runs = [0, 1].map((i) => h.spawn(i, TORCHRUN, torchrunArgs(o, process.execPath, trainArgv(model, data, runDir, extra)), env))
    // kill rank 1's worker (not its torchrun agent) once rank 0 has saved checkpoint-2, before the last step
    const t0 = Date.now()
    while (!existsSync(join(runDir, 'checkpoint-2', 'trainer_state.json')) && Date.now() - t0 < 240000) await new Promise((r) => setTimeout(r, 50))
    t.notOk(existsSync(join(runDir, 'checkpoint-6')), 'killed before the run ended')
    const workers = h.pids(1).filter((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] === process.execPath } catch { return false } })
    t.equal(workers.length, 1, 'found rank 1\'s worker process on host 1')
    for (const p of workers) process.kill(p, 'SIGKILL')
    const ends = await Promise.all(runs.map((r) => r.exited))
    ends.forEach((e, i) => t.equal(e.code, 0, `host ${i}: torchrun exits 0 after one restart`) || t.comment(runs[i]!.output().slice(-4000)))
    const out0 = runs[0]!.output(), out1 = runs[1]!.output()
    t.match(out1, /failed \(exitcode: -9\) local_rank: 0/, 'torchrun on host 1 saw its worker killed')
    t.equal(out1.match(/rank 1 of 2 joined from vrft-h1/g)?.length, 2, 'and started it again: rank 1 joined twice')
    t.equal(out0.match(/rank 0 of 2 joined from vrft-h0/g)?.length, 2, 'torchrun on host 0 restarted rank 0 too')
    t.match(out0, /resuming from .*checkpoint-[24] \(step [24]/, 'rank 0 resumed from the last checkpoint')
    t.match(out1, /resuming from .*checkpoint-[24] \(step [24]/, 'rank 1 resumed from the last checkpoint')
    const state = JSON.parse(readFileSync(join(runDir, 'checkpoint-6', 'trainer_state.json'), 'utf8')) as { step: number }
    t.equal(state.step, 6)
    const cmp = compareModels(join(refDir, 'checkpoint-6', 'model'), join(runDir, 'checkpoint-6', 'model'))
    t.same(cmp.missing, [], 'same tensors')
    t.ok(cmp.count > 10, `${cmp.count} tensors compared`)
    t.ok(cmp.worst < 1e-5, `final parameters equal the uninterrupted run (max relative difference ${cmp.worst.toExponential(2)})`)
    t.same([h.pids(0), h.pids(1)], [[], []], 'nothing left running on either host')
  })
}
