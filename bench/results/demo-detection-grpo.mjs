// Probe: the demo's GRPO/SFT phase on a probe's saved warm start (MODEL=/tmp/probe/X/model).
const B = new URL('../../dist/lib', import.meta.url).href
const { runBuiltin, warmStartKey, builtinSettings } = await import(`${B}/app/builtin.js`)
const { mkdirSync, cpSync, rmSync } = await import('node:fs')
const E = process.env
const cache = `/tmp/probe/cache-${E.NAME}`
process.env.VRFT_CACHE_DIR = cache
const task = E.TASK ?? 'detection'
const over = JSON.parse(E.SETTINGS ?? '{}')
const s = { ...builtinSettings({ task }), ...over }
const key = warmStartKey(s)
rmSync(cache, { recursive: true, force: true })
mkdirSync(`${cache}/demo-warmstart-${key}`, { recursive: true })
cpSync(E.MODEL, `${cache}/demo-warmstart-${key}/model`, { recursive: true })
const r = await runBuiltin({ flags: { task }, settings: { ...over, output: `/tmp/probe/run-${E.NAME}`, quiet: true }, handleSignals: false })
console.log(JSON.stringify(r.summary.metrics), r.summary.seconds)
