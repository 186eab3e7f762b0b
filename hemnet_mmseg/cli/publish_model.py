"""Prepare a checkpoint for release, as mmseg's
``tools/misc/publish_model.py``: drop the optimizer state, save, and put
the first 8 hex digits of the file's SHA-256 into its name. The checkpoint
is read with the plugin's weights-only loader (mmseg's copy calls
``torch.load`` itself and fails on MMEngine checkpoints under torch >= 2.6)
and the config text stored in it is dropped (never executed, never
published).

Usage::

    python tools/publish_model.py IN_FILE OUT_FILE
"""
import argparse
import hashlib
import os
import os.path as osp
from typing import Optional

import torch

from hemnet_mmseg.checkpoint import (check_checkpoint_file,
                                     load_from_local_weights_only)
from hemnet_mmseg.utils import UserError
from .outputs import check_output_file
from .process import run_main


def main(argv: Optional[list] = None) -> str:
    parser = argparse.ArgumentParser(
        description='Prepare a checkpoint for release')
    parser.add_argument('in_file', help='the checkpoint')
    parser.add_argument(
        'out_file', help='where to write it (the hash joins the name)')
    args = parser.parse_args(argv)
    if not args.out_file.endswith('.pth'):
        raise UserError(f'out_file {args.out_file}: name it *.pth')
    check_output_file(args.out_file, [args.in_file], overwrite=False)
    check_checkpoint_file(args.in_file)
    checkpoint = load_from_local_weights_only(args.in_file, 'cpu')
    for key in ('optimizer', 'param_schedulers', 'message_hub'):
        checkpoint.pop(key, None)
    torch.save(checkpoint, args.out_file)
    with open(args.out_file, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    final = f'{args.out_file[:-len(".pth")]}-{digest[:8]}.pth'
    if osp.exists(final):
        os.remove(args.out_file)
        raise UserError(f'{final} exists already')
    os.replace(args.out_file, final)
    print(f'published {final}')
    return final


def cli(argv: Optional[list] = None) -> None:
    run_main('publish_model', main, argv)


if __name__ == '__main__':
    cli()
