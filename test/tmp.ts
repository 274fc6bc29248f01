// Temporary directories for tests, removed when the test file ends (set VRFT_KEEP_TEST_DIRS=1 to keep
// them for a post-mortem). Tests used to leave ~1 GB per run of the suite in the system temp folder.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dirs: string[] = []
let registered = false

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  if (!registered && !process.env.VRFT_KEEP_TEST_DIRS) {
    registered = true
    t.teardown(() => {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
    })
  }
  return dir
}
