// Faults of a 2-host data-parallel run (`vrft-native train`, one rank per host, launched as Slurm or any
// launcher would: RANK/WORLD_SIZE/MASTER_ADDR set by hand) across network namespaces (test/multihost/).
// Each fault ends within a stated bound, with an error naming the rank at fault, and leaves no process on
// either host. The collective timeout is VRFT_DIST_TIMEOUT_MS = TIMEOUT below; the bounds:
// - host 1's processes SIGKILLed mid-run: host 0 ends with ERR_DIST_RANK_DIED naming rank 1 within
//   BOUND (the dead peer's sockets close at once; naming it waits 2.5 s for its heartbeat);
// - host 1's link taken down mid-run: host 0 ends naming rank 1, host 1 naming rank 0, each within one
//   collective timeout plus the heartbeat check, plus one store timeout on host 1: 2 TIMEOUT + BOUND;
// - host 1 stalled (SIGSTOP) longer than the collective timeout: host 0 ends naming rank 1 after
//   TIMEOUT and within TIMEOUT + BOUND; host 1, resumed (SIGCONT), ends within BOUND;
// - the rendezvous endpoint unreachable at start: `vrft-native train` ends with ERR_DIST_RENDEZVOUS
//   naming the address within TIMEOUT + BOUND, and torchrun with its RendezvousConnectionError within
//   its read_timeout + BOUND.
// Needs root and iproute2 (and torchrun for the last case); skipped, saying why, otherwise.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTinyModel } from '../lib/app/tiny.js'
import { tempDir } from './tmp.js'
import { createHosts, skipReason, type Hosts, type HostProc } from './multihost/hosts.js'
import { TORCHRUN, torchrunArgs, trainArgv, writeData } from './multihost/run.js'

const TIMEOUT = 6000      // VRFT_DIST_TIMEOUT_MS of these runs
const BOUND = 20000       // slack for detection, naming the rank and exiting, on a loaded 2-core machine
const why = skipReason()
const env: NodeJS.ProcessEnv = { ...process.env, VRFT_NUM_THREADS: '1', VRFT_DIST_TIMEOUT_MS: String(TIMEOUT) }
delete env.GLOO_SOCKET_IFNAME

let model = '', data = ''
async function fixtures() {
  if (model) return
  const dir = tempDir('vrft-mh-faults-')
  model = join(dir, 'tiny')
  await createTinyModel(model, 0)
  data = await writeData(join(dir, 'data'))
}

