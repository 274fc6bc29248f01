#!/usr/bin/env python3
"""The Hugging Face transformers baseline of bench/gpu/run.sh: the same work as the native benchmark on the
same GPU, random weights of the same Qwen2-VL config, bfloat16, SDPA attention.

  generate: the benchmark prompt (~400 tokens around one 476x644 image, random pixels), G samples of N new
            tokens (temperature 1, no top-k/top-p, min_new_tokens = N so no sample stops early); timed end to
            end and with 1 new token (prefill), decode = the difference;
  grpo:     one GRPO step at the native step's shapes: a reference forward of the G rows (no grad), then per
            micro-batch the policy forward + backward (per-token log-probs of the L completion tokens via
            logits_to_keep, the clip-free GRPO loss with the k3 KL at beta), one AdamW step (lr 1e-6). Same
            completion tokens and advantages as bench/suites/grpo.ts. The parameters are bfloat16 (no float32
            master copy: the native trainer keeps one, so the baseline does less optimizer work).

Inputs (from bench/gpu/hf-inputs.mjs): DIR/config.json, DIR/work.json. Writes one JSON object to --out.
--check validates the inputs and writes the result's shape without importing torch (the dry run).
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time


def validate(work, cfg):
    need = {'inputIds': list, 'imageGridThw': list, 'grpo': dict, 'decode': dict}
    for k, t in need.items():
        if not isinstance(work.get(k), t):
            raise SystemExit(f'hf_baseline: work.json: expected {k} to be a {t.__name__}, found {work.get(k)!r:.80}')
    for k in ('G', 'L', 'micro', 'beta', 'flops'):
        if not isinstance(work['grpo'].get(k), (int, float)):
            raise SystemExit(f'hf_baseline: work.json: expected grpo.{k} to be a number, found {work["grpo"].get(k)!r}')
    if not isinstance(work.get('padTokenId'), int):
        raise SystemExit(f'hf_baseline: work.json: expected padTokenId to be an integer, found {work.get("padTokenId")!r}')
    for k in ('G', 'N'):
        if not isinstance(work['decode'].get(k), int):
            raise SystemExit(f'hf_baseline: work.json: expected decode.{k} to be an integer, found {work["decode"].get(k)!r}')
    if cfg.get('model_type') != 'qwen2_vl':
        raise SystemExit(f'hf_baseline: config.json: expected model_type qwen2_vl, found {cfg.get("model_type")!r}')
    t, h, w = work['imageGridThw']
    pads = sum(1 for i in work['inputIds'] if i == cfg['image_token_id'])
    if pads * 4 != t * h * w:
        raise SystemExit(f'hf_baseline: the prompt has {pads} image tokens but the grid {t}x{h}x{w} needs {t * h * w // 4}')


def timed(fn, reps, sync):
    fn()  # warm-up
    sync()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return {'median': statistics.median(out), 'best': min(out), 'reps': reps}


def build_model(torch, transformers, config, dev):
    cls = getattr(transformers, 'AutoModelForImageTextToText', None)
    with torch.device(dev):
        for kw in ({'dtype': torch.bfloat16}, {'torch_dtype': torch.bfloat16}):
            try:
                if cls is not None:
                    return cls.from_config(config, attn_implementation='sdpa', **kw).to(dev)
                return transformers.Qwen2VLForConditionalGeneration._from_config(config, attn_implementation='sdpa', **kw).to(dev)
            except TypeError:
                continue
    raise SystemExit('hf_baseline: could not build Qwen2-VL from the config with this transformers')


def run(args, work, result):
    import torch
    import transformers
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    result['versions'] = {'torch': torch.__version__, 'transformers': transformers.__version__, 'cuda': torch.version.cuda}
    result['device'] = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else platform.processor() or 'cpu'
    torch.manual_seed(0)
    config = transformers.AutoConfig.from_pretrained(args.inputs)
    t0 = time.perf_counter()
    model = build_model(torch, transformers, config, dev)
    sync()
    result['loadSeconds'] = time.perf_counter() - t0
    result['parameters'] = sum(p.numel() for p in model.parameters())

    # the bfloat16 matmul peak torch reaches here (n = 8192 as the native limits suite on a GPU)
    n = 8192 if dev.type == 'cuda' else 512
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    mm = timed(lambda: a @ a, 5, sync)
    result['torchMatmulFlops'] = 2 * n ** 3 / mm['best']
    del a

    ids = torch.tensor([work['inputIds']], device=dev)
    grid = torch.tensor([work['imageGridThw']], device=dev)
    patches = math.prod(work['imageGridThw'])
    px = (torch.rand(patches, 1176, device=dev) * 4 - 2).to(torch.bfloat16)
    ones = torch.ones_like(ids)
    # transformers >= 5 wants the processor's per-token modality ids (1 = image) for M-RoPE; 4.x has no such input
    import inspect
    mm = 'mm_token_type_ids' in inspect.signature(model.forward).parameters
    image_id = config.image_token_id
    extra = (lambda x: {'mm_token_type_ids': (x == image_id).to(torch.int64)}) if mm else (lambda x: {})

    # generate: G samples of N new tokens
    G, N = work['decode']['G'], work['decode']['N']
    model.eval()

    def gen(new):
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=ones, pixel_values=px, image_grid_thw=grid, **extra(ids), do_sample=True,
                                 temperature=1.0, top_k=0, top_p=1.0, num_return_sequences=G, max_new_tokens=new,
                                 min_new_tokens=new, pad_token_id=work['padTokenId'])
        assert out.shape == (G, ids.shape[1] + new), f'generate returned {tuple(out.shape)}'
    full = timed(lambda: gen(N), args.reps, sync)
    prefill = timed(lambda: gen(1), args.reps, sync)
    decode_s = max(full['median'] - prefill['median'], 1e-9)
    result['generate'] = {
        'G': G, 'newTokens': N, 'seconds': full['median'], 'prefillSeconds': prefill['median'], 'decodeSeconds': decode_s,
        'samplesPerSecond': G / full['median'], 'decodeTokensPerSecond': G * (N - 1) / decode_s,
    }

    # one GRPO step
    g = work['grpo']
    G, L, micro, beta = g['G'], g['L'], g['micro'], g['beta']
    V = config.get_text_config().vocab_size if hasattr(config, 'get_text_config') else config.vocab_size
    comp = torch.tensor([[(r * 7919 + j * 104729) % V for j in range(L)] for r in range(G)], device=dev)
    adv = torch.tensor([(1 if r % 2 else -1) * (0.5 + r / G) for r in range(G)], device=dev, dtype=torch.float32)
    seq = torch.cat([ids.expand(G, -1), comp], 1)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def logp(lo, hi):
        n_rows = hi - lo
        out = model(input_ids=seq[lo:hi], attention_mask=torch.ones_like(seq[lo:hi]), pixel_values=px.repeat(n_rows, 1),
                    image_grid_thw=grid.repeat(n_rows, 1), **extra(seq[lo:hi]), logits_to_keep=L + 1, use_cache=False)
        logits = out.logits[:, :-1].float()
        return torch.log_softmax(logits, -1).gather(-1, comp[lo:hi].unsqueeze(-1)).squeeze(-1)

    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            ref = logp(0, G)
        total = 0.0
        for lo in range(0, G, micro):
            hi = min(G, lo + micro)
            lp = logp(lo, hi)
            r = ref[lo:hi]
            kl = torch.exp(r - lp) - (r - lp) - 1
            ratio = torch.exp(lp - lp.detach())
            loss = ((-(ratio * adv[lo:hi, None]) + beta * kl).mean(-1)).sum() / G
            loss.backward()
            total += loss.item()
        opt.step()
        losses.append(total)
    st = timed(step, args.reps, sync)
    if not all(math.isfinite(x) for x in losses):
        raise SystemExit(f'hf_baseline: non-finite GRPO loss {losses}')
    result['grpo'] = {
        'G': G, 'L': L, 'micro': micro, 'beta': beta, 'stepSeconds': st['median'], 'samplesPerSecond': G / st['median'],
        'analyticFlops': g['flops'], 'flopsPerSecond': g['flops'] / st['median'],
        'fractionOfTorchMatmul': g['flops'] / st['median'] / result['torchMatmulFlops'],
        'peakMemoryGiB': torch.cuda.max_memory_allocated(dev) / 2 ** 30 if dev.type == 'cuda' else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--inputs', required=True, help='folder with config.json and work.json (bench/gpu/hf-inputs.mjs)')
    ap.add_argument('--out', required=True, help='result JSON file')
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--check', action='store_true', help='validate the inputs, write the result shape, import no torch')
    args = ap.parse_args()
    with open(os.path.join(args.inputs, 'work.json')) as f:
        work = json.load(f)
    with open(os.path.join(args.inputs, 'config.json')) as f:
        cfg = json.load(f)
    validate(work, cfg)
    result = {'baseline': 'transformers', 'size': work['size'], 'dryRun': args.check, 'python': sys.version.split()[0],
              'versions': None, 'device': None, 'generate': None, 'grpo': None}
    if not args.check:
        run(args, work, result)
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, args.out)
    print(f'hf_baseline: wrote {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
