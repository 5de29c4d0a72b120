"""Draw the learned TST policy over training from a work dir, as a PNG.

    python tools/plot_policy.py work_dirs/tst_fashion-mnist [--out policy.png]

Reads ``tst_policy.jsonl`` (written by ``tst_mm.TSTPolicyLoggerHook``): one curve per op for
the magnitude (top) and the probability (bottom), over search iterations.
"""
import argparse
import json
import os.path as osp
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from tst_mm.engine import POLICY_HISTORY_FILE  # noqa: E402


def load_history(work_dir: str) -> list:
    """Read the policy records of a work dir, oldest first."""
    path = osp.join(work_dir, POLICY_HISTORY_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: train with custom_hooks=[dict(type='
                                "'tst_mm.TSTPolicyLoggerHook')] to record the policy")
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    if not records:
        raise ValueError(f'{path} is empty')
    return records


def plot_policy(records: list, out: str, title: str = '') -> None:
    """Plot magnitudes and probabilities per op against the search iteration."""
    steps = [record['search_iter'] for record in records]
    ops = list(records[0]['policy'])
    fig, (ax_mag, ax_prob) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    cmap = plt.get_cmap('tab20')
    for i, op in enumerate(ops):
        colour = cmap(i % 20)
        probs = [record['policy'][op]['probability'] for record in records]
        ax_prob.plot(steps, probs, label=op, color=colour)
        if records[0]['policy'][op]['magnitude'] is not None:
            mags = [record['policy'][op]['magnitude'] for record in records]
            ax_mag.plot(steps, mags, label=op, color=colour)
    ax_mag.set_ylabel('magnitude')
    ax_prob.set_ylabel('probability')
    ax_prob.set_xlabel('search iteration')
    for ax in (ax_mag, ax_prob):
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    ax_prob.legend(loc='center left', bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax_mag.legend(loc='center left', bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title or 'TST learned augmentation policy')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description='Plot the learned TST policy of a run')
    parser.add_argument('work_dir', help='work dir of a TST run')
    parser.add_argument('--out', help='PNG path (default: <work_dir>/tst_policy.png)')
    args = parser.parse_args(argv)
    out = args.out or osp.join(args.work_dir, 'tst_policy.png')
    try:
        records = load_history(args.work_dir)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
    plot_policy(records, out, title=f'TST policy: {osp.basename(osp.normpath(args.work_dir))}')
    print(f'wrote {out} ({len(records)} records)')


if __name__ == '__main__':
    main()
