"""The ``nftreg`` command line: the app, its global options, and one registration line per
command or group (each lives in its own module of this package).

Exit codes: 0 success; 1 a user error (bad input, bad file, refused setting), printed as one
line; 2 a part nftreg needs (chain RPC, Kubo, database) cannot be reached, printed as one line
naming what, where and what to do; 3 the command finished but rejected some input lines
(listed on stderr, or in the JSON output); 4 a verification found invalid items.
"""

from __future__ import annotations

import sys

import typer

from nftreg.cli.assets import assets_cmd, lookup_cmd
from nftreg.cli.batch import batch_app, claim_cmd
from nftreg.cli.cid import cid_cmd
from nftreg.cli.common import EXIT_UNAVAILABLE, EXIT_USER_ERROR, CliState
from nftreg.cli.demo import demo_cmd
from nftreg.cli.devnet import devnet_app, ipfs_app
from nftreg.cli.log import log_app
from nftreg.cli.mint import mint_cmd
from nftreg.cli.serve import reindex_cmd, serve_cmd
from nftreg.cli.verify import verify_app
from nftreg.errors import NftregError

__all__ = ["app", "main"]

app = typer.Typer(
    name="nftreg",
    help="NFT asset-ownership registry: Merkle batches, signatures, IPFS and ERC-721 minting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from nftreg.version import version_text

        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="package version, the Rust core's CPU backends, contract version"),
    remote: str | None = typer.Option(None, "--remote", envvar="NFTREG_REMOTE", metavar="URL",
                                      help="run mint, lookup, assets, batch build/proof and verify through a "
                                           "running registry's REST API (nftreg.Client)"),
) -> None:
    """NFT asset-ownership registry: Merkle batches, signatures, IPFS and ERC-721 minting."""
    # Global options land in ctx.obj (common.CliState); commands read them with common.state(ctx).
    ctx.obj = CliState(remote=remote)


app.add_typer(batch_app, name="batch")
app.add_typer(verify_app, name="verify")
app.add_typer(devnet_app, name="devnet")
app.add_typer(ipfs_app, name="ipfs")
app.add_typer(log_app, name="log")
app.command("claim")(claim_cmd)
app.command("cid")(cid_cmd)
app.command("demo")(demo_cmd)
app.command("mint")(mint_cmd)
app.command("lookup")(lookup_cmd)
app.command("assets")(assets_cmd)
app.command("serve")(serve_cmd)
app.command("reindex")(reindex_cmd)


def main() -> None:
    import warnings

    from nftreg.errors import DependencyUnavailableError, IpfsUnavailableError

    # ipfshttpclient passes urllib3 an argument urllib3 2.x deprecates: not the user's concern
    warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning)
    try:
        app()
    except (DependencyUnavailableError, IpfsUnavailableError) as e:
        typer.echo(f"nftreg: error: {e}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except NftregError as e:
        typer.echo(f"nftreg: error: {e}", err=True)
        sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
