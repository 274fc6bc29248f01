// The multi-host harness itself (test/multihost/hosts.ts): hosts have their own hostname and address and
// reach each other over the bridge; a downed link cuts a host off; destroy() ends every process and
// removes every namespace and /etc/netns folder it made, also when a process is still running or stopped.
// Needs root and iproute2: skipped, saying why, otherwise.
import t from 'tap'
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { Hosts, createHosts, skipReason } from './multihost/hosts.js'

const why = skipReason()
if (why) t.plan(0, why)
else {
  const node = process.execPath
  // a TCP echo of one line: server on host 0, client on host 1 (by host name, resolved through /etc/hosts)
  const server = `require('net').createServer((s) => s.on('data', (d) => { s.end('echo ' + d + ' from ' + require('os').hostname()) })).listen(7000, process.argv[1], () => console.log('listening'))`
  const client = `const s = require('net').connect(7000, process.argv[1], () => s.write(require('os').hostname())); s.on('data', (d) => { console.log(String(d)); process.exit(0) }); s.on('error', (e) => { console.log('error ' + e.code); process.exit(2) }); setTimeout(() => { console.log('timeout'); process.exit(3) }, +process.argv[2])`

  t.test('hosts talk over the bridge by name; a downed link cuts one off', async (t) => {
    const h = createHosts(t, 3)
    const srv = h.spawn(0, node, ['-e', server, h.addr(0)])
    await srv.waitFor(/listening/, 10000)
    const c1 = h.spawn(1, node, ['-e', client, h.hostname(0), '5000'])
    t.equal((await c1.exited).code, 0, c1.output())
    t.match(c1.output(), /echo vrft-h1 from vrft-h0/, 'host 1 reached host 0 by name; each has its own hostname')
    h.linkDown(2)
    const c2 = h.spawn(2, node, ['-e', client, h.hostname(0), '1500'])
    t.not((await c2.exited).code, 0, 'host 2 without its link cannot connect')
    h.linkUp(2)
    const c3 = h.spawn(2, node, ['-e', client, h.hostname(0), '5000'])
    t.equal((await c3.exited).code, 0, `link up again: ${c3.output()}`)
    const shaped = h.shape('100mbit', '1ms')
    t.ok(shaped.qdisc === 'netem' || shaped.qdisc === 'tbf', `links shaped with ${shaped.qdisc}`)
    const tc = spawnSync('ip', ['netns', 'exec', h.ns(1), 'tc', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' })
    t.match(tc.stdout, /rate 100Mbit/, tc.stdout)
  })

  t.test('destroy ends running and stopped processes and removes every namespace', async (t) => {
    const h = Hosts.create(2)
    const a = h.spawn(0, 'sleep', ['600'])
    const b = h.spawn(1, 'sleep', ['600'])
    await new Promise((r) => setTimeout(r, 300))
    t.equal(h.pids(0).length, 1)
    t.equal(h.signal(1, 'SIGSTOP'), 1, 'host 1 stalled')
    await h.destroy()
    t.ok((await a.exited).signal === 'SIGKILL' && (await b.exited).signal === 'SIGKILL', 'both killed')
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
    for (const ns of [h.ns(0), h.ns(1), h.switchNs]) {
      t.notOk(list.includes(ns), `${ns} removed`)
      t.notOk(existsSync(`/etc/netns/${ns}`), `/etc/netns/${ns} removed`)
    }
  })
}
