// Writes safetensors files for test/reliability.test.ts: `loop PATH MB` rewrites PATH forever (to be
// killed with SIGKILL mid-write); `once PATH MB FILL` writes it once and reports the outcome as JSON.
import { createRequire } from 'node:module'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const n = createRequire(import.meta.url)(process.env.VRFT_NATIVE_ADDON ?? join(root, 'build/Release/vrft_native.node'))
// A file-size limit (RLIMIT_FSIZE) raises SIGXFSZ on the write that crosses it: catch it so the write fails
// with EFBIG instead (Node resets the inherited 'ignore' disposition at start-up).
process.on('SIGXFSZ', () => {})
const [mode, path, mb, fill = '7'] = process.argv.slice(2)
const data = new Uint8Array(Number(mb) * 2 ** 20).fill(Number(fill))
const tensors = [{ name: 'w', dtype: 'U8', shape: [data.length], data }]
if (mode === 'loop') {
  process.stdout.write('writing\n')
  for (;;) await n.safetensorsWrite(path, tensors)
} else {
  try {
    await n.safetensorsWrite(path, tensors)
    process.stdout.write(JSON.stringify({ ok: true }) + '\n')
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, code: e.code, message: e.message }) + '\n')
  }
}
