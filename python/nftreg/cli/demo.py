"""``nftreg demo``: the whole story on embedded defaults."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nftreg.cli.common import warn


def demo_cmd(
    data_dir: Path = typer.Option(Path(".nftreg/demo"), "--data-dir", envvar="NFTREG_DATA_DIR", help="where chain state and content live"),
    claims: int = typer.Option(100_000, min=1),
    signatures: int = typer.Option(10_000, min=1),
    chain: str | None = typer.Option(None, help="tester://, anvil:// or http(s):// (default: anvil://, or tester:// with a warning without anvil)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run the whole story on embedded defaults: mint, batch, claim, verify."""
    from nftreg.demo import run_demo
    from nftreg.startup import chain_url_or_fallback, check_rpc

    url = chain_url_or_fallback(chain, warn)
    if url.startswith(("http://", "https://")):
        check_rpc(url)
    report = run_demo(data_dir, claims=claims, signatures=signatures, chain_url=url,
                      log=(lambda _m: None) if as_json else typer.echo)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(f"done in {report['total_seconds']:.1f} s; tokens {[m['token_id'] for m in report['minted']]}, "
                   f"claimed token {report['claimed']['token_id']}; state in {report['data_dir']}")
