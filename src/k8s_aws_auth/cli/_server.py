"""``serve`` and ``init``: run the TokenReview webhook, and prepare its TLS files and kubeconfig.

Both take aws-iam-authenticator's flags (``-c/--config``, ``-i/--cluster-id``,
``--address``, ``--port``, ``--state-dir``, ``--partition``, ``--backend-mode``,
``--hostname``, ``--ec2-describeInstances-qps``, ``--ec2-describeInstances-burst``)
plus ours; a flag beats the config file, which beats the
default. Everything here needs the ``server`` extra.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["configure", "run"]

#: The ServerConfig settings of the flags `_common()` adds.
_COMMON_SETTINGS = ("cluster_id", "partition", "state_dir", "address", "port", "hostname")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="YAML config file (upstream keys + ours)")
    parser.add_argument(
        "-i", "--cluster-id", dest="cluster_id", help="cluster id tokens must be signed for"
    )
    parser.add_argument("--partition", help="AWS partition (aws, aws-cn, aws-us-gov, ...)")
    parser.add_argument(
        "--state-dir",
        dest="state_dir",
        type=Path,
        help="directory of cert.pem, key.pem, ca.pem and kubeconfig.yaml (default: .)",
    )
    parser.add_argument("--address", help="IP address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TLS port (default 21362)")
    parser.add_argument(
        "--hostname", help="name kube-apiserver uses to reach the webhook (default localhost)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``serve`` or ``init`` (chosen by the parser's name)."""
    _common(parser)
    if parser.prog.endswith("init"):
        parser.add_argument(
            "--cert-lifetime",
            dest="cert_lifetime",
            help="lifetime of a new certificate, e.g. 365d (default 365d)",
        )
        parser.add_argument(
            "--client-certificate",
            dest="client_certificate",
            help="path (on the apiserver host) of its client certificate, written into the kubeconfig",
        )
        parser.add_argument(
            "--client-key",
            dest="client_key",
            help="path (on the apiserver host) of its client key, written into the kubeconfig",
        )
        return
    parser.add_argument(
        "--backend-mode",
        dest="backend_mode",
        help="mapping backends in order, comma-separated (MountedFile, DynamicFile, EKSConfigMap)",
    )
    parser.add_argument(
        "--sts-endpoint-url",
        dest="sts_endpoint_url",
        help="send STS calls to this URL (VPC endpoint, emulator)",
    )
    parser.add_argument(
        "--client-ca-file",
        dest="client_ca_file",
        type=Path,
        help="require client certificates signed by this CA (kube-apiserver's)",
    )
    parser.add_argument(
        "--cache-ttl", dest="cache_ttl", help="positive cache TTL, e.g. 60s; 0 = off"
    )
    parser.add_argument("--cache-size", dest="cache_size", type=int, help="positive cache entries")
    parser.add_argument(
        "--max-connections",
        dest="max_connections",
        type=int,
        help="client connections served at once (default 1024, or half the open-file limit)",
    )
    parser.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        help="HTTP parser (default auto: httptools when installed, else h11)",
    )
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        help="event loop (default auto: uvloop when installed, else asyncio)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the port, each with its own cache (default 1)",
    )
    parser.add_argument(
        "--log-level", dest="log_level", choices=("debug", "info", "warning", "error")
    )
    ec2 = parser.add_argument_group("{{EC2PrivateDNSName}} lookups (ec2:DescribeInstances)")
    ec2.add_argument(
        "--region", help="AWS region of the instances (default: AWS_REGION or the profile's)"
    )
    ec2.add_argument(
        "--ec2-describeInstances-qps",
        "--ec2-describe-instances-qps",
        dest="ec2_qps",
        type=int,
        help="DescribeInstances calls per second (default 15)",
    )
    ec2.add_argument(
        "--ec2-describeInstances-burst",
        "--ec2-describe-instances-burst",
        dest="ec2_burst",
        type=int,
        help="DescribeInstances calls allowed at once (default 5)",
    )
    ec2.add_argument(
        "--ec2-endpoint-url",
        dest="ec2_endpoint_url",
        help="send DescribeInstances here (VPC endpoint); default AWS_ENDPOINT_URL_EC2",
    )


def _overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in names}


def _run_init(args: argparse.Namespace) -> int:
    from k8s_aws_auth.server import require_extra

    require_extra()
    from k8s_aws_auth.server import ensure_certificates, load_server_config, webhook_kubeconfig
    from k8s_aws_auth.server.internal import KUBECONFIG_FILE, write_file

    config = load_server_config(args.config, _overrides(args, (*_COMMON_SETTINGS, "cert_lifetime")))
    files = ensure_certificates(
        config.state_dir,
        hostname=config.hostname,
        address=config.address,
        lifetime=timedelta(seconds=config.cert_lifetime),
        now=datetime.now(timezone.utc),
    )
    kubeconfig = config.state_dir / KUBECONFIG_FILE
    text = webhook_kubeconfig(
        hostname=config.hostname,
        port=config.port,
        ca_pem=files.ca_pem,
        client_certificate=args.client_certificate,
        client_key=args.client_key,
    )
    write_file(kubeconfig, text.encode("utf-8"), 0o644)
    verb = "reused" if files.reused else "wrote"
    print(f"{verb} {files.cert_path} and {files.key_path} (valid until {files.not_after:%Y-%m-%d})")
    print(f"wrote {kubeconfig}")
    print(
        "give kube-apiserver: --authentication-token-webhook-config-file="
        f"<copy of {kubeconfig}>; serve with: k8s-aws-auth serve --state-dir {config.state_dir}"
    )
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    from k8s_aws_auth.server import require_extra

    require_extra()
    from k8s_aws_auth.server import load_server_config
    from k8s_aws_auth.server.internal import run_command

    config = load_server_config(
        args.config,
        _overrides(
            args,
            (
                *_COMMON_SETTINGS,
                "backend_mode",
                "sts_endpoint_url",
                "client_ca_file",
                "cache_ttl",
                "cache_size",
                "max_connections",
                "http",
                "loop",
                "workers",
                "log_level",
                "region",
                "ec2_qps",
                "ec2_burst",
                "ec2_endpoint_url",
            ),
        ),
    )
    return run_command(config)


def run(args: argparse.Namespace) -> int:
    """Run ``serve`` or ``init``; the exit code."""
    try:
        if args.command == "init":
            return _run_init(args)
        return _run_serve(args)
    except ImportError as exc:
        print(f"k8s-aws-auth {args.command}: {exc}", file=sys.stderr)
        return 1
