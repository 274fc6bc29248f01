/**
 * The parquet codecs vrft-native decodes: hyparquet reads UNCOMPRESSED and the others come from
 * hyparquet-compressors (SNAPPY, GZIP, BROTLI, ZSTD, LZ4, LZ4_RAW), with one fix: an LZ4 block of an
 * empty page (pyarrow writes one for the dictionary of an all-null column, e.g. `image.path`: the single
 * token 0x00) decodes to zero bytes, where the library reads past it and throws "lz4 offset out of range 0".
 */
import type { Compressors } from 'hyparquet'
import { compressors as upstream } from 'hyparquet-compressors'

export const compressors: Compressors = {
  ...upstream,
  LZ4: (input, n) => (n === 0 ? new Uint8Array(0) : upstream.LZ4!(input, n)),
  LZ4_RAW: (input, n) => (n === 0 ? new Uint8Array(0) : upstream.LZ4_RAW!(input, n)),
}

/** Codecs this reader decodes. */
export const PARQUET_CODECS: readonly string[] = ['UNCOMPRESSED', ...Object.keys(compressors)]
