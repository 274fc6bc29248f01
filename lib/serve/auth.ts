/**
 * API-key check of `vrft-native serve`: clients send `Authorization: Bearer <key>`. Both the expected and
 * the given key are hashed (SHA-256) and compared with crypto.timingSafeEqual, so the comparison takes
 * the same time whatever the key's length or how many leading characters match.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

/** Returns a checker for `Authorization` header values; `check(header)` is true for the right key. */
export function bearerChecker(apiKey: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(apiKey, 'utf8').digest()
  return (authorization) => {
    const m = /^Bearer[ \t]+(.+)$/i.exec(authorization ?? '')
    // Hash something even without a key so a missing header costs the same as a wrong one.
    const given = createHash('sha256').update(m ? m[1]!.trim() : '\0', 'utf8').digest()
    return timingSafeEqual(expected, given) && m !== null
  }
}