/** Starts rank i on host i (2 ranks, rendezvous on host 0) for many steps; resolves once step 1 is done. */
async function start(h: Hosts, masterAddr = h.addr(0)): Promise<{ runs: HostProc[]; runDir: string }> {
  await fixtures()
  const runDir = join(tempDir('vrft-mh-run-'), 'run')
  const runs = [0, 1].map((i) => h.spawn(i, process.execPath, trainArgv(model, data, runDir, ['--max-steps', '500', '--save-every', '0', '--check-every', '0']),
    { ...env, RANK: String(i), LOCAL_RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: masterAddr, MASTER_PORT: '29500' }))
  const metrics = join(runDir, 'metrics.jsonl')
  const t0 = Date.now()
  while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"step":1'))) {
    if (Date.now() - t0 > 240000) throw new Error(`no step within 240 s:\n${runs[0]!.output().slice(-2000)}\n${runs[1]!.output().slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return { runs, runDir }
}

/** Waits for `p` to end, at most `ms` (then reports and kills it so the test ends). */
async function endsWithin(t: Test, p: HostProc, ms: number, what: string) {
  const t0 = Date.now()
  const timer = new Promise<null>((r) => setTimeout(() => r(null), ms))
  const e = await Promise.race([p.exited, timer])
  if (!e) { t.fail(`${what}: still running after ${ms} ms`); t.comment(p.output().slice(-2000)); p.proc.kill('SIGKILL'); return p.exited }
  t.pass(`${what}: ended ${((Date.now() - t0) / 1000).toFixed(1)} s after the fault (bound ${ms / 1000} s) with ${e.signal ?? `code ${e.code}`}`)
  return e
}

if (why) t.plan(0, why)
else {
  t.test('a host SIGKILLed mid-run: the other ends naming its rank', async (t) => {
    const h = createHosts(t, 2)
    const { runs } = await start(h)
    const killed = Date.now()
    t.ok(h.signal(1, 'SIGKILL') > 0, 'host 1 killed')
    const e = await endsWithin(t, runs[0]!, BOUND, 'host 0')
    t.equal(e.code, 1, 'host 0 fails')
    t.match(runs[0]!.output(), /rank 0: .* failed because rank\(s\) 1 stopped responding .*\[ERR_DIST_RANK_DIED\]/, 'the error names rank 1')
    t.ok(Date.now() - killed < BOUND)
    t.same([h.pids(0), h.pids(1)], [[], []], 'nothing left running on either host')
  })

  t.test('a host whose link goes down mid-run: neither side hangs', async (t) => {
    const h = createHosts(t, 2)
    const { runs } = await start(h)
    h.linkDown(1)
    const [e0, e1] = await Promise.all([endsWithin(t, runs[0]!, 2 * TIMEOUT + BOUND, 'host 0'), endsWithin(t, runs[1]!, 2 * TIMEOUT + BOUND, 'host 1 (cut off)')])
    t.equal(e0.code, 1, 'host 0 fails')
    t.equal(e1.code, 1, 'host 1 fails')
    t.match(runs[0]!.output(), /rank 0: .*rank\(s\) 1 stopped responding.*\[ERR_DIST_RANK_DIED\]/, 'host 0 names rank 1') || t.comment(runs[0]!.output().slice(-1500))
    t.match(runs[1]!.output(), /rank 1: .*rank\(s\) 0 stopped responding.*\[ERR_DIST_RANK_DIED\]/, 'host 1 names rank 0 (it cannot reach it)') || t.comment(runs[1]!.output().slice(-1500))
    t.same([h.pids(0), h.pids(1)], [[], []], 'nothing left running on either host')
  })

  t.test('a host stalled (SIGSTOP) past the collective timeout: the other ends naming it; resumed, it ends too', async (t) => {
    const h = createHosts(t, 2)
    const { runs } = await start(h)
    const stopped = Date.now()
    t.ok(h.signal(1, 'SIGSTOP') > 0, 'host 1 stalled')
    const e0 = await endsWithin(t, runs[0]!, TIMEOUT + BOUND, 'host 0')
    t.ok(Date.now() - stopped >= TIMEOUT * 0.9, 'host 0 waited for the collective timeout, not less')
    t.equal(e0.code, 1, 'host 0 fails')
    t.match(runs[0]!.output(), /rank 0: .*rank\(s\) 1 stopped responding \(process died or hung\).*\[ERR_DIST_RANK_DIED\]/, 'the error names rank 1') || t.comment(runs[0]!.output().slice(-1500))
    h.signal(1, 'SIGCONT')
    const e1 = await endsWithin(t, runs[1]!, BOUND, 'host 1 after SIGCONT')
    t.equal(e1.code, 1, 'host 1 fails once resumed (its peer is gone)')
    t.match(runs[1]!.output(), /\[ERR_DIST_[A-Z_]+\]/, 'with a distributed error') || t.comment(runs[1]!.output().slice(-1500))
    t.same([h.pids(0), h.pids(1)], [[], []], 'nothing left running on either host')
  })

  t.test('the rendezvous endpoint (MASTER_ADDR) unreachable at start', async (t) => {
    await fixtures()
    const h = createHosts(t, 2)
    const nowhere = '10.231.0.200'  // in the hosts' subnet, no host answers
    const run = h.spawn(1, process.execPath, trainArgv(model, data, join(tempDir('vrft-mh-run-'), 'run'), ['--max-steps', '1']),
      { ...env, RANK: '1', LOCAL_RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: nowhere, MASTER_PORT: '29500' })
    const e = await endsWithin(t, run, TIMEOUT + BOUND, 'vrft-native train, rank 1')
    t.equal(e.code, 1)
    t.match(run.output(), new RegExp(`rank 1 could not reach the rendezvous at ${nowhere.replace(/\./g, '\\.')}:29500 within ${TIMEOUT} ms .*\\[ERR_DIST_RENDEZVOUS\\]`)) || t.comment(run.output().slice(-1500))
    t.same([h.pids(0), h.pids(1)], [[], []], 'nothing left running')
  })

  const noTorchrun = spawnSync(TORCHRUN, ['--help']).status === 0 ? false : `${TORCHRUN} not installed (Debian: python3-torch)`
  t.test('torchrun with the rendezvous endpoint unreachable at start', { skip: noTorchrun }, async (t) => {
    const h = createHosts(t, 2)
    const nowhere = '10.231.0.200'
    const readTimeout = 5
    const tr = h.spawn(1, TORCHRUN, torchrunArgs({ nnodes: 2, nprocPerNode: 1, endpoint: `${nowhere}:29400`, runId: 'nowhere', rdzvConf: `read_timeout=${readTimeout}` }, process.execPath, ['-e', '0']), env)
    const e2 = await endsWithin(t, tr, readTimeout * 1000 + BOUND, 'torchrun on host 1')
    t.not(e2.code, 0, 'torchrun fails')
    t.match(tr.output(), /RendezvousConnectionError/, 'with a rendezvous connection error') || t.comment(tr.output().slice(-1500))
    t.match(tr.output(), /failed to connect to any network address of \(10\.231\.0\.200, 29400\)/, 'naming the endpoint')
    t.same([h.pids(0), h.pids(1)], [[], []], 'nothing left running')
  })
}
