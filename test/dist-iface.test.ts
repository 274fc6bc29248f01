// Which interface Gloo binds to (lib/train/distributed.ts glooInterface): the one holding the local address
// that reaches MASTER_ADDR; loopback for 127.0.0.1; clear errors for a name that does not resolve. The
// multi-host choice (eth0 of a network namespace) is checked by test/multihost-torchrun.test.ts.
import t from 'tap'
import { networkInterfaces } from 'node:os'
import { glooInterface } from '../lib/train/distributed.js'

t.test('the interface that reaches MASTER_ADDR', async (t) => {
  const lo = await glooInterface('127.0.0.1')
  t.equal(lo.address, '127.0.0.1')
  t.ok(networkInterfaces()[lo.name]?.some((a) => a.address === '127.0.0.1'), `${lo.name} holds 127.0.0.1`)
  // every non-loopback IPv4 address of this machine is reached through its own interface
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue
      t.same(await glooInterface(a.address), { name, address: a.address }, `${a.address} → ${name}`)
    }
  }
})

t.test('a MASTER_ADDR that does not resolve is ERR_DIST_RENDEZVOUS naming it', async (t) => {
  await t.rejects(glooInterface('no-such-host.invalid'), { code: 'ERR_DIST_RENDEZVOUS', message: /cannot resolve MASTER_ADDR "no-such-host\.invalid"/ })
})
