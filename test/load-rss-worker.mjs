// A child process of test/bf16-load.test.ts: loads the model in argv[2] (flat config JSON in argv[3]) at the
// dtype argv[4] on the CPU, runs one text forward (so the weights are resident, mapped or not) and prints one
// JSON line: the file bytes, the RSS before the load, and the peak RSS over load + forward (VmHWM, reset just before the load through /proc/self/clear_refs; falls back to the peak since
// start where the kernel does not allow the reset). Loads the addon like lib/native/binding.ts.
import { createRequire } from 'node:module'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const n = createRequire(import.meta.url)(process.env.VRFT_NATIVE_ADDON ?? join(root, 'build/Release/vrft_native.node'))
const [dir, cfgPath, dtype] = process.argv.slice(2)
const config = JSON.parse(readFileSync(cfgPath, 'utf8'))
const status = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024
const fileBytes = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).reduce((s, f) => s + statSync(join(dir, f)).size, 0)
let reset = true
try { writeFileSync('/proc/self/clear_refs', '5') } catch { reset = false }
const rss0 = status('VmRSS')
const model = await n.modelLoad(dir, config, { dtype, device: 'cpu' })
// a text forward reads every decoder weight and the (tied) head: the mapped pages are resident after it
await n.modelForward(model, { inputIds: Int32Array.from([151644, 8948, 198, 2610]), batch: 1, logits: 'last' })
const hwm = status('VmHWM')
n.modelDispose(model)
process.stdout.write(JSON.stringify({ dtype, fileBytes, rss0, hwm, growth: hwm - rss0, reset }) + '\n')
