/**
 * Data-parallel training across processes on PyTorch's c10d (Gloo on CPU, NCCL on CUDA when the addon was
 * built with it; `VRFT_DIST_BACKEND=gloo|nccl` overrides): the launch environment
 * (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`, as set by torchrun, Slurm via
 * `srun` + the variables below, or `vrft-native train --nproc N`), a local launcher that spawns N workers
 * and ends them all when one fails, and the sharding rule: each rank takes an equal, contiguous share of
 * every step's prompts (a group of G completions never spans ranks).
 *
 * Multi-node: torchrun --nnodes 2 --nproc_per_node 1 --rdzv_backend c10d --rdzv_endpoint HOST:29400 --no_python
 * vrft-native train … (see the README; torchrun sets the variables; MASTER_ADDR is rank 0's host name, which every node must
 * resolve); with Slurm, set MASTER_ADDR to the first node and map SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID
 * (read here as fallbacks). Gloo uses GLOO_SOCKET_IFNAME, else the interface that reaches MASTER_ADDR.
 * Tested across network namespaces by test/multihost/.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { VrftError } from '../errors.js'
import { native } from '../native/binding.js'

/** Where this process sits in the job. */
export interface DistEnv { rank: number; worldSize: number; localRank: number; masterAddr: string; masterPort: number }

function intVar(env: NodeJS.ProcessEnv, names: string[], def: number): number {
  for (const n of names) {
    const v = env[n]
    if (v === undefined || v === '') continue
    const x = Number(v)
    if (!Number.isInteger(x) || x < 0) throw new VrftError('ERR_DIST_ENV', `Expected a non-negative integer for ${n} but received ${JSON.stringify(v)}`)
    return x
  }
  return def
}

/** Reads the launch environment (torchrun / Slurm / --nproc). */
export function distEnv(env: NodeJS.ProcessEnv = process.env): DistEnv {
  const worldSize = intVar(env, ['WORLD_SIZE', 'SLURM_NTASKS'], 1)
  const rank = intVar(env, ['RANK', 'SLURM_PROCID'], 0)
  const localRank = intVar(env, ['LOCAL_RANK', 'SLURM_LOCALID'], 0)
  const masterPort = intVar(env, ['MASTER_PORT'], 29500)
  if (worldSize < 1) throw new VrftError('ERR_DIST_ENV', `Expected WORLD_SIZE >= 1 but received ${worldSize}`)
  if (rank >= worldSize) throw new VrftError('ERR_DIST_ENV', `Expected RANK < WORLD_SIZE (${worldSize}) but received ${rank}`)
  if (masterPort < 1 || masterPort > 65535) throw new VrftError('ERR_DIST_ENV', `Expected MASTER_PORT between 1 and 65535 but received ${masterPort}`)
  return { rank, worldSize, localRank, masterAddr: env.MASTER_ADDR ?? '127.0.0.1', masterPort }
}

/** The share of `count` items (a step's prompts) that `rank` takes: [start, end). */
export function shard(count: number, rank: number, worldSize: number): [number, number] {
  if (count % worldSize !== 0) {
    throw new VrftError('ERR_CONFIG', `Expected promptsPerStep (${count}) to be divisible by the number of ranks (${worldSize}) so every rank takes the same share`)
  }
  const per = count / worldSize
  return [rank * per, (rank + 1) * per]
}

const dist = () => native()

const isLoopback = (addr: string) => addr === 'localhost' || addr.startsWith('127.') || addr === '::1'

/** Rank 0 hosts the rendezvous store: fail fast with ERR_DIST_PORT when its port is taken. */
export async function checkPortFree(host: string, port: number): Promise<void> {
  const { createServer } = await import('node:net')
  await new Promise<void>((resolve, reject) => {
    const s = createServer()
    s.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new VrftError('ERR_DIST_PORT', `rank 0 cannot host the rendezvous on ${host}:${port}: the port is in use; set MASTER_PORT to a free port`)
      : e))
    s.listen(port, host, () => s.close(() => resolve()))
  })
}

/** The c10d backend of a run. */
export type { DistBackend } from '../native/binding.js'
import type { DistBackend } from '../native/binding.js'

