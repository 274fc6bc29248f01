// Saves training checkpoints of a real NativePolicy for test/reliability-ckpt.test.ts: `loop RUN MODEL`
// saves checkpoint after checkpoint (to be killed with SIGKILL mid-save); `once RUN MODEL STEP` saves one
// and prints the outcome as JSON; `wait RUN MODEL STEP` first waits for a line on stdin (the parent lowers
// the file-size limit in between, to simulate a full disk).
import { saveCheckpoint } from '../../lib/train/checkpoint.js'
import { NativePolicy } from '../../lib/train/native-policy.js'

process.on('SIGXFSZ', () => {})  // a file-size limit then fails the write with EFBIG instead of killing us
const [mode, runDir, modelDir, stepArg] = process.argv.slice(2)
const policy = await NativePolicy.create({ modelDir: modelDir! })
const state = (step: number) => ({ kind: 'grpo' as const, step, position: step * 16, seed: 42, elapsedSeconds: step })
if (mode === 'loop') {
  for (let step = 1; ; step++) {
    await saveCheckpoint(runDir!, policy, state(step), 2)
    process.stdout.write(`saved ${step}\n`)
  }
} else {
  if (mode === 'wait') {  // say we are ready, then wait for a line on stdin (the parent sets a limit first)
    process.stdout.write('ready\n')
    await new Promise((r) => process.stdin.once('data', r))
    process.stdin.pause()
  }
  try {
    await saveCheckpoint(runDir!, policy, state(Number(stepArg)), 2)
    process.stdout.write(JSON.stringify({ ok: true }) + '\n')
  } catch (e) {
    const err = e as { code?: string; message: string }
    process.stdout.write(JSON.stringify({ ok: false, code: err.code, message: err.message }) + '\n')
  }
  policy.dispose()
}
