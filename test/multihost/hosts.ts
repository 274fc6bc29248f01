// Multi-host test harness: N "hosts" on this machine, each a network namespace with its own hostname
// (a UTS namespace per process), its own /etc/hosts (via /etc/netns/<ns>/hosts, which `ip netns exec`
// mounts) and one interface `eth0` with address 10.231.0.<i+1>/24, all joined by veth pairs to a bridge in
// a "switch" namespace. Hosts run processes (`spawn`), lose their link (`linkDown`), stall (`signal`
// SIGSTOP/SIGCONT) and get bandwidth-shaped links (`shape`). Needs root, iproute2 and util-linux's unshare;
// `skipReason()` says why not when they are missing.
//
// Cleanup is unconditional: `destroy()` (registered with tap's teardown by `createHosts`) SIGKILLs every
// process in the namespaces, deletes them and their /etc/netns folders; a process 'exit' hook does the same
// synchronously; and namespaces left by a harness whose process died (named vrft-<pid>-…) are swept when
// the next one starts. Namespaces are private, so every harness can use the same addresses.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'

export const IFACE = 'eth0'
const NETNS_ETC = '/etc/netns'
const NAME = /^vrft-(\d+)-(\d+)-(h\d+|sw)$/

function ip(args: string[], check = true): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (check && r.status !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.error?.message || '').trim()}`)
  return r.stdout ?? ''
}

/** Why this machine cannot run the harness (undefined when it can). */
export function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'multi-host tests need Linux network namespaces'
  if (process.getuid?.() !== 0) return 'multi-host tests need root (network namespaces, veth, tc)'
  for (const [bin, args] of [['ip', ['-V']], ['unshare', ['--version']], ['tc', ['-V']]] as const) {
    const r = spawnSync(bin, args, { encoding: 'utf8' })
    if (r.error || r.status !== 0) return `multi-host tests need ${bin} (iproute2 / util-linux) on PATH`
  }
  const probe = `vrft-${process.pid}-0-sw`
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (r.status !== 0) return `cannot create a network namespace here: ${r.stderr.trim()}`
  ip(['netns', 'del', probe], false)
  return undefined
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' } }

function pidsOf(ns: string): number[] {
  return ip(['netns', 'pids', ns], false).split('\n').filter(Boolean).map(Number)
}

function removeNamespace(ns: string): void {
  for (let round = 0; round < 50; round++) {
    const pids = pidsOf(ns)
    if (!pids.length) break
    for (const p of pids) { try { process.kill(p, 'SIGCONT'); process.kill(p, 'SIGKILL') } catch { /* gone */ } }
    spawnSync('sleep', ['0.1'])
  }
  ip(['netns', 'del', ns], false)
  rmSync(`${NETNS_ETC}/${ns}`, { recursive: true, force: true })
}

/** Deletes namespaces of harnesses whose process is gone. */
function sweepStale(): void {
  for (const line of ip(['netns', 'list'], false).split('\n')) {
    const ns = line.split(' ')[0]!
    const m = NAME.exec(ns)
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) removeNamespace(ns)
  }
}

/** A process running on one host. */
export interface HostProc {
  proc: ChildProcess
  /** stdout + stderr so far */
  output(): string
  /** Resolves when it exits: code, signal, and milliseconds since it started. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>
  /** Resolves when the output matches `re`; rejects after `ms` or when the process exits first. */
  waitFor(re: RegExp, ms: number): Promise<void>
}

let counter = 0
const live = new Set<Hosts>()
process.on('exit', () => { for (const h of live) h.destroySync() })
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  // tap ends a test file that ran past its timeout with SIGTERM: clean up, then die of the signal as before
  process.once(sig, () => { for (const h of live) h.destroySync(); process.kill(process.pid, sig) })
}

export class Hosts {
  readonly id: string
  private destroyed = false
  private procs: ChildProcess[] = []

  private constructor(readonly count: number) {
    this.id = `vrft-${process.pid}-${++counter}`
  }

  /** Creates `count` hosts on one bridge. Prefer `createHosts` in tests (cleanup on teardown). */
  static create(count: number): Hosts {
    sweepStale()
    const h = new Hosts(count)
    live.add(h)
    try {
      const sw = h.switchNs
      ip(['netns', 'add', sw])
      ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge'])
      ip(['-n', sw, 'link', 'set', 'br0', 'up'])
      const hosts = Array.from({ length: count }, (_, i) => `${h.addr(i)} ${h.hostname(i)}`).join('\n')
      for (let i = 0; i < count; i++) {
        const ns = h.ns(i)
        ip(['netns', 'add', ns])
        for (let k = 0; ; k++) {  // another harness may rmdir an empty /etc/netns between our mkdirs: retry
          try { mkdirSync(`${NETNS_ETC}/${ns}`, { recursive: true }); writeFileSync(`${NETNS_ETC}/${ns}/hosts`, `127.0.0.1 localhost\n${hosts}\n`); break } catch (e) { if (k >= 4) throw e }
        }
        ip(['-n', sw, 'link', 'add', `h${i}`, 'type', 'veth', 'peer', 'name', IFACE, 'netns', ns])
        ip(['-n', sw, 'link', 'set', `h${i}`, 'master', 'br0'])
        ip(['-n', sw, 'link', 'set', `h${i}`, 'up'])
        ip(['-n', ns, 'addr', 'add', `${h.addr(i)}/24`, 'dev', IFACE])
        ip(['-n', ns, 'link', 'set', IFACE, 'up'])
        ip(['-n', ns, 'link', 'set', 'lo', 'up'])
      }
    } catch (e) {
      h.destroySync()
      throw e
    }
    return h
  }

  get switchNs(): string { return `${this.id}-sw` }
  ns(i: number): string { return `${this.id}-h${i}` }
  addr(i: number): string { return `10.231.0.${i + 1}` }
  hostname(i: number): string { return `vrft-h${i}` }

  /** Runs `cmd args` on host `i` (its own namespace and hostname), in a new process group. */
  spawn(i: number, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): HostProc {
    const t0 = Date.now()
    const proc = spawn('ip', ['netns', 'exec', this.ns(i), 'unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', this.hostname(i), cmd, ...args], {
      env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    })
    this.procs.push(proc)
    let out = ''
    const waiters: Array<() => void> = []
    const onData = (d: Buffer) => { out += d; for (const w of waiters.splice(0)) w() }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((res) => {
      proc.on('close', (code, signal) => { res({ code, signal, ms: Date.now() - t0 }); for (const w of waiters.splice(0)) w() })
    })
    let done = false
    void exited.then(() => { done = true })
    const waitFor = (re: RegExp, ms: number) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`host ${i}: no ${re} within ${ms} ms; output:\n${out.slice(-3000)}`)), ms)
      const check = () => {
        if (re.test(out)) { clearTimeout(timer); resolve() } else if (done) { clearTimeout(timer); reject(new Error(`host ${i} exited before ${re}; output:\n${out.slice(-3000)}`)) } else waiters.push(check)
      }
      check()
    })
    return { proc, output: () => out, exited, waitFor }
  }

  /** Process ids running in host `i`'s namespace. */
  pids(i: number): number[] { return pidsOf(this.ns(i)) }

  /** Sends `sig` to every process of host `i`. */
  signal(i: number, sig: NodeJS.Signals): number {
    const pids = this.pids(i)
    for (const p of pids) { try { process.kill(p, sig) } catch { /* exited meanwhile */ } }
    return pids.length
  }

  linkDown(i: number): void { ip(['-n', this.ns(i), 'link', 'set', IFACE, 'down']) }
  linkUp(i: number): void { ip(['-n', this.ns(i), 'link', 'set', IFACE, 'up']) }

  /**
   * Shapes every host's outgoing traffic on eth0 to `rate` (tc syntax, e.g. '1gbit') and, where the kernel
   * has sch_netem, `delay` (e.g. '1ms'); otherwise a token bucket (tbf) without delay. Says which.
   */
  shape(rate: string, delay: string): { qdisc: 'netem' | 'tbf'; delay: string | null } {
    let netem = true
    for (let i = 0; i < this.count; i++) {
      const base = ['netns', 'exec', this.ns(i), 'tc', 'qdisc', 'replace', 'dev', IFACE, 'root']
      if (netem && spawnSync('ip', [...base, 'netem', 'delay', delay, 'rate', rate, 'limit', '100000']).status === 0) continue
      if (i > 0 && netem) throw new Error('netem on host 0 but not on host ' + i)
      netem = false
      const r = spawnSync('ip', [...base, 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '100ms'], { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`tc tbf failed on host ${i}: ${r.stderr.trim()}`)
    }
    return { qdisc: netem ? 'netem' : 'tbf', delay: netem ? delay : null }
  }

  /** Kills every process of every host and removes the namespaces (idempotent). */
  destroySync(): void {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    for (const p of this.procs) { if (p.pid && p.exitCode === null) { try { process.kill(-p.pid, 'SIGKILL') } catch { /* gone */ } } }
    for (let i = 0; i < this.count; i++) removeNamespace(this.ns(i))
    removeNamespace(this.switchNs)
    try { if (readdirSync(NETNS_ETC).length === 0) rmdirSync(NETNS_ETC) } catch { /* in use by others or absent */ }
  }

  async destroy(): Promise<void> {
    this.destroySync()
    await Promise.all(this.procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => p.once('close', r)))))
  }
}

/** Creates hosts and removes them when the tap test `t` ends, passed or failed. */
export function createHosts(t: { teardown(fn: () => unknown): void }, count: number): Hosts {
  const h = Hosts.create(count)
  t.teardown(() => h.destroy())
  return h
}
