"""Compare ConvNeXtV2 backbone forward speed and memory with timm's, same weights.

Each model runs in its own subprocess so that peak memory (the peak resident
size during the timed forwards minus the resident size before them) is
measured per model. Timed
rounds alternate between the two models so that drift affects both.

Example:
    python tools/benchmark.py --arch tiny --size 224 --batch 8 --write BENCHMARKS.md
"""
import argparse
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SECTION_START = '<!-- backbone:start -->'
SECTION_END = '<!-- backbone:end -->'


def resident_bytes() -> int:
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def reset_peak_resident() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux 4.0 and newer)."""
    with open('/proc/self/clear_refs', 'w') as clear_refs:
        clear_refs.write('5')


def peak_resident_bytes() -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('VmHWM missing from /proc/self/status')


def build_models(arch: str):
    """Return (ours, timm) with identical weights, both in eval mode."""
    import timm
    import torch
    from cnx2_backbone import ConvNeXtV2, load_pretrained

    full_peer = timm.create_model(f'convnextv2_{arch}', pretrained=False).eval()
    ours = ConvNeXtV2(arch=arch).eval()
    load_pretrained(ours, full_peer.state_dict())

    def peer(images):
        # The four stage outputs, as a features_only model returns them.
        return full_peer.forward_intermediates(images, indices=4, intermediates_only=True)

    with torch.inference_mode():
        x = torch.randn(1, 3, 64, 64)
        ours_raw = ours.forward_stages(x)
        peer_raw = peer(x)
    for a, b in zip(ours_raw, peer_raw):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    return ours, peer


def worker(args: argparse.Namespace) -> None:
    """Time one model in this process and print a JSON line."""
    import torch
    torch.set_num_threads(args.threads)
    ours, peer = build_models(args.arch)
    if args.worker == 'ours':
        model = ours
        del peer
    else:
        model = peer
        del ours
    gc.collect()
    x = torch.randn(args.batch, 3, args.size, args.size)
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x)
        rss_before = resident_bytes()
        reset_peak_resident()
        times = []
        for _ in range(args.iters):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    peak = peak_resident_bytes()
    print(json.dumps(dict(times=times, peak_extra_bytes=max(peak - rss_before, 0))))


def run_worker(model_name: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, '--worker', model_name, '--arch', args.arch,
               '--size', str(args.size), '--batch', str(args.batch),
               '--threads', str(args.threads), '--iters', str(args.iters),
               '--warmup', str(args.warmup)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def cpu_name() -> str:
    try:
        text = subprocess.run(['lscpu'], capture_output=True, text=True, check=True).stdout
        match = re.search(r'Model name:\s*(.+)', text)
        if match:
            return match.group(1).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or 'unknown CPU'


def write_section(path: Path, text: str) -> None:
    body = f'{SECTION_START}\n{text}\n{SECTION_END}'
    if path.exists():
        content = path.read_text()
        if SECTION_START in content and SECTION_END in content:
            head, rest = content.split(SECTION_START, 1)
            _, tail = rest.split(SECTION_END, 1)
            content = head + body + tail
        else:
            content = content.rstrip('\n') + '\n\n' + body + '\n'
    else:
        content = '# Benchmarks\n\n' + body + '\n'
    path.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='tiny', help='ConvNeXt V2 size (default: tiny)')
    parser.add_argument('--size', type=int, default=224, help='input height and width in pixels')
    parser.add_argument('--batch', type=int, default=8, help='images per forward pass')
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='torch intra-op threads for both models (default: all cores)')
    parser.add_argument('--iters', type=int, default=10, help='timed forwards per round')
    parser.add_argument('--warmup', type=int, default=3, help='untimed forwards per round')
    parser.add_argument('--rounds', type=int, default=3,
                        help='alternating rounds of each model, each in a fresh process')
    parser.add_argument('--write', metavar='MD', help='write the result section into this file')
    parser.add_argument('--worker', choices=('ours', 'timm'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    import timm
    import torch
    load_before = os.getloadavg()[0]
    results = {'ours': [], 'timm': []}
    peaks = {'ours': [], 'timm': []}
    for round_index in range(args.rounds):
        for model_name in ('ours', 'timm') if round_index % 2 == 0 else ('timm', 'ours'):
            measured = run_worker(model_name, args)
            results[model_name].extend(measured['times'])
            peaks[model_name].append(measured['peak_extra_bytes'])
            print(f'round {round_index + 1}/{args.rounds} {model_name}: '
                  f'median {statistics.median(measured["times"]) * 1000:.1f} ms/batch', flush=True)

    speed = {k: args.batch / statistics.median(v) for k, v in results.items()}
    peak_mib = {k: max(v) / 2**20 for k, v in peaks.items()}
    ratio = speed['ours'] / speed['timm']
    command = ('python tools/benchmark.py ' + ' '.join(sys.argv[1:])).strip()
    lines = [
        '## Backbone forward: ConvNeXtV2 against timm',
        '',
        f'Command: `{command}`',
        '',
        f'Machine: {cpu_name()}, {os.cpu_count()} cores, {args.threads} torch threads, '
        f'torch {torch.__version__}, timm {timm.__version__}, Python {platform.python_version()}; '
        f'1-minute load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after '
        'the run (other jobs on the machine slow both models; alternating rounds share it out).',
        f'Setting: convnextv2_{args.arch}, {args.batch}x3x{args.size}x{args.size}, float32, '
        f'inference mode, identical weights (checked equal before timing), '
        f'{args.rounds} alternating rounds of {args.warmup} warm-up + {args.iters} timed '
        'forwards, each round in a fresh process. timm runs `forward_intermediates` for the '
        'four stage outputs; ours also applies its four output LayerNorms.',
        '',
        '| model | images/s (median) | peak extra memory (MiB) |',
        '|---|---|---|',
        f'| cnx2_backbone ConvNeXtV2 | {speed["ours"]:.1f} | {peak_mib["ours"]:.0f} |',
        f'| timm convnextv2_{args.arch} | {speed["timm"]:.1f} | {peak_mib["timm"]:.0f} |',
        '',
        f'Speed ratio ours / timm: **{ratio:.2f}x**; memory ratio ours / timm: '
        f'{peak_mib["ours"] / max(peak_mib["timm"], 1e-9):.2f}x. Peak extra memory is '
        'the peak resident size (VmHWM, reset before timing) minus the resident size '
        'before the timed forwards.',
    ]
    text = '\n'.join(lines)
    print(text)
    if args.write:
        write_section(Path(args.write), text)


if __name__ == '__main__':
    main()
