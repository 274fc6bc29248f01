/**
 * One rule for every flag of every command: a flag that takes one value may be given once. yargs alone
 * turns `--max-steps 3 --max-steps 1` into 4 (repeated numbers are summed) and repeated strings into
 * arrays; `checkRepeatedFlags` runs before validation and refuses any repeat of a flag that is not an
 * array option (those, like `--reward` or `--classes`, are repeatable by design) with ERR_CONFIG naming it.
 */
import { VrftError } from '../errors.js'

/** What `checkRepeatedFlags` needs of yargs' parsed option table (`yargs.getOptions()`). */
export interface FlagTable {
  array: readonly string[]
  boolean: readonly string[]
  key: Record<string, unknown>
  alias: Record<string, readonly string[]>
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())

/** Throw ERR_CONFIG when a non-array flag appears more than once in `argv` (raw arguments, no node/script). */
export function checkRepeatedFlags(argv: readonly string[], opts: FlagTable): void {
  // every spelling (kebab, camel, alias) → canonical kebab key
  const canonical = new Map<string, string>()
  for (const k of Object.keys(opts.key)) canonical.set(kebab(k), kebab(k))
  for (const [k, aliases] of Object.entries(opts.alias)) for (const a of aliases) canonical.set(kebab(a), canonical.get(kebab(k)) ?? kebab(k))
  const arrays = new Set(opts.array.map(kebab))
  const booleans = new Set(opts.boolean.map(kebab))
  const seen = new Map<string, string[]>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    let name: string
    let value: string | undefined
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      name = kebab(eq < 0 ? a.slice(2) : a.slice(2, eq))
      if (eq >= 0) value = a.slice(eq + 1)
    } else if (/^-[A-Za-z]$/.test(a)) name = a.slice(1)
    else continue
    let key = canonical.get(name)
    if (key === undefined && name.startsWith('no-') && booleans.has(canonical.get(name.slice(3)) ?? '')) {
      key = canonical.get(name.slice(3))!
      value = 'false'
    }
    if (key === undefined || arrays.has(key)) continue
    if (value === undefined) value = booleans.has(key) ? 'true' : argv[i + 1]
    const list = seen.get(key) ?? []
    list.push(value ?? '')
    seen.set(key, list)
  }
  for (const [key, values] of seen) {
    if (values.length > 1) {
      throw new VrftError('ERR_CONFIG', `Invalid option --${key}: expected it once but it was given ${values.length} times (${values.map((v) => JSON.stringify(v)).join(', ')}); give it once`, { option: key, values })
    }
  }
}
