// Foundation: the addon loads, errors map to codes, work runs off the JS thread, threads are configurable.
import t from 'tap'
import { native } from '../lib/native/binding.js'

const n = native()

t.test('runtime info reports libtorch and threads', async (t) => {
  const info = n.runtimeInfo()
  t.match(info.torchVersion, /^\d+\.\d+/)
  t.ok(info.numThreads >= 1)
  t.equal(info.referenceBlas, false, `BLAS in use: ${info.blas}`)
})

t.test('errors carry codes and the process stays alive', async (t) => {
  t.throws(() => n.throwTest('range'), { name: 'RangeError', code: 'ERR_INVALID_ARG' })
  t.throws(() => n.throwTest('nope'), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: /Expected kind/ })
  await t.rejects(n.throwTest('torch', true) as Promise<void>, { code: 'ERR_TORCH', message: /cannot be multiplied/ })
  await t.rejects(n.throwTest('oom', true) as Promise<void>, { code: 'ERR_TORCH_OOM' })
  await t.rejects(n.throwTest('std', true) as Promise<void>, { code: 'ERR_NATIVE' })
  // no C++ backtrace in the message
  const err = await (n.throwTest('torch', true) as Promise<void>).catch((e: Error) => e)
  t.notMatch((err as Error).message, /frame #|Exception raised from/, 'no C++ backtrace in the message')
  t.throws(() => n.measureMatmul({ n: 3 }), { code: 'ERR_INVALID_ARG', message: /between 16 and 32768 .* received 3/ })
  t.throws(() => n.busyWork('x' as unknown as number), { code: 'ERR_INVALID_ARG', message: /received 'x'/ })
  t.equal(await n.busyWork(1) >= 0, true, 'still working afterwards')
})

t.test('a second of native work lets JS timers fire', async (t) => {
  let ticks = 0
  const timer = setInterval(() => { ticks++ }, 20)
  const ms = await n.busyWork(1000)
  clearInterval(timer)
  t.ok(ms >= 1000)
  t.ok(ticks >= 20, `timer fired ${ticks} times during 1 s of native work`)
})

t.test('thread count is configurable and applies on worker threads', async (t) => {
  const before = n.getNumThreads()
  t.equal(n.setNumThreads(1), 1)
  const one = await n.measureMatmul({ n: 512, reps: 3 })
  t.equal(n.setNumThreads(before), before)
  t.ok(one.median > 0)
  t.throws(() => n.setNumThreads(-1), { code: 'ERR_INVALID_ARG' })
})
