"""``serve``/``server`` and ``init``: run the TokenReview webhook, and prepare its TLS files and kubeconfig.

Both take aws-iam-authenticator's flags (``-c/--config``, ``-i/--cluster-id``,
``--address``, ``--port``, ``--state-dir``, ``--partition``, ``--hostname``;
``server`` also ``--backend-mode``, ``--generate-kubeconfig``,
``--kubeconfig-pregenerated``, ``--kubeconfig``, ``--master``,
``--ec2-describeInstances-qps``, ``--ec2-describeInstances-burst``; the global
``-l``, ``-v`` and ``--feature-gates`` come from `_global_flags`) plus ours; a
flag beats the environment, which beats the config file, which beats the
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


def _go_bool(value: str) -> bool:
    """pflag's boolean values (``--flag``, ``--flag=true``, ``--flag=false``...)."""
    text = value.strip().lower()
    if text in ("1", "t", "true"):
        return True
    if text in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not true or false")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``serve``/``server`` or ``init`` (chosen by the parser's name)."""
    _common(parser)
    parser.add_argument(
        "--generate-kubeconfig",
        dest="generate_kubeconfig",
        type=Path,
        help="write the webhook kubeconfig here (atomically, only when it changes); "
        "default: kubeconfig.yaml in the state directory",
    )
    if parser.prog.endswith("init"):
        parser.add_argument(
            "--cert-lifetime",
            dest="cert_lifetime",
            help="lifetime of a new serving certificate, e.g. 365d (default 365d; the CA: 10 years)",
        )
        parser.add_argument(
            "--renew",
            action="store_true",
            help="issue a new serving certificate and key under the kept CA (ca-key.pem), "
            "before the current one expires",
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
        action="append",
        help="mapping backends in order, comma-separated or repeated "
        "(MountedFile, DynamicFile, EKSConfigMap, CRD)",
    )
    parser.add_argument(
        "--kubeconfig-pregenerated",
        dest="kubeconfig_pregenerated",
        nargs="?",
        const=True,
        type=_go_bool,
        metavar="BOOL",
        help="write no webhook kubeconfig (init made it)",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig of the Kubernetes API client (EKSConfigMap/CRD backends)",
    )
    parser.add_argument("--master", help="Kubernetes API server URL, overriding the kubeconfig's")
    parser.add_argument(
        "--health-port",
        dest="health_port",
        type=int,
        help="plain-HTTP health port answering ok on any path (default 21363; 0: off)",
    )
    parser.add_argument(
        "--health-address",
        dest="health_address",
        help="address of the health port (default 0.0.0.0, every interface)",
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
        "--log-level",
        dest="log_level",
        choices=("debug", "info", "warning", "error"),
        help="log level (overrides -v/--log-verbosity)",
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
    overrides = {name: getattr(args, name, None) for name in names}
    overrides["log_format"] = args.log_format
    overrides["feature_gates"] = args.feature_gates
    if getattr(args, "log_level", None) is None:
        overrides["log_level"] = args.log_verbosity  # logrus names; the config maps them
    modes = overrides.get("backend_mode")
    if isinstance(modes, list):  # --backend-mode repeated, as pflag's string slices allow
        overrides["backend_mode"] = ",".join(str(mode) for mode in modes)
    return overrides


def _config_path(args: argparse.Namespace) -> Path | None:
    # -c before the subcommand arrives as the global flag's string
    return None if args.config is None else Path(args.config)


#: upstream's defaults, which ``init`` uses with ``--feature-gates=ConfiguredInitDirectories=true``.
UPSTREAM_STATE_DIR = Path("/var/aws-iam-authenticator")
UPSTREAM_KUBECONFIG = Path("/etc/kubernetes/aws-iam-authenticator/kubeconfig.yaml")


def _run_init(args: argparse.Namespace) -> int:
    from k8s_aws_auth.server import require_extra

    require_extra()
    from k8s_aws_auth.server import ensure_certificates, load_server_config, webhook_kubeconfig
    from k8s_aws_auth.server.internal import KUBECONFIG_FILE, renew_certificate, write_if_changed

    config = load_server_config(
        _config_path(args),
        _overrides(args, (*_COMMON_SETTINGS, "cert_lifetime", "generate_kubeconfig")),
    )
    state_dir, kubeconfig = config.state_dir, config.generate_kubeconfig
    if config.feature_gates.get("ConfiguredInitDirectories"):
        # upstream: the configured paths, defaulting to the server's (not the current directory)
        if state_dir == Path():
            state_dir = UPSTREAM_STATE_DIR
        kubeconfig = kubeconfig or UPSTREAM_KUBECONFIG
    kubeconfig = kubeconfig or state_dir / KUBECONFIG_FILE
    make = renew_certificate if args.renew else ensure_certificates
    files = make(
        state_dir,
        hostname=config.hostname,
        address=config.address,
        lifetime=timedelta(seconds=config.cert_lifetime),
        now=datetime.now(timezone.utc),
    )
    text = webhook_kubeconfig(
        hostname=config.hostname,
        port=config.port,
        ca_pem=files.ca_pem,
        client_certificate=args.client_certificate,
        client_key=args.client_key,
    )
    changed = write_if_changed(kubeconfig, text.encode("utf-8"), 0o644)
    verb = "reused" if files.reused else "renewed" if args.renew else "wrote"
    print(f"{verb} {files.cert_path} and {files.key_path} (valid until {files.not_after:%Y-%m-%d})")
    print(f"{'wrote' if changed else 'unchanged:'} {kubeconfig}")
    if args.renew:
        print("the CA is unchanged: a running server loads the new pair by itself")
        return 0
    print(
        "give kube-apiserver: --authentication-token-webhook-config-file="
        f"<copy of {kubeconfig}>; serve with: k8s-aws-auth serve --state-dir {state_dir}"
    )
    return 0


def _leave_http2_unloaded() -> None:
    """Keep h2 (and hpack, hyperframe) out of this serving process: about 1.8 MiB resident.

    Nothing the server runs speaks HTTP/2: the STS client, the EC2 lookup and
    lightkube's client are all httpx clients without ``http2=True``. h2 is
    installed only because lightkube requires httpx's ``http2`` extra, and
    httpcore imports it at start whenever it is importable. A ``None`` in
    `sys.modules` makes ``import h2`` fail, which httpcore takes as "not
    installed". Done here, in the command that owns its process, before
    anything imports httpcore; never in the library (an application importing
    ``k8s_aws_auth.server`` may want HTTP/2 for its own clients). The spawned
    workers of ``--workers N`` import the server before this could run, and
    still load it.
    """
    sys.modules.setdefault("h2", None)  # type: ignore[arg-type]


def _run_serve(args: argparse.Namespace) -> int:
    _leave_http2_unloaded()
    from k8s_aws_auth.server import require_extra

    require_extra()
    from k8s_aws_auth.server import load_server_config
    from k8s_aws_auth.server.internal import run_command

    config = load_server_config(
        _config_path(args),
        _overrides(
            args,
            (
                *_COMMON_SETTINGS,
                "backend_mode",
                "generate_kubeconfig",
                "kubeconfig_pregenerated",
                "kubeconfig",
                "master",
                "health_port",
                "health_address",
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
