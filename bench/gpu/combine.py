#!/usr/bin/env python3
"""Merges the pieces of one bench/gpu/run.sh run into its single result JSON and checks its format.

  combine.py --bench BENCH.json --hf HF.json --tests TESTS.json --timings TIMINGS.json --out DIR [--dry-run]

BENCH.json is what `npm run bench` wrote (bench/run.ts), HF.json what bench/gpu/hf_baseline.py wrote,
TESTS.json {passed, failed, skipped, gpuSkipped, file}, TIMINGS.json {step: seconds}. Writes
DIR/gpu-<size>-<date>.json and prints its path. Exits non-zero when a required field is missing or not
finite (a dry run may leave the baseline's numbers out: its machine has no GPU and no torch).
"""
import argparse
import datetime
import json
import math
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def row(rows, *needles):
    for r in rows:
        if all(n in r['bench'] for n in needles):
            return r
    return None


def num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def main():
    ap = argparse.ArgumentParser()
    for k in ('bench', 'hf', 'tests', 'timings', 'out'):
        ap.add_argument('--' + k, required=True)
    ap.add_argument('--dry-run', action='store_true')
    a = ap.parse_args()
    bench, hf, tests, timings = load(a.bench), load(a.hf), load(a.tests), load(a.timings)
    rows = bench.get('rows', [])
    grpo = row(rows, 'grpo step', '(plain)')
    decode = row(rows, 'decode, G = 8')
    peak = bench.get('limits', {}).get('matmulFlops')
    ours = {
        'grpo': grpo and {'bench': grpo['bench'], 'samplesPerSecond': grpo['value'], 'mfu': (grpo.get('utilization') or {}).get('fraction')},
        'decodeG8': decode and {'bench': decode['bench'], 'tokensPerSecond': decode['value'], 'bandwidthFraction': (decode.get('utilization') or {}).get('fraction')},
    }
    theirs = {'versions': hf.get('versions'), 'device': hf.get('device'), 'generate': hf.get('generate'), 'grpo': hf.get('grpo'),
              'torchMatmulFlops': hf.get('torchMatmulFlops')}
    cmp = {}
    if ours['grpo'] and hf.get('grpo'):
        cmp['grpoStepSpeedup'] = ours['grpo']['samplesPerSecond'] / hf['grpo']['samplesPerSecond']
        # the same analytic FLOPs over the baseline's time, against the peak the native limits suite measured
        if num(peak):
            theirs['grpo']['mfu'] = hf['grpo']['flopsPerSecond'] / peak
    if ours['decodeG8'] and hf.get('generate'):
        cmp['decodeG8Speedup'] = ours['decodeG8']['tokensPerSecond'] / hf['generate']['decodeTokensPerSecond']
    result = {
        'schema': 'vrft-gpu-run/1',
        'dryRun': a.dry_run,
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'size': bench.get('size'), 'device': bench.get('device'), 'dtype': bench.get('dtype'),
        'machine': bench.get('machine'),
        'limits': bench.get('limits'),
        'timings': timings,
        'tests': tests,
        'vrft': ours,
        'transformers': theirs,
        'comparison': cmp,
        'benchRows': rows,
        'benchErrors': bench.get('errors', {}),
    }
    problems = []
    if tests.get('failed', 1) != 0:
        problems.append(f'tests failed: {tests.get("failed")}')
    if not a.dry_run and tests.get('gpuSkipped', 1) != 0:
        problems.append(f'{tests.get("gpuSkipped")} GPU test(s) skipped on the GPU machine')
    if result['benchErrors']:
        problems.append(f'bench suites failed: {", ".join(result["benchErrors"])}')
    if not num(peak):
        problems.append('no measured matmul peak (limits.matmulFlops)')
    for name, v in (('vrft.grpo.samplesPerSecond', ours['grpo'] and ours['grpo']['samplesPerSecond']),
                    ('vrft.grpo.mfu', ours['grpo'] and ours['grpo']['mfu']),
                    ('vrft.decodeG8.tokensPerSecond', ours['decodeG8'] and ours['decodeG8']['tokensPerSecond'])):
        if not num(v):
            problems.append(f'{name} missing')
    if not a.dry_run:
        for name, v in (('transformers.grpo.samplesPerSecond', (hf.get('grpo') or {}).get('samplesPerSecond')),
                        ('transformers.generate.decodeTokensPerSecond', (hf.get('generate') or {}).get('decodeTokensPerSecond')),
                        ('comparison.grpoStepSpeedup', cmp.get('grpoStepSpeedup')), ('comparison.decodeG8Speedup', cmp.get('decodeG8Speedup'))):
            if not num(v):
                problems.append(f'{name} missing')
    result['problems'] = problems
    os.makedirs(a.out, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    path = os.path.join(a.out, f'gpu-{"dryrun-" if a.dry_run else ""}{result["size"]}-{stamp}.json')
    with open(path + '.tmp', 'w') as f:
        json.dump(result, f, indent=2)
    os.replace(path + '.tmp', path)
    print(path)
    for p in problems:
        print(f'combine: {p}', file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