/**
 * The backend for this rank: `VRFT_DIST_BACKEND` when set (gloo or nccl), else NCCL for CUDA ranks when
 * the addon has it, else Gloo (which also carries CUDA tensors, staged through host memory).
 */
export function distBackend(cuda: boolean, env: NodeJS.ProcessEnv = process.env): DistBackend {
  const v = env.VRFT_DIST_BACKEND
  if (v !== undefined && v !== '') {
    if (v !== 'gloo' && v !== 'nccl') throw new VrftError('ERR_DIST_ENV', `Expected VRFT_DIST_BACKEND to be gloo or nccl but received ${JSON.stringify(v)}`)
    return v
  }
  return cuda && dist().distInfo().ncclAvailable ? 'nccl' : 'gloo'
}

/**
 * The network interface that carries this rank's traffic to `masterAddr`: the one holding the local address
 * the kernel picks to reach it (a UDP socket connected to it; no packet is sent). Gloo binds its sockets to
 * this interface, which is the one the rendezvous already works over, rather than to whatever address the
 * machine's hostname resolves to (often 127.0.1.1 or a management network). ERR_DIST_RENDEZVOUS when there
 * is no route at all.
 */
export async function glooInterface(masterAddr: string): Promise<{ name: string; address: string }> {
  const { createSocket } = await import('node:dgram')
  const { lookup } = await import('node:dns/promises')
  const { networkInterfaces } = await import('node:os')
  const target = await lookup(masterAddr).catch((e: Error) => {
    throw new VrftError('ERR_DIST_RENDEZVOUS', `cannot resolve MASTER_ADDR ${JSON.stringify(masterAddr)}: ${e.message}; expected a host name or address of the machine running rank 0`)
  })
  const sock = createSocket(target.family === 6 ? 'udp6' : 'udp4')
  const local = await new Promise<string>((resolve, reject) => {
    sock.once('error', reject)
    sock.connect(9, target.address, () => resolve(sock.address().address))
  }).catch((e: Error) => {
    throw new VrftError('ERR_DIST_RENDEZVOUS', `no route from this machine to MASTER_ADDR ${masterAddr} (${target.address}): ${e.message}`)
  }).finally(() => sock.close())
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.address === local)) return { name, address: local }
  }
  throw new VrftError('ERR_DIST_RENDEZVOUS', `the local address ${local} that reaches MASTER_ADDR ${masterAddr} belongs to no interface; set GLOO_SOCKET_IFNAME`)
}

/**
 * Joins the process group when WORLD_SIZE > 1 (no-op otherwise); NCCL ranks use CUDA device LOCAL_RANK.
 * Gloo ranks whose MASTER_ADDR is not loopback and that have no GLOO_SOCKET_IFNAME get it set to
 * `glooInterface(MASTER_ADDR)` (read by the native group when it creates its Gloo device).
 */
export async function initDistributed(env: DistEnv, timeoutMs = 120000, backend: DistBackend = 'gloo'): Promise<boolean> {
  if (env.worldSize === 1) return false
  if (env.rank === 0 && isLoopback(env.masterAddr)) await checkPortFree(env.masterAddr, env.masterPort)
  if (backend === 'gloo' && !process.env.GLOO_SOCKET_IFNAME && !isLoopback(env.masterAddr)) {
    // a loopback answer (MASTER_ADDR resolving to 127.0.1.1 on rank 0's own machine) says nothing about
    // where the other ranks are: then the native default (the address of this machine's host name) stays
    const nic = await glooInterface(env.masterAddr)
    if (!isLoopback(nic.address)) process.env.GLOO_SOCKET_IFNAME = nic.name  // the process environment the addon reads
  }
  await dist().distInit({ rank: env.rank, worldSize: env.worldSize, masterAddr: env.masterAddr, masterPort: env.masterPort, timeoutMs, backend, deviceIndex: env.localRank })
  return true
}

/** Every rank's value (rank order); [v] on one process. */
export async function allgather(v: number): Promise<number[]> {
  return dist().distInfo().initialized ? dist().distAllgather(v) : [v]
}

/** Elementwise mean across ranks (metrics). */
export async function allreduceMean(values: number[]): Promise<number[]> {
  if (!dist().distInfo().initialized) return values
  return Array.from(await dist().distAllreduceMean(Float64Array.from(values)))
}

