// Preloaded into a child process (node --import): on exit, writes the process's peak resident set size
// (VmHWM of /proc/self/status, bytes) to the file named by VRFT_VMHWM_FILE. Used by test/memory-plan.test.ts.
import { readFileSync, writeFileSync } from 'node:fs'

const out = process.env.VRFT_VMHWM_FILE
if (out) {
  process.on('exit', () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) writeFileSync(out, String(Number(m[1]) * 1024))
  })
}
