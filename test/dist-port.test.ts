// Rank 0 of a distributed run whose MASTER_PORT is already taken fails at once with ERR_DIST_PORT.
import t from 'tap'
import { createServer } from 'node:net'
import { initDistributed } from '../lib/train/distributed.js'

t.test('a port already in use is ERR_DIST_PORT on rank 0', async (t) => {
  const busy = createServer()
  await new Promise<void>((res) => busy.listen(0, '127.0.0.1', () => res()))
  const port = (busy.address() as { port: number }).port
  await t.rejects(initDistributed({ rank: 0, worldSize: 2, localRank: 0, masterAddr: '127.0.0.1', masterPort: port }, 2000),
    { code: 'ERR_DIST_PORT', message: new RegExp(`127\\.0\\.0\\.1:${port}: the port is in use`) })
  await new Promise<void>((res) => busy.close(() => res()))
})