/** Stops with ERR_DIST_DIVERGED when ranks hold different parameters (checksum per rank). */
export async function checkSameParameters(checksum: number, step: number): Promise<void> {
  const all = await allgather(checksum)
  const ref = all[0]!
  const bad = all.map((c, r) => [r, c] as const).filter(([, c]) => Math.abs(c - ref) > 1e-6 * Math.max(1, Math.abs(ref)))
  if (bad.length) {
    throw new VrftError('ERR_DIST_DIVERGED', `at step ${step} the parameters of rank(s) ${bad.map(([r]) => r).join(', ')} differ from rank 0 ` +
      `(checksums ${all.map((c) => c.toPrecision(12)).join(', ')}); expected identical weights on every rank`)
  }
}

/** Compares a configuration fingerprint across ranks; ERR_DIST_CONFIG names the ranks that differ. */
export async function checkSameConfig(fingerprint: number): Promise<void> {
  const all = await allgather(fingerprint)
  const bad = all.map((c, r) => [r, c] as const).filter(([, c]) => c !== all[0])
  if (bad.length) throw new VrftError('ERR_DIST_CONFIG', `rank(s) ${bad.map(([r]) => r).join(', ')} started with a different configuration than rank 0; expected the same options on every rank`)
}

/** Replaces every finite number in `record` (deep) by its mean across ranks (same structure on every rank). */
export async function averageRecord<T>(record: T): Promise<T> {
  if (!dist().distInfo().initialized) return record
  const slots: Array<[Record<string, unknown> | unknown[], string | number]> = []
  const walk = (o: unknown) => {
    if (Array.isArray(o)) o.forEach((v, i) => (typeof v === 'number' && Number.isFinite(v) ? slots.push([o, i]) : walk(v)))
    else if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) (typeof v === 'number' && Number.isFinite(v) ? slots.push([o as Record<string, unknown>, k]) : walk(v))
  }
  walk(record)
  const values = slots.map(([o, k]) => (o as Record<string | number, number>)[k]!)
  const mean = await allreduceMean(values)
  slots.forEach(([o, k], i) => { (o as Record<string | number, number>)[k] = mean[i]! })
  return record
}

export function shutdownDistributed(): void {
  dist().distShutdown()
}

/**
 * Spawns `nproc` copies of this CLI (or `script`) with RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* set (and `env`
 * added), forwards their output, and when one exits with an error ends the others (after `graceMs`) and
 * rejects naming it. SIGINT/SIGTERM of this process and `signal`'s abort are passed on to the ranks.
 */
export async function launchLocal(nproc: number, args: string[], opts: { masterPort?: number; graceMs?: number; script?: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<void> {
  const port = opts.masterPort ?? 29500 + Math.floor(Math.random() * 2000)
  const script = opts.script ?? process.argv[1]!
  const children: ChildProcess[] = []
  const exits = children.map(() => null as number | null)
  return new Promise((resolve, reject) => {
    let failed: string | null = null
    let remaining = nproc
    let done = () => {}
    for (let rank = 0; rank < nproc; rank++) {
      const c = spawn(process.execPath, [...process.execArgv, script, ...args], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, ...opts.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(nproc), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
      })
      children.push(c)
      c.on('exit', (code, signal) => {
        exits[rank] = code
        remaining--
        if ((code !== 0 || signal) && !failed) {
          failed = `rank ${rank} exited with ${signal ? `signal ${signal}` : `code ${code}`}`
          setTimeout(() => { for (const o of children) if (o.exitCode === null) o.kill('SIGTERM') }, opts.graceMs ?? 30000).unref()
        }
        if (remaining === 0) {
          done()
          if (failed) reject(new VrftError('ERR_DIST_RANK_FAILED', `distributed run failed: ${failed}`))
          else resolve()
        }
      })
    }
    const forward = (sig: NodeJS.Signals) => { for (const c of children) if (c.exitCode === null) c.kill(sig) }
    const onInt = () => forward('SIGINT'), onTerm = () => forward('SIGTERM'), onAbort = () => forward('SIGTERM')
    process.once('SIGINT', onInt)
    process.once('SIGTERM', onTerm)
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    if (opts.signal?.aborted) onAbort()
    done = () => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      opts.signal?.removeEventListener('abort', onAbort)
    }
  })
}
